import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { BrokerClient } from '../src/client/index.js'
import type { Exchange__Output } from '../src/generated/keybroker/v1/Exchange.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import type { ListExchangesResponse__Output } from '../src/generated/keybroker/v1/ListExchangesResponse.js'
import { LISTENER_APPLICATION_NAME } from '../src/storage/postgres/notifications.js'
import { ADMIN, AGENT, BILLING, expectGrpcError, runCli, unary } from './fixtures/broker.js'
import { ClusterFixture, type Replica } from './fixtures/cluster.js'
import { eventually } from './fixtures/net.js'
import type { CertFiles } from './fixtures/pki.js'
import {
  createTestDatabase,
  type FaultProxy,
  psql,
  startFaultProxy,
  type TestDatabase,
} from './fixtures/postgres.js'

/*
 * Several real `keybroker serve` processes on one PostgreSQL database. Everything is asserted
 * with slack (the machine may be loaded): propagation "within 5 s", recovery "within 30 s".
 */

interface Certs {
  admin: CertFiles
  billing: CertFiles
  agent: CertFiles
}

async function certsOf(cluster: ClusterFixture): Promise<Certs> {
  return {
    admin: await cluster.pki.spiffe('admin', ADMIN),
    billing: await cluster.pki.spiffe('billing', BILLING),
    agent: await cluster.pki.spiffe('agent', AGENT),
  }
}

function issue(r: Replica, cert: CertFiles, audience = 'payments-api', scopes = ['payments:read']) {
  return unary<object, IssueTokenResponse__Output>(r.brokerClient(cert), 'IssueToken')({ audience, scopes })
}

function sdkFor(cluster: ClusterFixture, cert: CertFiles, replicas: Replica[], deadlineMs = 10_000) {
  return new BrokerClient({
    address: replicas.map((r) => r.address),
    tls: { caFile: cluster.pki.caFile, certFile: cert.cert, keyFile: cert.key, serverName: 'localhost' },
    deadlineMs,
  })
}

/** Drive `sdk.token` with distinct requests (no cache hits) from `workers` loops until `stop()`. */
function load(sdk: BrokerClient, workers: number) {
  const received: string[] = []
  const failures: Error[] = []
  let longestMs = 0
  let running = true
  let n = 0
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const i = n++
      // ttl and scopes vary so every call is a real IssueToken, never a cache hit
      const scopes = [['payments:read'], ['payments:write'], ['payments:read', 'payments:write']][i % 3]!
      const started = Date.now()
      try {
        const token = await sdk.token({
          audience: 'payments-api',
          scopes,
          ttlSeconds: 60 + Math.floor(i / 3),
        })
        received.push(token.tokenId)
      } catch (err) {
        failures.push(err as Error)
      }
      longestMs = Math.max(longestMs, Date.now() - started)
    }
  })
  return {
    received,
    failures,
    get longestMs() {
      return longestMs
    },
    async stop() {
      running = false
      await Promise.all(loops)
    },
  }
}

async function auditedTokenIds(db: TestDatabase, ids: string[]): Promise<Set<string>> {
  const rows = await psql<{ token_id: string }>(
    db.name,
    `SELECT token_id FROM exchanges WHERE kind = 'issue' AND decision = 'allow' AND token_id = ANY($1)`,
    [ids],
  )
  return new Set(rows.map((r) => r.token_id))
}

