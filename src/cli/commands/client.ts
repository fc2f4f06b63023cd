import { readFileSync } from 'node:fs'
import { type Command, Option } from 'commander'
import { BrokerClient, BrokerError } from '../../client/index.js'
import { DEFAULT_TIMEOUT_SECONDS, oneLine } from '../admin_channel.js'
import { CliExit, collect, duration } from '../common.js'

export interface ConnectOptions {
  /** One broker, or several replicas (the option repeated, or comma-separated). */
  address: string | string[]
  ca: string
  cert?: string
  key?: string
  tokenFile?: string
  serverName?: string
  /** Seconds a call may take, retries included. */
  timeout?: number
}

export function withConnectOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--address <host:port>',
        'broker gRPC address; repeat it (or separate with commas) for several replicas, or give dns:///name:port',
      )
        .default('localhost:7443')
        // repeatable: the first value given replaces the default, later ones add replicas
        .argParser((value: string, previous: string | string[]) => [
          ...(Array.isArray(previous) ? previous : []),
          value,
        ])
        .env('KEYBROKER_ADDRESS'),
    )
    .addOption(
      new Option('--ca <file>', 'CA bundle that signed the broker certificate')
        .env('KEYBROKER_CA')
        .makeOptionMandatory(),
    )
    .addOption(new Option('--cert <file>', 'client certificate (mTLS identity)').env('KEYBROKER_CERT'))
    .addOption(new Option('--key <file>', 'client private key').env('KEYBROKER_KEY'))
    .addOption(
      new Option('--token-file <file>', 'workload JWT sent as a bearer token').env('KEYBROKER_TOKEN_FILE'),
    )
    .addOption(
      new Option(
        '--server-name <name>',
        "name to verify in the broker's certificate (when --address is an IP or another name)",
      ).env('KEYBROKER_SERVER_NAME'),
    )
    .addOption(
      new Option('--timeout <duration>', 'how long to wait for the broker to answer, retries included')
        .argParser(duration)
        .default(DEFAULT_TIMEOUT_SECONDS, `${DEFAULT_TIMEOUT_SECONDS}s`),
    )
}

