/*
 * `npm run bench`: issuance throughput, latency and server CPU per request against the physical
 * floors (signing, transport) and a peer (oidc-provider), plus how cost grows with policy size,
 * audit size and issuance count. Servers and load generators run in separate processes; the
 * server's CPU per request is its user+system CPU over the measured window ÷ requests.
 * Prints a table and writes test/bench/results/latest.json. Not part of `make test`.
 *
 * Environment: BENCH_SECONDS (measured seconds per row, default 5), BENCH_WARMUP_SECONDS (1.5),
 * BENCH_RSS_ISSUANCES (300000), BENCH_LIST_ROWS (2000000), BENCH_TRACING_ROUNDS (3), BENCH_ONLY (comma-separated row groups:
 * signing,transport,issue,issue-pg,tracing,fetch,peer,oauth,growth,list,rss,audit,leakscan), BENCH_PROFILE=1 (broker --cpu-prof into
 * test/bench/results/profiles).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import pg from 'pg'
import { ChainAppender } from '../../src/audit/index.js'
import { LeakScanner } from '../../src/proxy/leak_scanner.js'
import { BINARY_VERSION } from '../../src/storage/migrations.js'
import { openStorage } from '../../src/storage/open.js'
import { openDatabase, openSqliteStorage } from '../../src/storage/sqlite/index.js'
import { ADMIN, BILLING, baseConfigYaml, REPO_ROOT } from '../fixtures/broker.js'
import { OtlpReceiver } from '../fixtures/otlp_receiver.js'
import { TestPki } from '../fixtures/pki.js'
import { FakeVault } from '../fixtures/vault_server.js'
import { cpuMicros, type LoadResult, type LoadSpec, Samples, summarize, type UsageReport } from './stats.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const WARMUP_MS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1.5) * 1000
const RSS_ISSUANCES = Number(process.env.BENCH_RSS_ISSUANCES ?? 300_000)
const LIST_ROWS = Number(process.env.BENCH_LIST_ROWS ?? 2_000_000)
const ONLY = process.env.BENCH_ONLY?.split(',')
const PROFILE = process.env.BENCH_PROFILE === '1'
const BENCH_DIR = join(REPO_ROOT, 'test/bench')
const RESULTS_DIR = join(BENCH_DIR, 'results')
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number)

interface Row {
  group: string
  name: string
  concurrency?: number
  rps?: number
  p50Us?: number
  p99Us?: number
  p999Us?: number
  cpuUsPerReq?: number
  requests?: number
  errors?: number
  /** Extra figures (RSS, rows/s) and caveats. */
  value?: string
  note?: string
}

const rows: Row[] = []
/** Every child still running; killed if this process dies, so no server outlives a failed run. */
const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})
function track(child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}
const wanted = (group: string) => !ONLY || ONLY.includes(group)
const log = (line: string) => process.stderr.write(`${line}\n`)

// ---------- child processes ----------

