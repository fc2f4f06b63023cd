import { closeSync, openSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import Database from 'better-sqlite3'
import { expect } from 'chai'
import { pino } from 'pino'
import { Agent, fetch } from 'undici'
import { CheckpointFile, openCheckpoint } from '../src/audit/checkpoint/index.js'
import { loadConfig } from '../src/config/index.js'
import type { BrokerClient } from '../src/generated/keybroker/v1/Broker.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { loadBrokerProto } from '../src/proto/load.js'
import { startBroker } from '../src/server/app.js'
import { sqliteWriterStatements } from '../src/storage/sqlite/index.js'
import {
  BILLING,
  expectBrokerError,
  expectGrpcError,
  runCli,
  spawnBroker,
  TestBroker,
  unary,
} from './fixtures/broker.js'
import { eventually } from './fixtures/net.js'
import type { CertFiles } from './fixtures/pki.js'
import { SqliteProcess } from './fixtures/sqlite_process.js'

const CHECKPOINTS = 'storage: { checkpoint_every: { rows: 100, interval: 1h } }'
const REQUEST: IssueTokenRequest = { audience: 'payments-api', scopes: ['payments:read'] }

async function getJson(
  t: { pki: TestBroker['pki'] },
  url: string,
): Promise<{ status: number; body: Record<string, string> }> {
  const res = await fetch(url, { dispatcher: new Agent({ connect: { ca: t.pki.ca.certPem } }) })
  return { status: res.status, body: (await res.json()) as Record<string, string> }
}

describe('durability: faults of the audit database', function () {
  this.timeout(180_000)

  it('flipped bytes mid-file: start refused naming the damage; audit verify exits 2 "database damaged at page …", no stack trace', async () => {
    const t = await TestBroker.start()
    const { dir } = t
    const db = join(dir, 'keybroker.db')
    try {
      const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(
        t.brokerClient(await t.pki.spiffe('billing', BILLING)),
        'IssueToken',
      )
      for (let i = 0; i < 150; i++) await issue(REQUEST)
      await t.stop() // the WAL is folded into the file
      const probe = new Database(db, { readonly: true })
      const pageSize = probe.pragma('page_size', { simple: true }) as number
      const pages = probe.pragma('page_count', { simple: true }) as number
      probe.close()
      expect(pages, 'enough pages to damage one in the middle').to.be.above(8)
      // overwrite the b-tree page header of a page in the middle, as a bad sector or a stray write would
      const page = Math.floor(pages / 2)
      const fd = openSync(db, 'r+')
      writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, (page - 1) * pageSize)
      closeSync(fd)

      const refused = await expectBrokerError(
        startBroker(loadConfig(t.configFile), { logger: pino({ level: 'silent' }) }),
      )
      expect(refused.code).to.equal('ERR_CONFIG')
      expect(refused.message).to.match(
        new RegExp(
          `the audit database ${db} is damaged at (page \\d+|seq \\d+ of chain [\\w.-]+|(table|index) \\w+)`,
        ),
      )
      expect(refused.message).to.contain('PRAGMA quick_check')
      expect(refused.message).to.contain('restore it from backup')

      const verify = await runCli(['audit', 'verify', '--db', db])
      expect(verify.code, verify.stderr).to.equal(2)
      expect(verify.stderr, verify.stderr).to.match(
        /^database damaged at (page \d+|seq \d+ of chain [\w.-]+|(table|index) \w+): /,
      )
      expect(verify.stderr).to.not.match(/\n\s+at /)
      expect(verify.stdout).to.equal('')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('deleted WAL after kill -9 under load: audit verify fails against the checkpoint; the restart is refused', async () => {
    // a real `keybroker serve` process, killed mid-load
    const setup = await TestBroker.start({ extraYaml: CHECKPOINTS })
    await setup.stop()
    const { dir, pki, configFile } = setup
    const db = join(dir, 'keybroker.db')
    const child = await spawnBroker(configFile)
    const reader = await SqliteProcess.open(db)
    try {
      // pin the WAL: nothing committed from here on reaches the main file until the reader ends
      await reader.snapshot()
      const billing: CertFiles = await pki.spiffe('billing', BILLING)
      const proto = loadBrokerProto()
      const client = new proto.keybroker.v1.Broker(
        `127.0.0.1:${child.grpcPort}`,
        grpc.credentials.createSsl(
          Buffer.from(pki.ca.certPem),
          Buffer.from(billing.keyPem),
          Buffer.from(billing.certPem),
        ),
        { 'grpc.ssl_target_name_override': 'localhost' },
      ) as unknown as BrokerClient
      const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(
        client as unknown as grpc.Client,
        'IssueToken',
      )
      let acknowledged = 0
      let stop = false
      const load = Promise.all(
        Array.from({ length: 16 }, async () => {
          while (!stop) {
            try {
              await issue(REQUEST)
              acknowledged++
            } catch {
              return // the process is gone
            }
          }
        }),
      )
      const file = new CheckpointFile(join(dir, 'keybroker.checkpoints'))
      await eventually(async () => (await file.readAll()).length >= 4, 60_000, 'three checkpoints under load')
      child.child.kill('SIGKILL')
      stop = true
      await load
      client.close()
      await reader.kill()
      rmSync(`${db}-wal`, { force: true })
      rmSync(`${db}-shm`, { force: true })
      expect(acknowledged).to.be.above(200)

      const newest = (await file.readAll()).at(-1)!
      const vouched = await openCheckpoint(newest)
      const verify = await runCli(['audit', 'verify', '--config', configFile])
      expect(verify.code, verify.stdout + verify.stderr).to.equal(1)
      expect(verify.stderr).to.contain(
        `does NOT match checkpoint ${file.path} line ${newest.line} (log ${vouched.log_id}`,
      )
      expect(verify.stderr).to.match(/but the checkpoint vouches for seq \d+: rows were lost/)

      const refused = await expectBrokerError(
        startBroker(loadConfig(configFile), { logger: pino({ level: 'silent' }) }),
      )
      expect(refused.message).to.contain(`does not match checkpoint ${file.path}`)
    } finally {
      child.child.kill('SIGKILL')
      await reader.kill()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  describe('a running broker', () => {
    let t: TestBroker
    let billing: CertFiles
    let free: number | undefined = 10 * 2 ** 30

    before(async () => {
      // audit.write_timeout is 1s in the test config
      t = await TestBroker.start({ freeSpace: async () => free })
      billing = await t.pki.spiffe('billing', BILLING)
    })
    after(() => t.close())

    const readyz = () => getJson(t, `${t.httpUrl}/readyz`)

    it('DB locked for 10 s under 16 callers: each refusal within write_timeout + 1 s, /healthz answers throughout, /readyz not ready then ready', async () => {
      const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(
        t.brokerClient(billing),
        'IssueToken',
      )
      await issue(REQUEST)
      const locker = await SqliteProcess.open(t.broker.config.audit.path)
      const refusals: number[] = []
      const healthz: number[] = []
      const readyStates: number[] = []
      let locked = true
      try {
        await locker.lock()
        const lockedUntil = Date.now() + 10_000
        const callers = Array.from({ length: 16 }, async () => {
          while (Date.now() < lockedUntil - 2500) {
            const started = performance.now()
            const err = await expectGrpcError(issue(REQUEST))
            refusals.push(performance.now() - started)
            expect(err.code).to.equal(grpc.status.UNAVAILABLE)
            expect(err.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_AUDIT_UNAVAILABLE'])
          }
        })
        const probes = (async () => {
          while (Date.now() < lockedUntil) {
            const started = performance.now()
            const res = await getJson(t, `${t.httpUrl}/healthz`)
            healthz.push(performance.now() - started)
            expect(res.status).to.equal(200)
            readyStates.push((await readyz()).status)
            await new Promise((r) => setTimeout(r, 100))
          }
        })()
        await Promise.all([...callers, probes])
      } finally {
        await locker.unlock()
        locked = false
        await locker.close()
      }
      expect(locked).to.equal(false)
      expect(refusals.length, 'calls refused while locked').to.be.above(16)
      // write_timeout 1 s + 1 s of slack for a machine shared with other work
      const sorted = [...refusals].sort((a, b) => a - b).map(Math.round)
      expect(Math.max(...refusals), `slowest refusal (ms); all: ${sorted.join(' ')}`).to.be.below(2000)
      expect(Math.max(...healthz), 'slowest /healthz while locked (ms)').to.be.below(1000)
      expect(readyStates, '/readyz said not ready while locked').to.include(503)
      await eventually(async () => (await readyz()).status === 200, 10_000, '/readyz ready after the unlock')
      expect((await issue(REQUEST)).token).to.be.a('string')
    })

    it('disk full (a real SQLITE_FULL from PRAGMA max_page_count): refused, not ready, and stays so; ready again once space returns', async () => {
      const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(
        t.brokerClient(billing),
        'IssueToken',
      )
      const storage = t.broker.storage
      const [counted] = await sqliteWriterStatements(storage, [{ sql: 'PRAGMA page_count' }])
      const pages = (counted!.rows![0] as { page_count: number }).page_count
      await sqliteWriterStatements(storage, [{ sql: `PRAGMA max_page_count = ${pages}` }])
      let err: grpc.ServiceError | undefined
      for (let i = 0; i < 2000 && !err; i++) {
        try {
          await issue(REQUEST)
        } catch (e) {
          err = e as grpc.ServiceError
        }
      }
      try {
        expect(err, 'an append hit the page limit').to.not.equal(undefined)
        expect(err!.code).to.equal(grpc.status.UNAVAILABLE)
        expect(err!.details).to.equal('audit log unavailable: SQLITE_FULL; no credential was issued')
        expect((await readyz()).body).to.deep.equal({
          status: 'unavailable',
          reason: 'audit database full: no space for new rows',
        })
        // a refusal that merely ages does not make a full database ready
        await new Promise((r) => setTimeout(r, 6000))
        expect((await readyz()).status, 'still not ready 6 s later with no traffic').to.equal(503)
      } finally {
        await sqliteWriterStatements(storage, [{ sql: 'PRAGMA max_page_count = 1073741823' }])
      }
      await eventually(async () => (await readyz()).status === 200, 5000, '/readyz ready once space returns')
      expect((await issue(REQUEST)).token).to.be.a('string')
    })

    it('free space below storage.min_free_mb (an injected reading): not ready; ready again when space returns', async () => {
      free = 10 * 2 ** 20 // 10 MiB, below the 64 MiB default
      try {
        await eventually(async () => (await readyz()).status === 503, 5000, 'not ready on low free space')
        expect((await readyz()).body.reason).to.equal(
          'audit database disk nearly full: 10 MiB free, below the 64 MiB threshold (storage.min_free_mb)',
        )
        const health = await getJson(t, `${t.httpUrl}/healthz`)
        expect(health.status, '/healthz stays up: the process is alive').to.equal(200)
      } finally {
        free = 10 * 2 ** 30
      }
      await eventually(async () => (await readyz()).status === 200, 5000, 'ready once space returns')
    })
  })
})
