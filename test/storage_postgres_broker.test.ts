import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { verifyChain } from '../src/audit/index.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { MIGRATIONS } from '../src/storage/migrations.js'
import { BILLING, baseConfigYaml, runCli, TestBroker, unary } from './fixtures/broker.js'
import { eventually } from './fixtures/net.js'
import { startFakePgServer } from './fixtures/pg_fake_server.js'
import {
  createTestDatabase,
  type FaultProxy,
  psql,
  startFaultProxy,
  type TestDatabase,
} from './fixtures/postgres.js'

/**
 * The broker itself on PostgreSQL (issue 12's bad inputs end to end): refused starts that name what
 * failed and never the password, fail-closed under an outage with recovery on its own, two brokers
 * migrating one empty database at once, a database needing a newer binary, and tampering with
 * psql found by verify.
 */
describe('broker on PostgreSQL: outages, refused starts, tampering', function () {
  this.timeout(120_000)
  let db: TestDatabase

  beforeEach(async function () {
    db = await createTestDatabase(this)
  })
  afterEach(async () => {
    await db?.drop()
  })

  const pgYaml =
    (url: string, extra = '') =>
    (dir: string, pki: Parameters<typeof baseConfigYaml>[1]) =>
      baseConfigYaml(dir, pki).replace(
        /^storage: .*$/m,
        `storage: { driver: postgres, url: "${url}", pool_size: 4, statement_timeout: 2s${extra} }`,
      )

  async function issueOnce(t: TestBroker): Promise<IssueTokenResponse__Output> {
    const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(
      t.brokerClient(await t.pki.spiffe('billing', BILLING)),
      'IssueToken',
    )
    return issue({ audience: 'payments-api', scopes: ['payments:read'] })
  }

  it('a wrong password refuses the start, naming the user and never the password', async () => {
    const fake = await startFakePgServer()
    try {
      const password = 'correct-horse-battery-staple'
      const err = await TestBroker.start({
        configYaml: pgYaml(`postgres://keybroker:${password}@127.0.0.1:${fake.port}/keybroker`),
      }).then(
        () => undefined,
        (e: Error) => e,
      )
      expect(err, 'start must be refused').to.be.instanceOf(Error)
      expect(err!.message).to.match(/password|authentication/i)
      expect(err!.message).to.contain('keybroker')
      expect(err!.message).to.not.contain(password)
      expect(fake.passwords).to.include(password)
    } finally {
      await fake.close()
    }
  })

  it('a database that does not exist refuses the start naming it', async () => {
    const err = await TestBroker.start({
      configYaml: pgYaml('postgres://postgres@127.0.0.1:5432/kb_no_such_database'),
    }).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(err?.message).to.contain('kb_no_such_database')
  })

  it('a database whose schema needs a newer binary refuses the start, naming both versions', async () => {
    const t = await TestBroker.start({ configYaml: pgYaml(db.url) })
    await t.stop()
    await psql(
      db.name,
      `INSERT INTO schema_migrations (version, name, min_binary, applied_at) VALUES (99, 'future', '9.0.0', 0)`,
    )
    const err = await TestBroker.start({
      configYaml: pgYaml(db.url),
      reuse: { dir: t.dir, pki: t.pki },
    }).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(err?.message).to.contain('9.0.0').and.contain('0.2.0').and.contain('version 99')
  })

  it('two brokers starting at once against an empty database: one migrates, both serve', async () => {
    // replicas of one broker share the KEK (a replica with another KEK is refused: its own test)
    const kek = join(mkdtempSync(join(tmpdir(), 'kb-kek-')), 'kek')
    writeFileSync(kek, randomBytes(32).toString('base64'), { mode: 0o600 })
    const shared = (dir: string, pki: Parameters<typeof baseConfigYaml>[1]) =>
      pgYaml(db.url)(dir, pki).replace(`kek_file: ${join(dir, 'kek')}`, `kek_file: ${kek}`)
    const [a, b] = await Promise.all([
      TestBroker.start({ configYaml: shared }),
      TestBroker.start({ configYaml: shared }),
    ])
    try {
      const [x, y] = await Promise.all([issueOnce(a), issueOnce(b)])
      expect(x.token).to.be.a('string')
      expect(y.token).to.be.a('string')
      const migrations = await psql<{ n: string }>(db.name, 'SELECT count(*) AS n FROM schema_migrations')
      expect(Number(migrations[0]!.n), 'each migration applied once').to.equal(MIGRATIONS.length)
      expect(a.broker.nodeId).to.not.equal(b.broker.nodeId)
      expect((await verifyChain(a.broker.storage.reader)).ok).to.equal(true)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('a replica whose KEK cannot unseal the stored keys refuses to start, saying so', async () => {
    const first = await TestBroker.start({ configYaml: pgYaml(db.url) })
    await first.close()
    const err = await TestBroker.start({ configYaml: pgYaml(db.url) }).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(err?.message).to.match(/keys\.kek_file .* does not match the signing keys in the database/)
  })

  describe('PostgreSQL unreachable under load (a loopback fault proxy, never the shared server)', () => {
    let proxy: FaultProxy
    let t: TestBroker
    beforeEach(async () => {
      proxy = await startFaultProxy(5432)
      t = await TestBroker.start({ configYaml: pgYaml(db.urlVia(proxy.port)) })
    })
    afterEach(async () => {
      await t?.close().catch(() => {})
      await proxy?.close()
    })

    it('refuses with UNAVAILABLE before write_timeout + slack and no token; not ready; recovers by itself', async () => {
      const before = await issueOnce(t)
      expect(before.token).to.be.a('string')
      proxy.pause()
      const started = Date.now()
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => issueOnce(t)))
      const elapsed = Date.now() - started
      for (const r of results) {
        expect(r.status, 'no token while the database is unreachable').to.equal('rejected')
        const err = (r as PromiseRejectedResult).reason as grpc.ServiceError
        expect(err.code).to.equal(grpc.status.UNAVAILABLE)
        expect(err.details).to.match(/^audit log unavailable: .*; no credential was issued$/)
      }
      // write_timeout is 1 s in the test config; generous slack for a loaded machine
      expect(elapsed).to.be.below(15_000)
      const ready = await fetch(`${t.httpUrl}/readyz`, { signal: AbortSignal.timeout(10_000) }).catch(
        () => undefined,
      )
      if (ready) expect(ready.status).to.equal(503)
      proxy.cut()
      proxy.resume()
      // back: the next calls are served and chained onto the last committed row, no restart
      let served: IssueTokenResponse__Output | undefined
      await eventually(
        async () => {
          served = await issueOnce(t).catch(() => undefined)
          return served !== undefined
        },
        30_000,
        'recovery after the database returned',
      )
      expect((await t.broker.log.findByTokenId(served!.token_id)).length).to.equal(1)
      expect((await verifyChain(t.broker.storage.reader)).ok).to.equal(true)
    })
  })

  describe('verify after tampering with psql', () => {
    let t: TestBroker
    beforeEach(async () => {
      t = await TestBroker.start({ configYaml: pgYaml(db.url) })
      for (let i = 0; i < 6; i++) await issueOnce(t)
    })
    afterEach(async () => {
      await t?.close()
    })

    const nth = async (seq: number) =>
      (
        await psql<{ id: string }>(db.name, 'SELECT id FROM exchanges WHERE node_id = $1 AND seq = $2', [
          t.broker.nodeId,
          seq,
        ])
      )[0]!.id

    it('an edited row is named', async () => {
      const id = await nth(3)
      await psql(db.name, `UPDATE exchanges SET decision = 'deny' WHERE node_id = $1 AND seq = 3`, [
        t.broker.nodeId,
      ])
      const result = await verifyChain(t.broker.storage.reader)
      expect(result).to.include({
        ok: false,
        firstBadSeq: 3,
        firstBadId: id,
        firstBadNodeId: t.broker.nodeId,
      })
      expect(result.problem).to.match(/hash mismatch/)
    })

    it('a deleted row is named (the row after the gap)', async () => {
      const id = await nth(4)
      await psql(db.name, 'DELETE FROM exchanges WHERE node_id = $1 AND seq = 3', [t.broker.nodeId])
      const result = await verifyChain(t.broker.storage.reader)
      expect(result).to.include({ ok: false, firstBadSeq: 4, firstBadId: id })
    })

    it('two rows swapped (contents exchanged) are found', async () => {
      await psql(
        db.name,
        `UPDATE exchanges e SET token_id = o.token_id FROM exchanges o
         WHERE e.node_id = $1 AND o.node_id = $1 AND ((e.seq = 2 AND o.seq = 5) OR (e.seq = 5 AND o.seq = 2))`,
        [t.broker.nodeId],
      )
      const result = await verifyChain(t.broker.storage.reader)
      expect(result.ok).to.equal(false)
      expect(result.firstBadSeq).to.equal(2)
    })

    it('a truncated tail is found through the head', async () => {
      const head = (
        await psql<{ seq: string }>(db.name, 'SELECT seq FROM audit_heads WHERE node_id = $1', [
          t.broker.nodeId,
        ])
      )[0]!
      await psql(db.name, 'DELETE FROM exchanges WHERE node_id = $1 AND seq = $2', [
        t.broker.nodeId,
        Number(head.seq),
      ])
      const result = await verifyChain(t.broker.storage.reader)
      expect(result).to.include({ ok: false, firstBadSeq: Number(head.seq) })
    })

    it('`keybroker audit verify --config` on the PostgreSQL store exits 1 naming the row', async () => {
      const id = await nth(2)
      await psql(
        db.name,
        `UPDATE exchanges SET subject = 'spiffe://example.org/x' WHERE node_id = $1 AND seq = 2`,
        [t.broker.nodeId],
      )
      const configFile = join(t.dir, 'verify.yaml')
      writeFileSync(configFile, pgYaml(db.url)(t.dir, t.pki))
      const cli = await runCli(['audit', 'verify', '--config', configFile])
      expect(cli.code, cli.stdout + cli.stderr).to.equal(1)
      expect(cli.stdout + cli.stderr).to.contain(id)
    })
  })
})
