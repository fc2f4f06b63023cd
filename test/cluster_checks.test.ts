import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { pino } from 'pino'
import { BrokerClient, BrokerError as ClientBrokerError } from '../src/client/index.js'
import { mayRetry, replicaAddresses } from '../src/client/replicas.js'
import { ManualClock } from '../src/clock.js'
import { ClusterMembership } from '../src/cluster/membership.js'
import { loadConfig } from '../src/config/index.js'
import { assertKekMatches } from '../src/issuer/kek_check.js'
import { SealedKeyStore } from '../src/issuer/key_store.js'
import { SigningKeys } from '../src/issuer/signing_keys.js'
import { startBroker } from '../src/server/app.js'
import { BINARY_VERSION } from '../src/storage/migrations.js'
import type { ClusterRows, Storage } from '../src/storage/ports.js'
import { openPostgresStorage } from '../src/storage/postgres/index.js'
import { BILLING, baseConfigYaml, expectBrokerError, TestBroker } from './fixtures/broker.js'
import { freePort } from './fixtures/net.js'
import { TestPki } from './fixtures/pki.js'
import { createTestDatabase, type TestDatabase } from './fixtures/postgres.js'

function captureLogger() {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>)
        done()
      },
    }),
  )
  return { logger, lines }
}

const HOUR = 3_600_000

describe('cluster checks on PostgreSQL (in process)', function () {
  this.timeout(120_000)
  let db: TestDatabase
  const opened: Storage[] = []
  const open = async () => {
    const s = await openPostgresStorage({
      driver: 'postgres',
      url: db.url,
      poolSize: 4,
      statementTimeoutMs: 5000,
    })
    opened.push(s)
    return s
  }

  before(async function () {
    db = await createTestDatabase(this)
    await (await open()).migrate(BINARY_VERSION)
  })
  after(async () => {
    for (const s of opened) await s.close()
    await db?.drop()
  })

  it('two replicas rotating at the same instant add exactly one key (the rotation lock)', async () => {
    const kek = randomBytes(32)
    const clock = new ManualClock(Date.UTC(2026, 0, 1))
    const ring = async () => {
      const keys = new SigningKeys(new SealedKeyStore((await open()).keys, kek), {
        algorithm: 'ES256',
        rotationPeriodMs: 24 * HOUR,
        publishAheadMs: HOUR,
        maxTokenLifetimeMs: () => HOUR,
        clock,
      })
      return keys
    }
    const [r1, r2, r3] = [await ring(), await ring(), await ring()]
    await Promise.all([r1.init(), r2.init(), r3.init()])
    expect((await opened[0]!.keys.list()).length).to.equal(1)
    clock.advance(24 * HOUR) // rotation is due on every replica at once
    await Promise.all([r1.maintain(), r2.maintain(), r3.maintain()])
    const keys = await opened[0]!.keys.list()
    expect(keys.length).to.equal(2)
    await Promise.all([r1.reload(), r2.reload(), r3.reload()])
    for (const r of [r1, r2, r3])
      expect(r.jwks().keys.map((k) => k.kid)).to.deep.equal(keys.map((k) => k.kid))
  })

  it('a KEK that opens none of the stored keys is refused with what to do; the right one passes', async () => {
    const storage = opened[0]!
    const kek = randomBytes(32)
    await new SealedKeyStore(storage.keys, kek).generate('ES256', Date.now(), Date.now())
    await assertKekMatches(storage.keys, kek, { kekFile: '/kek', location: storage.location })
    const err = await expectBrokerError(
      assertKekMatches(storage.keys, randomBytes(32), { kekFile: '/etc/kb/kek', location: storage.location }),
    )
    expect(err.code).to.equal('ERR_KEY_STORE_CORRUPT')
    expect(err.message).to.match(
      /keys\.kek_file \/etc\/kb\/kek does not match the signing keys in the database/,
    )
  })

  it('the notification port wakes a listener after another process commits a revocation', async () => {
    const listener = await open()
    const writer = await open()
    let woken = 0
    const off = listener.notifications!.on('revocation', () => woken++)
    await waitFor(() => listener.notifications!.listening, 10_000)
    const before = woken
    await writer.revocations.add([
      {
        jti: `j-${randomBytes(4).toString('hex')}`,
        subject: null,
        issuer: null,
        kid: null,
        reason: null,
        not_after: 2e9,
        revoked_at: Date.now(),
      },
    ])
    await waitFor(() => woken > before, 5_000)
    off()
  })

  it('a replica whose clock is 30 s off the database logs a warning at start', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'kb-skew-'))
    // its own database: the keys above are sealed under other KEKs
    const own = await createTestDatabase(this)
    try {
      const pki = await TestPki.create(join(dir, 'pki'))
      const file = join(dir, 'kb.yaml')
      writeFileSync(
        file,
        `${baseConfigYaml(dir, pki).replace(/^storage:.*$/m, '')}\nstorage: { driver: postgres, url: "${own.url}", pool_size: 2 }\n`,
      )
      const { logger, lines } = captureLogger()
      const broker = await startBroker(loadConfig(file), {
        logger,
        clock: { now: () => Date.now() - 30_000 },
        shutdownGraceMs: 1000,
      })
      await broker.close()
      const warning = lines.find((l) => String(l.msg).includes('clock is'))
      expect(warning, JSON.stringify(lines.map((l) => l.msg))).to.exist
      expect(warning!.level).to.equal(40)
      expect(warning!.clock_offset_ms as number).to.be.greaterThan(25_000)
      expect(String(warning!.msg)).to.match(/30\.\d s behind the database/)
      // node_id is a base field of every line
      expect(lines.every((l) => typeof l.node_id === 'string')).to.equal(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
      await own.drop()
    }
  })
})