describe('cluster: replicas on one PostgreSQL database', function () {
  this.timeout(180_000)
  let db: TestDatabase
  let cluster: ClusterFixture
  let certs: Certs
  let a: Replica
  let b: Replica

  before(async function () {
    this.timeout(180_000)
    db = await createTestDatabase(this)
    cluster = await ClusterFixture.create()
    certs = await certsOf(cluster)
    // started at the same instant on an empty database: both migrate, both create "the first key"
    ;[a, b] = await Promise.all([cluster.start('a', { url: db.url }), cluster.start('b', { url: db.url })])
  })

  after(async function () {
    this.timeout(60_000)
    await cluster?.close()
    await db?.drop()
  })

  it('two replicas creating the first key at the same instant leave one key, published by both', async () => {
    // signing keys only (the log's checkpoint key lives in the same table, never in JWKS)
    const keys = await psql<{ kid: string }>(
      db.name,
      "SELECT kid FROM signing_keys WHERE kid NOT LIKE 'kb-checkpoint-%'",
    )
    expect(keys).to.have.length(1)
    const jwksA = JSON.parse((await a.get('/.well-known/jwks.json')).body) as { keys: Array<{ kid: string }> }
    const jwksB = JSON.parse((await b.get('/.well-known/jwks.json')).body) as { keys: Array<{ kid: string }> }
    expect(jwksA.keys.map((k) => k.kid)).to.deep.equal([keys[0]!.kid])
    expect(jwksB.keys.map((k) => k.kid)).to.deep.equal([keys[0]!.kid])
  })

  it('a token minted by A verifies against B’s JWKS, and each replica is its own audit chain', async () => {
    const minted = await issue(a, certs.billing)
    const jwks = createLocalJWKSet(JSON.parse((await b.get('/.well-known/jwks.json')).body))
    const { payload } = await jwtVerify(minted.token, jwks, {
      issuer: 'https://keybroker.test',
      audience: 'payments-api',
    })
    expect(payload.jti).to.equal(minted.token_id)
    expect(a.nodeId).to.not.equal(b.nodeId)
    const [row] = await psql<{ node_id: string }>(
      db.name,
      'SELECT node_id FROM exchanges WHERE token_id = $1',
      [minted.token_id],
    )
    expect(row!.node_id).to.equal(a.nodeId)
  })

  it('a token revoked through A is refused by B (DelegateToken) within 5 s', async () => {
    const parent = await issue(a, certs.agent, 'search-api', ['search:read'])
    const delegate = unary<object, IssueTokenResponse__Output>(b.brokerClient(certs.agent), 'DelegateToken')
    // B accepts it before the revocation
    await delegate({ parent_token: parent.token, actor: 'sub-agent-1' })
    await unary(a.adminClient(certs.admin), 'RevokeTokens')({ token_id: parent.token_id, reason: 'test' })
    await eventually(
      async () => {
        const err = await expectGrpcError(
          delegate({ parent_token: parent.token, actor: 'sub-agent-2' }),
        ).catch(() => undefined)
        return err?.code === grpc.status.PERMISSION_DENIED || err?.code === grpc.status.UNAUTHENTICATED
      },
      5_000,
      'B to refuse a token revoked on A',
    )
  })

  it('ListExchanges and WatchExchanges on A see the rows B writes', async () => {
    const adminA = a.adminClient(certs.admin)
    const seen: Exchange__Output[] = []
    const watch = adminA.WatchExchanges({ subject: BILLING })
    watch.on('data', (row: Exchange__Output) => seen.push(row))
    watch.on('error', () => {})
    try {
      // the broker sends headers once the watch has its cursor: write on B only then
      await new Promise((resolve) => watch.once('metadata', resolve))
      const minted = await issue(b, certs.billing, 'payments-api', ['payments:write'])
      await eventually(
        () => seen.some((r) => r.token_id === minted.token_id),
        5_000,
        'A’s watch to see B’s row',
      )
      expect(seen.find((r) => r.token_id === minted.token_id)!.node_id).to.equal(b.nodeId)
      const page = await unary<object, ListExchangesResponse__Output>(
        adminA,
        'ListExchanges',
      )({
        token_id: minted.token_id,
      })
      expect(page.exchanges.map((e) => e.node_id)).to.include(b.nodeId)
    } finally {
      watch.cancel()
    }
  })

  it('every replica reports its node id and policy hash in /metrics, and they agree', async () => {
    const metricsA = (await a.get('/metrics')).body
    const metricsB = (await b.get('/metrics')).body
    const hashOf = (text: string, node: string) =>
      new RegExp(`keybroker_node_info\\{node_id="${node}",policy_hash="([0-9a-f]+)"`).exec(text)?.[1]
    const hashA = hashOf(metricsA, a.nodeId)
    expect(
      hashA,
      metricsA
        .split('\n')
        .filter((l) => l.includes('node_info'))
        .join('\n'),
    ).to.match(/^[0-9a-f]{16}$/)
    expect(hashOf(metricsB, b.nodeId)).to.equal(hashA)
    expect(metricsA).to.match(/keybroker_cluster_notifications_listening 1/)
    expect(metricsA).to.match(/keybroker_cluster_policy_disagreements 0/)
    // an admin row records which policy answered
    await unary(a.adminClient(certs.admin), 'ListExchanges')({ limit: 1 })
    const [adminRow] = await psql<{ detail: string }>(
      db.name,
      `SELECT detail FROM exchanges WHERE kind = 'admin' AND node_id = $1 ORDER BY seq DESC LIMIT 1`,
      [a.nodeId],
    )
    expect(JSON.parse(adminRow!.detail).policy_hash).to.equal(hashA)
  })

  it('revocations still reach B when its notification connection keeps being dropped (the poll)', async () => {
    const parent = await issue(a, certs.agent, 'search-api', ['search:read'])
    const delegate = unary<object, IssueTokenResponse__Output>(b.brokerClient(certs.agent), 'DelegateToken')
    // kill every LISTEN connection, again and again, for the whole test
    let dropping = true
    const dropper = (async () => {
      while (dropping) {
        await psql(
          'postgres',
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2',
          [db.name, LISTENER_APPLICATION_NAME],
        ).catch(() => {})
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    try {
      await eventually(
        () => b.logs('notification connection is down').length > 0,
        10_000,
        'B to notice its notification connection is gone',
      ).catch((err: Error) => {
        throw new Error(`${err.message}; B's log:\n${b.output().slice(-3000)}`)
      })
      await unary(
        a.adminClient(certs.admin),
        'RevokeTokens',
      )({ token_id: parent.token_id, reason: 'poll test' })
      await eventually(
        async () => {
          const err = await expectGrpcError(delegate({ parent_token: parent.token, actor: 'x' })).catch(
            () => undefined,
          )
          return err !== undefined && err.code !== grpc.status.UNAVAILABLE
        },
        5_000,
        'B to refuse the revoked token without notifications',
      )
      expect(b.logs('notification connection is down')).to.not.be.empty
    } finally {
      dropping = false
      await dropper
    }
    // and it comes back on its own
    await eventually(
      async () => /keybroker_cluster_notifications_listening 1/.test((await b.get('/metrics')).body),
      15_000,
      'B to listen again',
    )
  })

  it('SIGKILL of one replica under SDK load through both: no failed IssueToken, every token audited, audit verify passes', async () => {
    const sdk = sdkFor(cluster, certs.billing, [a, b], 15_000)
    const driver = load(sdk, 8)
    try {
      await eventually(() => driver.received.length >= 40, 30_000, 'load to be running on both replicas')
      await b.kill()
      const atKill = driver.received.length
      await eventually(() => driver.received.length >= atKill + 60, 30_000, 'load to continue on A alone')
    } finally {
      await driver.stop()
      sdk.close()
    }
    expect(driver.failures.map((e) => e.message)).to.deep.equal([])
    const audited = await auditedTokenIds(db, driver.received)
    const missing = driver.received.filter((id) => !audited.has(id))
    expect(missing, 'tokens received without an audit row').to.deep.equal([])
    const verify = await runCli(['audit', 'verify', '--config', a.configFile], { timeoutMs: 120_000 })
    expect(verify.code, verify.stdout + verify.stderr).to.equal(0)
    // B comes back as a new chain; the cluster serves through both again
    b = await cluster.start('b2', { url: db.url })
    expect((await issue(b, certs.billing)).token).to.be.a('string')
  })
})

describe('cluster: PostgreSQL unreachable under load (fault proxy)', function () {
  this.timeout(240_000)
  let db: TestDatabase
  let cluster: ClusterFixture
  let proxy: FaultProxy
  let certs: Certs

  before(async function () {
    this.timeout(180_000)
    db = await createTestDatabase(this)
    cluster = await ClusterFixture.create()
    certs = await certsOf(cluster)
    proxy = await startFaultProxy(5432)
  })

  after(async function () {
    this.timeout(60_000)
    await cluster?.close()
    await proxy?.close()
    await db?.drop()
  })

  it('both replicas recover on their own after the database was cut and paused', async () => {
    const url = db.urlVia(proxy.port)
    const [c, d] = await Promise.all([cluster.start('c', { url }), cluster.start('d', { url })])
    const sdk = sdkFor(cluster, certs.billing, [c, d], 3_000)
    const driver = load(sdk, 4)
    try {
      await eventually(() => driver.received.length >= 20, 30_000, 'load running')
      proxy.pause()
      await new Promise((r) => setTimeout(r, 3_000))
      proxy.cut()
      proxy.resume()
      proxy.cut()
    } finally {
      await driver.stop()
      sdk.close()
    }
    // refusals during the outage are allowed (fail closed); every token handed out was audited
    const audited = await auditedTokenIds(db, driver.received)
    expect(driver.received.filter((id) => !audited.has(id))).to.deep.equal([])
    for (const r of [c, d]) {
      await eventually(
        async () => {
          const ok = await issue(r, certs.billing).then(
            () => true,
            () => false,
          )
          return ok && (await r.get('/readyz')).status === 200
        },
        30_000,
        `replica ${r.name} to serve again`,
      )
    }
    const verify = await runCli(['audit', 'verify', '--config', c.configFile], { timeoutMs: 120_000 })
    expect(verify.code, verify.stdout + verify.stderr).to.equal(0)
  })
})

describe('cluster: a misconfigured replica is refused', function () {
  this.timeout(180_000)
  let db: TestDatabase
  let cluster: ClusterFixture

  before(async function () {
    this.timeout(120_000)
    db = await createTestDatabase(this)
    cluster = await ClusterFixture.create()
    const first = await cluster.start('first', { url: db.url })
    await first.stop()
  })

  after(async function () {
    this.timeout(60_000)
    await cluster?.close()
    await db?.drop()
  })

  it('another KEK: refused at start, saying the KEK does not match the keys in the database', async () => {
    const otherKek = `${cluster.dir}/other-kek`
    const config = cluster.writeConfig('wrong-kek', { url: db.url, kekFile: otherKek })
    const run = await runCli(['serve', '--config', config], { timeoutMs: 120_000 })
    expect(run.code).to.equal(1)
    expect(run.stderr).to.match(/keys\.kek_file .*other-kek does not match the signing keys in the database/)
    expect(run.stderr).to.match(/same KEK/)
  })

  it('another issuer: refused at start, naming both issuers', async () => {
    const config = cluster.writeConfig('wrong-issuer', { url: db.url, issuer: 'https://other.test' })
    const run = await runCli(['serve', '--config', config], { timeoutMs: 120_000 })
    expect(run.code).to.equal(2)
    expect(run.stderr).to.match(
      /created for issuer https:\/\/keybroker\.test, but the config says issuer https:\/\/other\.test/,
    )
  })

  it('a replica with another policy warns that replicas disagree', async () => {
    const steady = await cluster.start('steady', { url: db.url })
    const drifted = await cluster.start('drifted', {
      url: db.url,
      grantsYaml: `  - name: extra
    match: { spiffe_id: "spiffe://example.org/ns/extra/sa/x" }
    tokens: [ { audience: extra-api } ]`,
    })
    // replicas of earlier tests may still count as live for a heartbeat window: look at `steady`
    const warning = drifted
      .logs('replicas disagree on policy')
      .filter((w) => w.peer_node_id === steady.nodeId)
    expect(warning, drifted.output()).to.have.length(1)
    expect((await drifted.get('/metrics')).body).to.match(/keybroker_cluster_policy_disagreements [1-9]/)
  })
})
