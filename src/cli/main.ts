import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { Command, InvalidArgumentError, Option } from 'commander'
import { formatExchangeLine, SqliteAuditStore, verifyChain } from '../audit/index.js'
import { systemClock } from '../clock.js'
import { loadConfig, parseDuration } from '../config/index.js'
import { BrokerError } from '../errors.js'
import { loadOrCreateKek } from '../issuer/kek.js'
import { SqliteKeyStore } from '../issuer/key_store.js'
import { SigningKeys } from '../issuer/signing_keys.js'
import { loadBrokerProto } from '../proto/load.js'
import { startBroker } from '../server/app.js'
import { openDatabase } from '../storage/database.js'
import { initDevEnvironment } from './dev_env.js'

/** Thrown to end a command with a message and exit code, without a stack trace. */
class CliExit extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message)
  }
}

const program = new Command()
  .name('keybroker')
  .description('A secrets broker for workloads: identity in, short-lived scoped credentials out.')
  .showHelpAfterError()

function duration(value: string): number {
  const seconds = parseDuration(value)
  if (seconds === undefined) throw new InvalidArgumentError(`"${value}" is not a duration (30s, 5m, 1h)`)
  return seconds
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

program
  .command('serve')
  .description('run the broker (gRPC + HTTP listeners)')
  .requiredOption('-c, --config <file>', 'keybroker.yaml')
  .action(async (opts: { config: string }) => {
    const broker = await startBroker(loadConfig(opts.config))
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) return
      stopping = true
      process.stderr.write(`keybroker: ${signal} received, draining in-flight calls\n`)
      broker.close().then(
        () => process.exit(0),
        (err) => {
          process.stderr.write(`keybroker: shutdown failed: ${(err as Error).message}\n`)
          process.exit(1)
        },
      )
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
  })

// ── client commands (a person at a shell) ──────────────────────────────────────────────

interface ConnectOptions {
  address: string
  ca: string
  cert?: string
  key?: string
  tokenFile?: string
}

function withConnectOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--address <host:port>', 'broker gRPC address').default('localhost:7443').env('KEYBROKER_ADDRESS'))
    .addOption(new Option('--ca <file>', 'CA bundle that signed the broker certificate').env('KEYBROKER_CA').makeOptionMandatory())
    .addOption(new Option('--cert <file>', 'client certificate (mTLS identity)').env('KEYBROKER_CERT'))
    .addOption(new Option('--key <file>', 'client private key').env('KEYBROKER_KEY'))
    .addOption(new Option('--token-file <file>', 'workload JWT sent as a bearer token').env('KEYBROKER_TOKEN_FILE'))
}

function brokerClient(opts: ConnectOptions) {
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
  const proto = loadBrokerProto()
  return new proto.keybroker.v1.Broker(opts.address, creds)
}

function callFailed(err: grpc.ServiceError): CliExit {
  const name = grpc.status[err.code] ?? String(err.code)
  return new CliExit(`keybroker: ${name}: ${err.details || err.message}`)
}

function deadline(): grpc.CallOptions {
  return { deadline: Date.now() + 10_000 }
}

withConnectOptions(
  program
    .command('token')
    .description('get a short-lived token for an audience; prints the JWT')
    .requiredOption('-a, --audience <audience>', 'who the token is for')
    .option('-s, --scope <scope>', 'a scope to request (repeatable)', collect, [])
    .option('--ttl <duration>', 'lifetime (capped by policy)', duration)
    .option('--bind', 'bind the token to the client certificate (cnf.x5t#S256)')
    .option('--json', 'print every response field as JSON'),
).action(async (opts: ConnectOptions & { audience: string; scope: string[]; ttl?: number; bind?: boolean; json?: boolean }) => {
  const client = brokerClient(opts)
  const response = await new Promise<Record<string, unknown>>((resolve, reject) =>
    client.IssueToken(
      { audience: opts.audience, scopes: opts.scope, ttl_seconds: opts.ttl ?? 0, bind_to_certificate: opts.bind ?? false },
      deadline(),
      (err, res) => (err ? reject(callFailed(err)) : resolve(res as unknown as Record<string, unknown>)),
    ),
  )
  client.close()
  process.stdout.write(opts.json ? `${JSON.stringify(response, null, 2)}\n` : `${response.token}\n`)
})

withConnectOptions(program.command('whoami').description('show the identity the broker sees and the grants that match')).action(
  async (opts: ConnectOptions) => {
    const client = brokerClient(opts)
    const response = await new Promise<unknown>((resolve, reject) =>
      client.WhoAmI({}, deadline(), (err, res) => (err ? reject(callFailed(err)) : resolve(res))),
    )
    client.close()
    process.stdout.write(`${JSON.stringify(response, null, 2)}\n`)
  },
)

// ── operator commands against the database file ───────────────────────────────────────