describe('cluster: clock check without skew stays quiet', () => {
  it('an offset under 5 s logs nothing', async () => {
    const { logger, lines } = captureLogger()
    const rows = { databaseTime: async () => Date.now() + 1_000 } as unknown as ClusterRows
    const m = new ClusterMembership({
      cluster: rows,
      nodeId: 'n',
      version: BINARY_VERSION,
      policyHash: () => 'h',
      clock: { now: () => Date.now() },
      logger,
    })
    const offset = await m.checkClock()
    expect(offset).to.be.within(0, 2_000)
    expect(lines).to.deep.equal([])
  })
})

describe('SDK failover (unit)', () => {
  it('replica addresses: a list, comma-separated, or one dns:/// name', () => {
    expect(replicaAddresses(['a:1', 'b:2'])).to.deep.equal(['a:1', 'b:2'])
    expect(replicaAddresses('a:1, b:2')).to.deep.equal(['a:1', 'b:2'])
    expect(replicaAddresses('dns:///kb.svc:7443')).to.deep.equal(['dns:///kb.svc:7443'])
    expect(() => replicaAddresses(['dns:///x:1', 'a:1'])).to.throw(/either a list of host:port or one dns/)
  })

  it('retries only UNAVAILABLE; FetchSecret only when no connection ever carried it', () => {
    const refused = {
      grpcCode: grpc.status.UNAVAILABLE,
      message: 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1',
    }
    const dropped = { grpcCode: grpc.status.UNAVAILABLE, message: 'Connection dropped' }
    const audit = { grpcCode: grpc.status.UNAVAILABLE, message: 'audit log unavailable' }
    expect(mayRetry('IssueToken', dropped)).to.equal(true)
    expect(mayRetry('WhoAmI', audit)).to.equal(true)
    expect(mayRetry('GetJwks', refused)).to.equal(true)
    expect(mayRetry('FetchSecret', refused)).to.equal(true)
    expect(mayRetry('FetchSecret', dropped)).to.equal(false)
    expect(mayRetry('FetchSecret', audit)).to.equal(false)
    expect(mayRetry('IssueToken', { grpcCode: grpc.status.PERMISSION_DENIED, message: 'no' })).to.equal(false)
  })
})

describe('SDK failover against a real broker', function () {
  this.timeout(120_000)
  let t: TestBroker

  before(async () => {
    t = await TestBroker.start()
  })
  after(async () => {
    await t?.close()
  })

  it('with a dead replica first in the list, every call lands on the live one', async () => {
    const dead = `127.0.0.1:${await freePort()}`
    const billing = await t.pki.spiffe('billing', BILLING)
    const sdk = new BrokerClient({
      address: [dead, t.address],
      tls: { caFile: t.pki.caFile, certFile: billing.cert, keyFile: billing.key, serverName: 'localhost' },
      deadlineMs: 20_000,
    })
    try {
      for (let i = 0; i < 4; i++) {
        expect((await sdk.whoami()).subject).to.equal(BILLING)
        const token = await sdk.token({ audience: 'payments-api', ttlSeconds: 60 + i })
        expect(await t.broker.log.findByTokenId(token.tokenId)).to.have.length(1)
        expect(JSON.parse(await sdk.jwks()).keys).to.have.length(1)
        // FetchSecret to the refused replica never left: it is retried on the live one, which
        // answers with its considered refusal (no such secret), not UNAVAILABLE
        const err = (await sdk.secret('no-such-secret').then(
          () => undefined,
          (e: unknown) => e,
        )) as ClientBrokerError
        expect(err).to.be.instanceOf(ClientBrokerError)
        expect(err.grpcCode).to.not.equal(grpc.status.UNAVAILABLE)
      }
    } finally {
      sdk.close()
    }
  })
})

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > until) throw new Error(`condition not met in ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