/** The SDK client for one CLI command; option and file problems end the command with their message. */
export function connect(opts: ConnectOptions): BrokerClient {
  if (Boolean(opts.cert) !== Boolean(opts.key)) throw new CliExit('--cert and --key go together')
  try {
    return new BrokerClient({
      address: opts.address,
      tls: { caFile: opts.ca, certFile: opts.cert, keyFile: opts.key, serverName: opts.serverName },
      workloadTokenFile: opts.tokenFile,
      deadlineMs: (opts.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
    })
  } catch (err) {
    throw err instanceof BrokerError ? new CliExit(`keybroker: ${err.message}`) : err
  }
}

/** Run one SDK call, turning a BrokerError into `keybroker: STATUS: message` and always closing the client. */
async function withClient<T>(opts: ConnectOptions, run: (client: BrokerClient) => Promise<T>): Promise<T> {
  const client = connect(opts)
  try {
    return await run(client)
  } catch (err) {
    if (err instanceof BrokerError) throw new CliExit(`keybroker: ${err.grpcStatus}: ${oneLine(err.message)}`)
    throw err
  } finally {
    client.close()
  }
}

interface TaskOptions {
  runId?: string
  toolCallId?: string
  maxUses?: number
}

/** --run-id / --tool-call-id / --max-uses → the SDK's task and maxUses (absent when not given: cached as before). */
function taskRequest(opts: TaskOptions) {
  const out: { task?: { runId?: string; toolCallId?: string }; maxUses?: number } = {}
  if (opts.runId !== undefined || opts.toolCallId !== undefined)
    out.task = { runId: opts.runId, toolCallId: opts.toolCallId }
  if (opts.maxUses !== undefined) {
    if (!Number.isInteger(opts.maxUses) || opts.maxUses < 0)
      throw new CliExit('--max-uses: expected a whole number ≥ 0')
    out.maxUses = opts.maxUses
  }
  return out
}

/** A script doing `TOKEN=$(keybroker token …)` must never carry on with an empty credential. */
function printToken(token: object & { token: string }, json: boolean | undefined): void {
  if (!token.token) throw new CliExit('keybroker: the broker answered without a token')
  process.stdout.write(json ? `${JSON.stringify(token, null, 2)}\n` : `${token.token}\n`)
}

/** A token from a file, or from stdin with `-` (never from argv, where `ps` would show it). */
function readTokenArg(file: string): string {
  try {
    const text = readFileSync(file === '-' ? 0 : file, 'utf8').trim()
    if (text.length === 0) throw new CliExit(`no token in ${file === '-' ? 'stdin' : file}`)
    return text
  } catch (err) {
    if (err instanceof CliExit) throw err
    throw new CliExit(`cannot read ${file}: ${(err as Error).message}`)
  }
}

/** `keybroker token|delegate|secret|whoami`: a person at a shell asking the broker, through the SDK. */
export function registerClientCommands(program: Command): void {
  withConnectOptions(
    program
      .command('token')
      .description('get a short-lived token for an audience; prints the JWT')
      .requiredOption('-a, --audience <audience>', 'who the token is for')
      .option('-s, --scope <scope>', 'a scope to request (repeatable)', collect, [])
      .option('--ttl <duration>', 'lifetime (capped by policy)', duration)
      .option('--bind', 'bind the token to the client certificate (cnf.x5t#S256)')
      .option('--run-id <id>', 'the agent run this token is for (claim kb_task, audit run_id)')
      .option('--tool-call-id <id>', 'the tool call within that run')
      .option(
        '--max-uses <n>',
        'proxy requests the token may make (proxy: audiences; capped by the grant)',
        Number,
      )
      .option('--json', 'print every response field as JSON'),
  ).action(
    async (
      opts: ConnectOptions & {
        audience: string
        scope: string[]
        ttl?: number
        bind?: boolean
        json?: boolean
      } & TaskOptions,
    ) => {
      const token = await withClient(opts, (client) =>
        client.token({
          audience: opts.audience,
          scopes: opts.scope,
          ttlSeconds: opts.ttl,
          bindToCertificate: opts.bind ?? false,
          ...taskRequest(opts),
        }),
      )
      printToken(token, opts.json)
    },
  )

  withConnectOptions(
    program
      .command('delegate')
      .description('narrow a broker token you hold for a sub-agent; prints the child JWT')
      .requiredOption('--parent-file <file>', 'file holding the parent token (`-` reads stdin)')
      .requiredOption('--actor <name>', 'who the child token is for (becomes act.sub)')
      .option(
        '-s, --scope <scope>',
        "a scope to keep (repeatable; default: all of the parent's)",
        collect,
        [],
      )
      .option('--ttl <duration>', "lifetime (capped by the parent's remaining life)", duration)
      .option('-a, --audience <audience>', 'another audience, if the grant allows it')
      .option('--run-id <id>', 'the agent run this token is for (claim kb_task, audit run_id)')
      .option('--tool-call-id <id>', 'the tool call within that run')
      .option(
        '--max-uses <n>',
        'proxy requests the token may make (proxy: audiences; capped by the grant)',
        Number,
      )
      .option('--json', 'print every response field as JSON'),
  ).action(
    async (
      opts: ConnectOptions & {
        parentFile: string
        actor: string
        scope: string[]
        ttl?: number
        audience?: string
        json?: boolean
      } & TaskOptions,
    ) => {
      const parent = readTokenArg(opts.parentFile)
      const token = await withClient(opts, (client) =>
        client.delegate(parent, {
          actor: opts.actor,
          scopes: opts.scope,
          ttlSeconds: opts.ttl,
          audience: opts.audience,
          ...taskRequest(opts),
        }),
      )
      printToken(token, opts.json)
    },
  )

  withConnectOptions(
    program
      .command('secret')
      .description('fetch a secret the policy grants you; prints its value')
      .argument('<name>', 'secret name from the broker config')
      .option('--json', 'print value (base64), version and expiry as JSON'),
  ).action(async (name: string, opts: ConnectOptions & { json?: boolean }) => {
    const secret = await withClient(opts, (client) => client.secret(name))
    if (secret.value.length === 0)
      throw new CliExit(`keybroker: the broker answered without a value for ${name}`)
    if (opts.json) {
      const { value, ...rest } = secret
      process.stdout.write(
        `${JSON.stringify({ ...rest, value_base64: value.toString('base64') }, null, 2)}\n`,
      )
    } else process.stdout.write(secret.value)
  })

  withConnectOptions(
    program.command('whoami').description('show the identity the broker sees and the grants that match'),
  ).action(async (opts: ConnectOptions) => {
    const me = await withClient(opts, (client) => client.whoami())
    process.stdout.write(`${JSON.stringify(me, null, 2)}\n`)
  })
}