function openStateDb(opts: { config?: string; db?: string }, readonly: boolean) {
  if (!opts.config && !opts.db) throw new CliExit('give --config <file> or --db <file>')
  const path = opts.db ?? loadConfig(opts.config!).audit.path
  try {
    return openDatabase(path, { readonly })
  } catch (err) {
    throw new CliExit(`cannot open ${path}: ${(err as Error).message}`)
  }
}

const keys = program.command('keys').description('signing keys')

async function keyRing(configFile: string) {
  const config = loadConfig(configFile)
  const db = openDatabase(config.audit.path)
  const ring = new SigningKeys(new SqliteKeyStore(db, loadOrCreateKek(config.keys.kek_file)), {
    algorithm: config.keys.algorithm,
    rotationPeriodMs: config.keys.rotation_period * 1000,
    publishAheadMs: config.keys.publish_ahead * 1000,
    maxTokenLifetimeMs: () => Math.max(3600, ...config.grants.flatMap((g) => g.tokens.map((t) => t.max_ttl))) * 1000,
    clock: systemClock,
  })
  await ring.reload()
  return { ring, db }
}

keys
  .command('list')
  .description('published keys, which one signs, and when each activates')
  .requiredOption('-c, --config <file>', 'keybroker.yaml')
  .action(async (opts: { config: string }) => {
    const { ring, db } = await keyRing(opts.config)
    const signing = ring.list().length > 0 ? ring.signingKey().kid : undefined
    for (const key of ring.list()) {
      const state = key.kid === signing ? 'signing' : key.activatesAt > Date.now() ? 'published (pending)' : 'published (retired)'
      process.stdout.write(
        `${key.kid}  ${key.alg}  ${state.padEnd(20)} created ${new Date(key.createdAt).toISOString()}  activates ${new Date(key.activatesAt).toISOString()}\n`,
      )
    }
    db.close()
  })

keys
  .command('rotate')
  .description('publish a new signing key; it signs after keys.publish_ahead (or at once with --now)')
  .requiredOption('-c, --config <file>', 'keybroker.yaml')
  .option('--now', 'sign with the new key immediately')
  .action(async (opts: { config: string; now?: boolean }) => {
    const { ring, db } = await keyRing(opts.config)
    if (ring.list().length === 0) await ring.init()
    const key = await ring.rotate({ immediate: opts.now ?? false })
    process.stdout.write(`new key ${key.kid} published; signs from ${new Date(key.activatesAt).toISOString()}\n`)
    db.close()
  })

const audit = program.command('audit').description('the exchange log')

audit
  .command('tail')
  .description('print the latest exchanges')
  .option('-c, --config <file>', 'keybroker.yaml')
  .option('--db <file>', 'audit database (instead of --config)')
  .option('-n, --lines <n>', 'how many', (v) => Number.parseInt(v, 10), 20)
  .option('-f, --follow', 'keep printing new exchanges')
  .action(async (opts: { config?: string; db?: string; lines: number; follow?: boolean }) => {
    const db = openStateDb(opts, true)
    const store = new SqliteAuditStore(db, { clock: systemClock })
    let last = 0
    for (const row of store.tail(opts.lines)) {
      process.stdout.write(`${formatExchangeLine(row)}\n`)
      last = row.seq
    }
    if (!opts.follow) {
      db.close()
      return
    }
    // Poll: the broker writes from another process; WAL lets us read without blocking it.
    setInterval(() => {
      for (const row of store.after(last, 1000)) {
        process.stdout.write(`${formatExchangeLine(row)}\n`)
        last = row.seq
      }
    }, 500)
  })

audit
  .command('verify')
  .description('check the hash chain; exit 1 naming the first bad row')
  .option('-c, --config <file>', 'keybroker.yaml')
  .option('--db <file>', 'audit database (instead of --config)')
  .action((opts: { config?: string; db?: string }) => {
    const db = openStateDb(opts, true)
    const result = verifyChain(db)
    db.close()
    if (result.ok) {
      process.stdout.write(`audit log OK: ${result.rowsChecked} rows, chain intact\n`)
      return
    }
    throw new CliExit(
      `audit log BROKEN at seq ${result.firstBadSeq ?? '?'} (id ${result.firstBadId ?? '?'}): ${result.problem}\n` +
        `rows checked before the fault: ${result.rowsChecked}`,
    )
  })

program
  .command('dev-init')
  .description('create a development PKI and config (used by make run); existing files are kept')
  .option('--dir <dir>', 'where to write', '.dev')
  .action(async (opts: { dir: string }) => {
    const created = await initDevEnvironment(opts.dir)
    process.stdout.write(created ? `dev environment written to ${opts.dir}\n` : `dev environment in ${opts.dir} already exists\n`)
  })

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CliExit) {
    process.stderr.write(`${err.message}\n`)
    process.exit(err.exitCode)
  }
  if (err instanceof BrokerError) {
    process.stderr.write(`keybroker: ${err.message}\n`)
    process.exit(err.code === 'ERR_CONFIG' ? 2 : 1)
  }
  process.stderr.write(`keybroker: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
