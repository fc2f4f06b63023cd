import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { type Command, Option } from 'commander'
import { loadBrokerProto } from '../../proto/load.js'
import { CliExit, collect, duration } from '../common.js'

export interface ConnectOptions {
  address: string
  ca: string
  cert?: string
  key?: string
  tokenFile?: string
}

export function withConnectOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--address <host:port>', 'broker gRPC address')
        .default('localhost:7443')
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
}

/** TLS (and optional bearer token) credentials for talking to a broker as a client. */
export function brokerChannelCredentials(opts: ConnectOptions): grpc.ChannelCredentials {
  const read = (file: string) => {
    try {
      return readFileSync(file)
    } catch (err) {
      throw new CliExit(`cannot read ${file}: ${(err as Error).message}`)
    }
  }
  if (Boolean(opts.cert) !== Boolean(opts.key)) throw new CliExit('--cert and --key go together')
  let creds = grpc.credentials.createSsl(
    read(opts.ca),
    opts.key ? read(opts.key) : null,
    opts.cert ? read(opts.cert) : null,
  )
  if (opts.tokenFile) {
    const file = opts.tokenFile
    creds = grpc.credentials.combineChannelCredentials(
      creds,
      grpc.credentials.createFromMetadataGenerator((_params, callback) => {
        const md = new grpc.Metadata()
        md.set('authorization', `Bearer ${read(file).toString('utf8').trim()}`)
        callback(null, md)
      }),
    )
  }
  return creds
}

export function brokerClient(opts: ConnectOptions) {
  const proto = loadBrokerProto()
  return new proto.keybroker.v1.Broker(opts.address, brokerChannelCredentials(opts))
}

export function callFailed(err: grpc.ServiceError): CliExit {
  const name = grpc.status[err.code] ?? String(err.code)
  return new CliExit(`keybroker: ${name}: ${err.details || err.message}`)
}

function deadline(): grpc.CallOptions {
  return { deadline: Date.now() + 10_000 }
}

/** `keybroker token` and `keybroker whoami`: a person at a shell asking the broker. */
export function registerClientCommands(program: Command): void {
  withConnectOptions(
    program
      .command('token')
      .description('get a short-lived token for an audience; prints the JWT')
      .requiredOption('-a, --audience <audience>', 'who the token is for')
      .option('-s, --scope <scope>', 'a scope to request (repeatable)', collect, [])
      .option('--ttl <duration>', 'lifetime (capped by policy)', duration)
      .option('--bind', 'bind the token to the client certificate (cnf.x5t#S256)')
      .option('--json', 'print every response field as JSON'),
  ).action(
    async (
      opts: ConnectOptions & {
        audience: string
        scope: string[]
        ttl?: number
        bind?: boolean
        json?: boolean
      },
    ) => {
      const client = brokerClient(opts)
      const response = await new Promise<Record<string, unknown>>((resolve, reject) =>
        client.IssueToken(
          {
            audience: opts.audience,
            scopes: opts.scope,
            ttl_seconds: opts.ttl ?? 0,
            bind_to_certificate: opts.bind ?? false,
          },
          deadline(),
          (err, res) => (err ? reject(callFailed(err)) : resolve(res as unknown as Record<string, unknown>)),
        ),
      )
      client.close()
      process.stdout.write(opts.json ? `${JSON.stringify(response, null, 2)}\n` : `${response.token}\n`)
    },
  )

  withConnectOptions(
    program.command('whoami').description('show the identity the broker sees and the grants that match'),
  ).action(async (opts: ConnectOptions) => {
    const client = brokerClient(opts)
    const response = await new Promise<unknown>((resolve, reject) =>
      client.WhoAmI({}, deadline(), (err, res) => (err ? reject(callFailed(err)) : resolve(res))),
    )
    client.close()
    process.stdout.write(`${JSON.stringify(response, null, 2)}\n`)
  })
}