interface ServerHandle {
  port: number
  /** The broker's HTTPS listener (broker mode only). */
  httpPort?: number
  usage(gc?: boolean): Promise<UsageReport>
  stop(): Promise<void>
}

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type !== type) return
      cleanup()
      resolve(m as T)
    }
    const onExit = (code: number | null) => {
      cleanup()
      reject(new Error(`child exited (${code}) while waiting for "${type}"`))
    }
    const cleanup = () => {
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

async function startServer(env: Record<string, string>, label: string): Promise<ServerHandle> {
  const execArgv = ['--import', 'tsx', '--expose-gc']
  if (PROFILE && env.BENCH_SERVER === 'broker') {
    // One directory per server: the tsx loader thread writes its own (small) profile next to the main one.
    const dir = join(RESULTS_DIR, 'profiles', label)
    mkdirSync(dir, { recursive: true })
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`)
  }
  const child = track(
    fork(join(BENCH_DIR, 'server.ts'), {
      execArgv,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  )
  const listening = await nextMessage<{ port: number; httpPort?: number }>(child, 'listening')
  return {
    port: listening.port,
    httpPort: listening.httpPort,
    usage: (gc = false) => {
      const reply = nextMessage<UsageReport>(child, 'usage')
      child.send({ type: 'usage', gc })
      return reply
    },
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.send({ type: 'stop' })
      await exited
    },
  }
}

type Measured = { result: LoadResult; cpuUs: number; verified?: unknown } | { unimplemented: string }

/** One measured window: warm up, read server CPU, run, read server CPU again. */
async function measure(server: ServerHandle, spec: LoadSpec): Promise<Measured> {
  const child = track(
    fork(join(BENCH_DIR, 'load.ts'), {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, BENCH_LOAD: JSON.stringify(spec) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  )
  let verified: unknown
  child.on('message', (m: { type: string }) => {
    if (m.type === 'verified') verified = m
  })
  const first = await Promise.race([
    nextMessage<{ type: 'ready' }>(child, 'ready'),
    nextMessage<{ type: 'unimplemented'; message: string }>(child, 'unimplemented'),
  ])
  if (first.type === 'unimplemented') return { unimplemented: first.message }
  const before = await server.usage()
  const done = nextMessage<LoadResult>(child, 'done')
  child.send({ type: 'go' })
  const result = await done
  const after = await server.usage()
  await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))
  return { result, cpuUs: cpuMicros(before.cpu, after.cpu), verified }
}

function rowFrom(group: string, name: string, concurrency: number, m: Measured, note?: string): Row {
  if ('unimplemented' in m) {
    return { group, name, concurrency, value: 'n/a (not wired)', note: m.unimplemented }
  }
  const { result, cpuUs } = m
  const row: Row = {
    group,
    name,
    concurrency,
    rps: result.requests / (result.wallMs / 1000),
    p50Us: result.latency.p50Us,
    p99Us: result.latency.p99Us,
    p999Us: result.latency.p999Us,
    cpuUsPerReq: cpuUs / Math.max(1, result.requests),
    requests: result.requests,
    errors: result.errors,
    note: result.errors > 0 ? `${result.errors} errors, first: ${result.firstError}` : note,
  }
  log(
    `  ${name} c=${concurrency}: ${fmt(row.rps, 0)} req/s, p99 ${fmt(row.p99Us! / 1000, 2)} ms, ${fmt(row.cpuUsPerReq, 0)} µs CPU/req`,
  )
  rows.push(row)
  return row
}

// ---------- setup ----------

const work = mkdtempSync(join(tmpdir(), 'keybroker-bench-'))
const pki = await TestPki.create(join(work, 'pki'))
const billing = await pki.spiffe('billing', BILLING)
const admin = await pki.spiffe('admin', ADMIN)
const serverTls = { BENCH_TLS_CERT: pki.server.cert, BENCH_TLS_KEY: pki.server.key, BENCH_TLS_CA: pki.caFile }
const asBilling = { ca: pki.caFile, cert: billing.cert, key: billing.key }
const timed = { warmupMs: WARMUP_MS, durationMs: SECONDS * 1000 }

let brokerDirs = 0
function brokerConfig(options: { grantsYaml?: string; extraYaml?: string; auditPath?: string } = {}): string {
  const dir = join(work, `broker-${++brokerDirs}`)
  mkdirSync(dir, { recursive: true })
  let yaml = baseConfigYaml(dir, pki, options)
  if (options.auditPath) yaml = yaml.replace(join(dir, 'keybroker.db'), options.auditPath)
  const file = join(dir, 'keybroker.yaml')
  writeFileSync(file, yaml)
  return file
}

const startBrokerProcess = (config: string, label: string) =>
  startServer({ BENCH_SERVER: 'broker', BENCH_CONFIG: config }, label)

/** A payload shaped like a broker access token. */
function tokenClaims() {
  const now = Math.floor(Date.now() / 1000)
  return {
    iss: 'https://keybroker.test',
    sub: BILLING,
    aud: 'payments-api',
    exp: now + 300,
    iat: now,
    nbf: now,
    jti: randomBytes(16).toString('base64url'),
    scope: 'payments:read',
    client_id: BILLING,
  }
}

const started = Date.now()

// ---------- 1. floor: signing ----------

const nodeKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
const kid = randomBytes(32).toString('base64url').slice(0, 43)
function nodeCryptoToken(): string {
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid, typ: 'at+jwt' })).toString('base64url')
  const input = `${header}.${Buffer.from(JSON.stringify(tokenClaims())).toString('base64url')}`
  const signature = sign('sha256', Buffer.from(input), { key: nodeKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

/** Sequential operations on this process's one JS thread for `ms`; CPU is this process's. */
async function inProcess(
  group: string,
  name: string,
  op: () => unknown,
  ms: number,
  value?: (n: number, s: number) => string,
) {
  const end = performance.now() + Math.min(WARMUP_MS, 1000)
  while (performance.now() < end) await op()
  const samples = new Samples()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const deadline = t0 + ms
  while (performance.now() < deadline) {
    const s = performance.now()
    await op()
    samples.push((performance.now() - s) * 1000)
  }
  const wall = performance.now() - t0
  const cpuUs = cpuMicros(cpu0, process.cpuUsage())
  const lat = summarize(samples.view())
  const row: Row = {
    group,
    name,
    concurrency: 1,
    rps: lat.count / (wall / 1000),
    p50Us: lat.p50Us,
    p99Us: lat.p99Us,
    p999Us: lat.p999Us,
    cpuUsPerReq: cpuUs / lat.count,
    requests: lat.count,
    value: value?.(lat.count, wall / 1000),
    note: 'in-process, one core (CPU column: this process)',
  }
  log(`  ${name}: ${fmt(row.rps, 0)} op/s, ${fmt(row.cpuUsPerReq, 1)} µs CPU/op`)
  rows.push(row)
  return row
}

if (wanted('signing')) {
  log('floor: signing')
  const { privateKey } = await generateKeyPair('ES256')
  await inProcess(
    'signing',
    'floor: ES256 jose SignJWT',
    () =>
      new SignJWT(tokenClaims()).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(privateKey),
    SECONDS * 1000,
  )
  await inProcess('signing', 'floor: ES256 node:crypto sign', nodeCryptoToken, SECONDS * 1000)
}

// ---------- 2. floor: transport ----------

if (wanted('transport')) {
  log('floor: transport (no-op IssueToken over the broker TLS listener)')
  const claims = tokenClaims()
  const canned = {
    token: nodeCryptoToken(),
    token_type: 'Bearer',
    expires_at: claims.exp,
    scopes: ['payments:read'],
    audience: 'payments-api',
    token_id: claims.jti,
    exchange_id: '01JBENCHBENCHBENCHBENCHBEN',
  }
  const floor = await startServer(
    { BENCH_SERVER: 'floor', BENCH_CANNED_REPLY: JSON.stringify(canned), ...serverTls },
    'floor',
  )
  for (const c of CONCURRENCIES) {
    rowFrom(
      'transport',
      'floor: gRPC mTLS no-op',
      c,
      await measure(floor, { kind: 'floor', port: floor.port, ...asBilling, concurrency: c, ...timed }),
    )
  }
  await floor.stop()
}

// ---------- 3. broker IssueToken ----------

if (wanted('issue')) {
  log('broker: IssueToken (mTLS, durable audit)')
  const broker = await startBrokerProcess(brokerConfig(), 'issue')
  for (const c of CONCURRENCIES) {
    rowFrom(
      'issue',
      'broker: IssueToken',
      c,
      await measure(broker, { kind: 'issue', port: broker.port, ...asBilling, concurrency: c, ...timed }),
    )
  }
  await broker.stop()
}

// ---------- 3b. IssueToken on PostgreSQL, next to the SQLite row ----------

if (wanted('issue-pg')) {
  log('broker: IssueToken on PostgreSQL (mTLS, durable audit in a fresh database on 127.0.0.1:5432)')
  const pgAdmin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' })
  const name = `kb_bench_${randomBytes(4).toString('hex')}`
  const reachable = await pgAdmin.connect().then(
    () => true,
    (err: Error) => {
      log(`  skipped: PostgreSQL unreachable (${err.message})`)
      return false
    },
  )
  if (reachable) {
    await pgAdmin.query(`CREATE DATABASE ${name}`)
    try {
      const broker = await startBrokerProcess(
        brokerConfig({
          extraYaml: `storage: { driver: postgres, url: "postgres://postgres@127.0.0.1:5432/${name}", pool_size: 10 }`,
        }),
        'issue-pg',
      )
      rowFrom(
        'issue-pg',
        'broker: IssueToken (driver postgres)',
        64,
        await measure(broker, { kind: 'issue', port: broker.port, ...asBilling, concurrency: 64, ...timed }),
      )
      await broker.stop()
    } finally {
      await pgAdmin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await pgAdmin.end()
    }
  }
}

// ---------- 3c. IssueToken with tracing off vs on (OTLP/HTTP JSON to a loopback receiver) ----------

const TRACING_ROUNDS = Number(process.env.BENCH_TRACING_ROUNDS ?? 3)

if (wanted('tracing')) {
  log(`broker: IssueToken c=64, tracing off vs on, ${TRACING_ROUNDS} interleaved rounds (median shown)`)
  const receiver = await OtlpReceiver.start()
  const off = await startBrokerProcess(brokerConfig(), 'tracing-off')
  const on = await startBrokerProcess(
    brokerConfig({ extraYaml: `telemetry: { otlp_endpoint: "${receiver.url}" }` }),
    'tracing-on',
  )
  const runs: Record<'off' | 'on', Measured[]> = { off: [], on: [] }
  for (let round = 0; round < TRACING_ROUNDS; round++) {
    // alternating which side goes first, so a change in the machine's load hits both alike
    const order = round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)
    for (const side of order) {
      const server = side === 'off' ? off : on
      runs[side].push(
        await measure(server, { kind: 'issue', port: server.port, ...asBilling, concurrency: 64, ...timed }),
      )
    }
  }
  await off.stop()
  await on.stop()
  await receiver.close()
  const median = (ms: Measured[]) => {
    const sorted = ms
      .filter((m): m is Exclude<Measured, { unimplemented: string }> => 'result' in m)
      .sort((a, b) => a.cpuUs / a.result.requests - b.cpuUs / b.result.requests)
    return sorted[Math.floor(sorted.length / 2)]!
  }
  const rowOff = rowFrom('tracing', 'broker: IssueToken, tracing off', 64, median(runs.off))
  const rowOn = rowFrom(
    'tracing',
    'broker: IssueToken, tracing on (OTLP to loopback)',
    64,
    median(runs.on),
    `${receiver.spans.length.toLocaleString('en')} spans received`,
  )
  const perRun = (side: 'off' | 'on') =>
    runs[side].map((m) => ('result' in m ? fmt(m.cpuUs / m.result.requests, 0) : 'n/a')).join(', ')
  log(`  CPU/req per round: off ${perRun('off')}; on ${perRun('on')}`)
  log(`  on/off CPU per request: ${fmt(rowOn.cpuUsPerReq! / rowOff.cpuUsPerReq!, 2)}×`)
}

// ---------- 4. broker FetchSecret, warm cache ----------

if (wanted('fetch')) {
  log('broker: FetchSecret (warm cache, fake Vault upstream)')
  const vault = await new FakeVault().start()
  vault.addToken('bench-vault-token')
  vault.putKv('secret/data/payments/stripe', { api_key: 'sk_test_bench' })
  const tokenFile = join(work, 'vault-token')
  writeFileSync(tokenFile, 'bench-vault-token', { mode: 0o600 })
  const config = brokerConfig({
    extraYaml: `cache: { ttl: 1h, stale_ttl: 1h }
providers:
  vault: { type: vault, address: "${vault.url}", auth: { method: token, token_file: ${tokenFile} } }
secrets:
  stripe-key: { provider: vault, path: secret/data/payments/stripe, field: api_key }`,
    grantsYaml: `  - name: billing-secrets
    match: { spiffe_id: "${BILLING}" }
    secrets: [stripe-key]`,
  })
  const broker = await startBrokerProcess(config, 'fetch')
  const m = await measure(broker, {
    kind: 'fetch',
    port: broker.port,
    ...asBilling,
    concurrency: 64,
    ...timed,
  })
  if ('unimplemented' in m) {
    rows.push({
      group: 'fetch',
      name: 'broker: FetchSecret (warm)',
      concurrency: 64,
      value: 'n/a (not wired)',
      note: m.unimplemented,
    })
    log(`  FetchSecret: n/a (not wired): ${m.unimplemented}`)
  } else {
    rowFrom(
      'fetch',
      'broker: FetchSecret (warm)',
      64,
      m,
      `upstream reads: ${vault.count('secret/data/payments/stripe')}`,
    )
  }
  await broker.stop()
  await vault.close()
}

// ---------- 5. peer: oidc-provider ----------

/** The peer's ES256 signing key, as the JWK oidc-provider is configured with. */
async function peerJwk(): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  return JSON.stringify({ ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'bench-es256' })
}

if (wanted('peer')) {
  log('peer: oidc-provider client_credentials, resource indicator, ES256 JWT access tokens')
  const peer = await startServer(
    { BENCH_SERVER: 'peer', BENCH_PEER_JWK: await peerJwk(), ...serverTls },
    'peer',
  )
  for (const c of CONCURRENCIES) {
    const m = await measure(peer, { kind: 'peer', port: peer.port, ca: pki.caFile, concurrency: c, ...timed })
    if (c === 1 && 'verified' in m) log(`  verified a peer token with jose: ${JSON.stringify(m.verified)}`)
    rowFrom('peer', 'peer: oidc-provider (undici, HTTPS)', c, m, 'client_secret_basic; no audit log')
  }
  await peer.stop()
}

// ---------- 5b. OAuth client_credentials over HTTPS mTLS: broker vs oidc-provider ----------

const OAUTH_BROKER_ROW = 'broker: POST /oauth2/token client_credentials (HTTPS mTLS)'
const OAUTH_PEER_ROW = 'peer: oidc-provider client_credentials tls_client_auth (HTTPS mTLS)'

if (wanted('oauth')) {
  log('oauth: client_credentials with tls_client_auth over HTTPS, broker POST /oauth2/token vs oidc-provider')
  const broker = await startBrokerProcess(brokerConfig(), 'oauth')
  const peer = await startServer(
    { BENCH_SERVER: 'peer', BENCH_PEER_JWK: await peerJwk(), BENCH_PEER_MTLS_SAN_URI: BILLING, ...serverTls },
    'peer-mtls',
  )
  for (const c of CONCURRENCIES) {
    // Interleaved at each concurrency, so a change in the machine's load hits both sides alike.
    const ours = await measure(broker, {
      kind: 'oauth',
      port: broker.httpPort!,
      ...asBilling,
      clientId: BILLING,
      concurrency: c,
      ...timed,
    })
    if (c === CONCURRENCIES[0] && 'verified' in ours)
      log(`  verified a broker token: ${JSON.stringify(ours.verified)}`)
    rowFrom('oauth', OAUTH_BROKER_ROW, c, ours, 'one durable audit row per token')
    const theirs = await measure(peer, {
      kind: 'peer',
      peerAuth: 'tls_client_auth',
      port: peer.port,
      ...asBilling,
      concurrency: c,
      ...timed,
    })
    if (c === CONCURRENCIES[0] && 'verified' in theirs)
      log(`  verified a peer token: ${JSON.stringify(theirs.verified)}`)
    rowFrom('oauth', OAUTH_PEER_ROW, c, theirs, 'certificate-bound tokens; no audit log')
  }
  await broker.stop()
  await peer.stop()
}

// ---------- 6. growth: grants ----------

/** `n` extra grants, half exact SPIFFE IDs, half `/*` globs, none of which match the caller. */
function manyGrants(n: number): string {
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    const id =
      i % 2 === 0 ? `spiffe://example.org/ns/team-${i}/sa/svc-${i}` : `spiffe://example.org/ns/team-${i}/*`
    lines.push(
      `  - name: g${i}\n    match: { spiffe_id: "${id}" }\n    tokens: [ { audience: api-${i}, scopes: ["read"] } ]`,
    )
  }
  return lines.join('\n')
}

if (wanted('growth')) {
  log('growth: IssueToken with 10 / 1,000 / 10,000 grants (c=16)')
  for (const n of [10, 1_000, 10_000]) {
    const broker = await startBrokerProcess(brokerConfig({ grantsYaml: manyGrants(n - 2) }), `grants-${n}`)
    rowFrom(
      'growth',
      `growth: IssueToken, ${n.toLocaleString('en')} grants`,
      16,
      await measure(broker, { kind: 'issue', port: broker.port, ...asBilling, concurrency: 16, ...timed }),
    )
    await broker.stop()
  }
}

// ---------- 7. growth: ListExchanges by subject ----------

const SUBJECTS = Array.from({ length: 1000 }, (_, i) => `spiffe://example.org/ns/team-${i % 50}/sa/svc-${i}`)

/**
 * Grow the audit table to `total` rows with raw inserts in one transaction (indexes rebuilt after).
 * Starts after the newest row: the broker measured on the smaller table appended its own admin rows.
 */
async function fillAudit(path: string, total: number): Promise<void> {
  const storage = await openSqliteStorage({ driver: 'sqlite', path, busyTimeoutMs: 5000 })
  await storage.migrate(BINARY_VERSION)
  await storage.close()
  const db = openDatabase(path)
  db.pragma('synchronous = OFF')
  const from =
    db
      .prepare<[], { seq: number | null }>("SELECT max(seq) AS seq FROM exchanges WHERE node_id = 'bench'")
      .get()!.seq ?? 0
  const insert =
    db.prepare(`INSERT INTO exchanges (node_id, seq, form, id, ts, kind, subject, auth_method, issuer, peer, cert_thumbprint,
    audience, scopes, ttl, decision, token_id, expires_at, latency_us, detail, prev_hash, hash)
    VALUES ('bench', ?, 2, ?, ?, 'issue', ?, 'mtls', 'spiffe://example.org', '127.0.0.1:50000', ?, 'payments-api', 'payments:read',
    300, 'allow', ?, ?, 150, '{"grant":"billing","capped":false}', ?, ?)`)
  const hash = 'ab'.repeat(32)
  const thumb = 'x'.repeat(43)
  const t0 = Date.now() - total * 10
  db.transaction(() => {
    for (let seq = from + 1; seq <= total; seq++) {
      const id = `01J${String(seq).padStart(23, '0')}`
      insert.run(
        seq,
        id,
        t0 + seq * 10,
        SUBJECTS[seq % SUBJECTS.length],
        thumb,
        `tok${seq}`,
        Math.floor((t0 + seq * 10) / 1000) + 300,
        hash,
        hash,
      )
    }
    db.prepare(
      `INSERT INTO audit_heads (node_id, seq, hash, created_at, updated_at) VALUES ('bench', ?, ?, 0, 0)
       ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq`,
    ).run(total, hash)
  })()
  db.close()
}

if (wanted('list')) {
  log('growth: ListExchanges by subject')
  const path = join(work, 'list.db')
  // one config for both sizes: the signing keys the first broker stored are sealed with its KEK
  const listConfig = brokerConfig({ auditPath: path })
  for (const size of [100_000, LIST_ROWS]) {
    const t0 = Date.now()
    await fillAudit(path, size)
    log(`  ${size.toLocaleString('en')} audit rows written in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    const name = `growth: ListExchanges by subject, ${size.toLocaleString('en')} rows`
    const broker = await startBrokerProcess(listConfig, `list-${size}`)
    const m = await measure(broker, {
      kind: 'list',
      port: broker.port,
      ca: pki.caFile,
      cert: admin.cert,
      key: admin.key,
      concurrency: 1,
      subjects: SUBJECTS,
      ...timed,
    })
    await broker.stop()
    if ('unimplemented' in m) throw new Error(`Admin.ListExchanges: ${m.unimplemented}`)
    rowFrom('list', name, 1, m, 'Admin.ListExchanges (admin mTLS), limit 100')
  }
  rmSync(path, { force: true })
}

// ---------- 8. RSS after 20k and 300k issuances ----------

if (wanted('rss')) {
  log(`RSS after 20,000 and ${RSS_ISSUANCES.toLocaleString('en')} issuances (c=64, after gc)`)
  const broker = await startBrokerProcess(brokerConfig(), 'rss')
  const m20 = await measure(broker, {
    kind: 'issue',
    port: broker.port,
    ...asBilling,
    concurrency: 64,
    warmupMs: 0,
    count: 20_000,
  })
  const rss20 = (await broker.usage(true)).rss
  const mAll = await measure(broker, {
    kind: 'issue',
    port: broker.port,
    ...asBilling,
    concurrency: 64,
    warmupMs: 0,
    count: RSS_ISSUANCES - 20_000,
  })
  const rssAll = (await broker.usage(true)).rss
  await broker.stop()
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`
  const errors = [m20, mAll].reduce((n, m) => n + ('result' in m ? m.result.errors : 0), 0)
  rows.push({ group: 'rss', name: 'RSS after 20,000 issuances', value: mib(rss20), requests: 20_000, errors })
  rows.push({
    group: 'rss',
    name: `RSS after ${RSS_ISSUANCES.toLocaleString('en')} issuances`,
    value: mib(rssAll),
    requests: RSS_ISSUANCES,
    note: `growth ${mib(rssAll - rss20)}`,
  })
  log(`  RSS ${mib(rss20)} → ${mib(rssAll)}`)
}

// ---------- 9. audit append in isolation ----------

if (wanted('audit')) {
  log('audit: ChainAppender.append, durable (SQLite WAL synchronous=FULL; PostgreSQL when reachable)')
  const pgUrl = process.env.KEYBROKER_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  for (const [driver, appenders] of [
    ['sqlite', 64],
    ['sqlite', 1000],
    ['postgres', 64],
    ['postgres', 1000],
  ] as const) {
    const path = join(work, `append-${appenders}.db`)
    const storage = await openStorage(
      driver === 'sqlite'
        ? { driver, path, busyTimeoutMs: 2000 }
        : { driver, url: pgUrl, poolSize: 10, statementTimeoutMs: 5000 },
    ).catch((err: Error) => {
      log(`  ${driver}: skipped (${err.message})`)
      return undefined
    })
    if (!storage) continue
    await storage.migrate(BINARY_VERSION)
    const nodeId = `bench-${driver}-${appenders}-${Date.now()}`
    await storage.leases.acquire(nodeId, 'bench', 600_000)
    const store = new ChainAppender(storage.chains, { nodeId, writeTimeoutMs: 10_000 })
    const record = () =>
      store.append({
        kind: 'issue',
        decision: 'allow',
        subject: BILLING,
        auth_method: 'mtls',
        issuer: 'spiffe://example.org',
        peer: '127.0.0.1:50000',
        cert_thumbprint: 'x'.repeat(43),
        audience: 'payments-api',
        scopes: 'payments:read',
        ttl: 300,
        token_id: randomBytes(16).toString('base64url'),
        expires_at: Math.floor(Date.now() / 1000) + 300,
        latency_us: 150,
        detail: { grant: 'billing', capped: false },
      })
    // `appenders` callers each awaiting their own append: how the broker drives the store.
    const burst = () => Promise.all(Array.from({ length: appenders }, record))
    await inProcess(
      'audit',
      `audit append (${driver}), ${appenders} concurrent appenders`,
      burst,
      SECONDS * 1000,
    )
    const row = rows.at(-1)!
    row.rps = row.rps! * appenders
    row.cpuUsPerReq = row.cpuUsPerReq! / appenders
    row.requests = row.requests! * appenders
    row.value = `${fmt(row.rps, 0)} durable rows/s`
    row.note = 'latency columns: one burst (one group commit)'
    log(`  ${row.value}`)
    await store.close()
    await storage.close()
  }
}

// ---------- 10. proxy key-leak scan over a 100 MiB JSON response ----------

if (wanted('leakscan')) {
  log('proxy: key-leak scan of a 100 MiB JSON response (64 KiB chunks, as undici delivers them)')
  const key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'
  const scanner = new LeakScanner([Buffer.from(key), Buffer.from(`Bearer ${key}`)])
  const record = JSON.stringify({
    id: 'ch_3MmlLrLkdIwHu7ix0snN0B15',
    object: 'charge',
    amount: 1099,
    currency: 'usd',
    description: 'Example charge',
    metadata: { order_id: '6735', token: 'tok_visa_4242' },
  })
  const chunk = Buffer.from(`[${Array(400).fill(record).join(',')}]`.slice(0, 64 * 1024))
  const total = 100 * 1024 * 1024
  const scan100MiB = () =>
    new Promise<void>((resolve, reject) => {
      const stream = scanner.stream()
      stream.on('data', () => {})
      stream.on('end', resolve).on('error', reject)
      let sent = 0
      const write = () => {
        while (sent < total) {
          sent += chunk.length
          if (!stream.write(chunk)) return void stream.once('drain', write)
        }
        stream.end()
      }
      write()
    })
  await inProcess(
    'leakscan',
    'proxy: key-leak scan, 100 MiB JSON',
    scan100MiB,
    SECONDS * 1000,
    (n, s) => `${fmt((n * 100) / s, 0)} MiB/s`,
  )
}

// ---------- report ----------

function fmt(n: number | undefined, digits: number): string {
  return n === undefined || !Number.isFinite(n)
    ? ''
    : n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

const find = (group: string, concurrency?: number, nameIncludes?: string) =>
  rows.find(
    (r) =>
      r.group === group &&
      (concurrency === undefined || r.concurrency === concurrency) &&
      (!nameIncludes || r.name.includes(nameIncludes)) &&
      r.rps !== undefined,
  )

interface Target {
  target: string
  measured: string
  met: boolean | null
}
const targets: Target[] = []
function check(
  target: string,
  measured: () => [number, number] | undefined,
  ok: (ratio: number) => boolean,
  unit = '×',
) {
  const pair = measured()
  if (!pair) return targets.push({ target, measured: 'not measured', met: null })
  const [value, ratio] = pair
  targets.push({
    target,
    measured: unit === '×' ? `${ratio.toFixed(2)}×` : `${fmt(value, 1)} ${unit}`,
    met: ok(ratio),
  })
}
const issue64 = find('issue', 64)
const floor64 = find('transport', 64)
const peer64 = find('peer', 64)
check(
  'IssueToken c=64 req/s ≥ 0.6× transport floor',
  () => issue64 && floor64 && [0, issue64.rps! / floor64.rps!],
  (r) => r >= 0.6,
)
check(
  'IssueToken c=64 p99 ≤ 1.5× transport floor p99',
  () => issue64 && floor64 && [0, issue64.p99Us! / floor64.p99Us!],
  (r) => r <= 1.5,
)
check(
  'IssueToken CPU/req ≤ 2.5× floor CPU/req (c=64)',
  () => issue64 && floor64 && [0, issue64.cpuUsPerReq! / floor64.cpuUsPerReq!],
  (r) => r <= 2.5,
)
check(
  'IssueToken CPU/req ≤ 0.5× peer CPU/token (c=64)',
  () => issue64 && peer64 && [0, issue64.cpuUsPerReq! / peer64.cpuUsPerReq!],
  (r) => r <= 0.5,
)
check(
  'IssueToken c=64 req/s ≥ 1.2× peer',
  () => issue64 && peer64 && [0, issue64.rps! / peer64.rps!],
  (r) => r >= 1.2,
)
const oauth64 = find('oauth', 64, 'broker:')
const oauthPeer64 = find('oauth', 64, 'peer:')
check(
  'OAuth client_credentials (mTLS) CPU/token ≤ 0.5× peer tls_client_auth (c=64)',
  () => oauth64 && oauthPeer64 && [0, oauth64.cpuUsPerReq! / oauthPeer64.cpuUsPerReq!],
  (r) => r <= 0.5,
)
check(
  'OAuth client_credentials (mTLS) c=64 req/s ≥ 1.2× peer tls_client_auth',
  () => oauth64 && oauthPeer64 && [0, oauth64.rps! / oauthPeer64.rps!],
  (r) => r >= 1.2,
)
const g10 = find('growth', 16, ' 10 grants')
const g10k = find('growth', 16, '10,000 grants')
check(
  'p99 with 10,000 grants ≤ 1.2× p99 with 10',
  () => g10 && g10k && [0, g10k.p99Us! / g10.p99Us!],
  (r) => r <= 1.2,
)
const list2m = rows.find((r) => r.group === 'list' && r.name.includes(LIST_ROWS.toLocaleString('en')))
check(
  'ListExchanges by subject, 2M rows: p99 ≤ 50 ms',
  () => list2m && [list2m.p99Us! / 1000, list2m.p99Us! / 1000],
  (v) => v <= 50,
  'ms p99',
)
const rssRows = rows.filter((r) => r.group === 'rss')
check(
  'RSS growth 20k → 300k issuances ≤ 50 MiB',
  () => {
    if (rssRows.length < 2) return undefined
    const growth = Number.parseFloat(rssRows[1]!.value!) - Number.parseFloat(rssRows[0]!.value!)
    return [growth, growth]
  },
  (g) => g <= 50,
  'MiB',
)
const audit = rows.filter((r) => r.group === 'audit').sort((a, b) => b.rps! - a.rps!)[0]
check(
  'audit append ≥ 30,000 durable rows/s',
  () => audit && [audit.rps!, audit.rps!],
  (v) => v >= 30_000,
  'rows/s',
)

const header = ['row', 'c', 'req/s', 'p50 ms', 'p99 ms', 'p999 ms', 'server CPU µs/req', 'note']
const table = [
  header,
  ...rows.map((r) =>
    r.rps === undefined
      ? [r.name, r.concurrency?.toString() ?? '', r.value ?? '', '', '', '', '', r.note ?? '']
      : [
          r.name,
          r.concurrency?.toString() ?? '',
          fmt(r.rps, 0),
          fmt(r.p50Us! / 1000, 2),
          fmt(r.p99Us! / 1000, 2),
          fmt(r.p999Us! / 1000, 2),
          fmt(r.cpuUsPerReq, 0),
          [r.value, r.note].filter(Boolean).join('; '),
        ],
  ),
]
const markdown = [
  `| ${header.join(' | ')} |`,
  `|${header.map((_, i) => (i === 0 || i === header.length - 1 ? '---' : '---:')).join('|')}|`,
  ...table.slice(1).map((cells) => `| ${cells.join(' | ')} |`),
  '',
  '| target | measured | met |',
  '|---|---:|:---:|',
  ...targets.map((t) => `| ${t.target} | ${t.measured} | ${t.met === null ? '–' : t.met ? 'yes' : 'no'} |`),
].join('\n')

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
}
const report = {
  date: new Date().toISOString(),
  machine,
  settings: {
    seconds: SECONDS,
    warmupSeconds: WARMUP_MS / 1000,
    rssIssuances: RSS_ISSUANCES,
    listRows: LIST_ROWS,
  },
  durationSeconds: Math.round((Date.now() - started) / 1000),
  rows,
  targets,
  markdown,
}
mkdirSync(RESULTS_DIR, { recursive: true })
writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`)
process.stdout.write(
  `\n${markdown}\n\n${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ${report.durationSeconds} s\n`,
)
rmSync(work, { recursive: true, force: true })
