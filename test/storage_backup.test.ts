import { statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { status } from '@grpc/grpc-js'
import { expect } from 'chai'
import type { DelegateTokenRequest } from '../src/generated/keybroker/v1/DelegateTokenRequest.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { openStorage } from '../src/storage/open.js'
import type { Storage } from '../src/storage/ports.js'
import { AGENT, BILLING, expectGrpcError, runCli, TestBroker, unary } from './fixtures/broker.js'
import { createTestDatabase } from './fixtures/postgres.js'
import { makeHistory, postgresConfigYaml, sqliteConfigYaml } from './fixtures/storage_ops.js'

async function withDb<T>(path: string, fn: (s: Storage) => Promise<T>): Promise<T> {
  const storage = await openStorage({ driver: 'sqlite', path, busyTimeoutMs: 5000 })
  try {
    return await fn(storage)
  } finally {
    await storage.close()
  }
}

const start = (reuse?: TestBroker) =>
  TestBroker.start({
    configYaml: (dir, pki) => sqliteConfigYaml(dir, pki),
    ...(reuse ? { reuse: { dir: reuse.dir, pki: reuse.pki } } : {}),
  })

describe('keybroker storage backup / restore (SQLite)', function () {
  this.timeout(120_000)

  it('backs up a running broker online; restoring it over an unchanged database round-trips and verifies', async () => {
    const t = await start()
    try {
      await makeHistory(t)
      const backup = join(t.dir, 'backup.db')
      const made = await runCli(['storage', 'backup', '--config', t.configFile, '--to', backup])
      expect(made.code, made.stderr).to.equal(0)
      expect(made.stdout).to.include(`to ${backup}`).and.include('kek_file')
      expect(statSync(backup).mode & 0o777).to.equal(0o600)
      const again = await runCli(['storage', 'backup', '--config', t.configFile, '--to', backup])
      expect(again.code).to.equal(1)
      expect(again.stderr).to.include(`${backup} already exists`)

      // the broker still runs: a restore must not pull the file from under it
      const busy = await runCli([
        'storage',
        'restore',
        '--config',
        t.configFile,
        '--from',
        backup,
        '--accept-rollback',
      ])
      expect(busy.code).to.equal(1)
      expect(busy.stderr).to.include('a keybroker process is using').and.include('stop every broker')

      await t.stop()
      const live = join(t.dir, 'keybroker.db')
      const before = await withDb(live, async (s) => ({
        rows: await s.reader.count(),
        meta: await s.meta.get(),
      }))
      const restored = await runCli(['storage', 'restore', '--config', t.configFile, '--from', backup])
      expect(restored.code, restored.stderr).to.equal(0)
      expect(restored.stdout).to.include('kind log_reset').and.include('retired 1 restored signing key')
      const verify = await runCli(['audit', 'verify', '--config', t.configFile])
      expect(verify.code, verify.stderr).to.equal(0)
      const status = await runCli(['storage', 'status', '--config', t.configFile])
      expect(status.stdout).to.match(
        new RegExp(
          `${before.rows + 1} audit row\\(s\\) in \\d+ chain\\(s\\); 1 signing key\\(s\\), 0 not retired`,
        ),
      )
      await withDb(live, async (s) => {
        expect(await s.reader.count()).to.equal(before.rows + 1) // + the log_reset row
        const [reset] = await s.reader.listPage({ kind: 'log_reset' }, 10)
        expect(JSON.parse(reset!.detail!)).to.include({
          old_log_id: before.meta!.log_id,
          restored_log_id: before.meta!.log_id,
          new_log_id: (await s.meta.get())!.log_id,
          old_heads: '',
          accepted_rollback: false,
        })
        expect((await s.meta.get())!.log_id).to.not.equal(before.meta!.log_id)
      })
    } finally {
      await t.close()
    }
  })

  describe('over a database that went further (a rollback)', () => {
    let t: TestBroker
    let backup: string
    let live: string
    let beforeBackup: IssueTokenResponse__Output
    let afterBackup: IssueTokenResponse__Output
    let oldKid: string
    let backupLogId: string

    before(async () => {
      t = await start()
      const history = await makeHistory(t)
      beforeBackup = history.agentToken
      backup = join(t.dir, 'backup.db')
      live = join(t.dir, 'keybroker.db')
      expect((await runCli(['storage', 'backup', '--config', t.configFile, '--to', backup])).code).to.equal(0)
      // history after the backup: a token minted, one revoked
      const agent = t.brokerClient(await t.pki.spiffe('agent-2', AGENT))
      afterBackup = await unary<IssueTokenRequest, IssueTokenResponse__Output>(
        agent,
        'IssueToken',
      )({
        audience: 'search-api',
        scopes: ['search:read'],
      })
      oldKid = t.broker.keys.signingKey().kid
      backupLogId = (await withDb(backup, (s) => s.meta.get()))!.log_id
      await t.stop()
    })
    after(() => t?.close())

    it('refuses without --accept-rollback, naming the backup, the live database and the chain', async () => {
      const refused = await runCli(['storage', 'restore', '--config', t.configFile, '--from', backup])
      expect(refused.code).to.equal(1)
      expect(refused.stderr)
        .to.include('restore refused: this would roll the log back')
        .and.include(backup)
        .and.include(`in ${live}, at seq`)
        .and.include('--accept-rollback')
      expect(await withDb(live, (s) => s.reader.count())).to.be.greaterThan(
        await withDb(backup, (s) => s.reader.count()),
      )
    })

    it('refuses when only the checkpoint file shows newer history, naming it', async () => {
      const checkpoint = join(t.dir, 'checkpoints.jsonl')
      const heads = await withDb(backup, (s) => s.reader.heads())
      const ahead = heads.map((h) => ({ node_id: h.nodeId, seq: h.seq + 5, hash: 'f'.repeat(64) }))
      writeFileSync(checkpoint, `${JSON.stringify({ log_id: backupLogId, ts: Date.now(), heads: ahead })}\n`)
      const config = join(t.dir, 'with-checkpoint.yaml')
      writeFileSync(
        config,
        sqliteConfigYaml(t.dir, t.pki, 'other.db').replace(
          /(storage: \{ driver: sqlite, path: [^ ]+) \}/,
          `$1, checkpoint_file: ${checkpoint} }`,
        ),
      )
      // a fresh live path: only the checkpoint knows the log went further
      const refused = await runCli(['storage', 'restore', '--config', config, '--from', backup])
      expect(refused.code).to.equal(1)
      expect(refused.stderr).to.include(`checkpoint file ${checkpoint}`).and.include('at seq')
    })

    it('with --accept-rollback: records log_reset (old log id and heads), retires the old key, verify passes', async () => {
      const liveHeads = await withDb(live, (s) => s.reader.heads())
      const res = await runCli([
        'storage',
        'restore',
        '--config',
        t.configFile,
        '--from',
        backup,
        '--accept-rollback',
      ])
      expect(res.code, res.stderr).to.equal(0)
      expect(res.stdout).to.include('rolled back:').and.include('retired 1 restored signing key')
      const verify = await runCli(['audit', 'verify', '--config', t.configFile])
      expect(verify.code, verify.stderr).to.equal(0)
      await withDb(live, async (s) => {
        const [reset] = await s.reader.listPage({ kind: 'log_reset' }, 10)
        const detail = JSON.parse(reset!.detail!)
        expect(detail).to.include({ old_log_id: backupLogId, accepted_rollback: true, keys_retired: 1 })
        const forked = liveHeads.filter((h) => h.seq > 0)
        for (const head of forked)
          expect(detail.old_heads).to.include(`${head.nodeId}@${head.seq}:${head.hash}`)
        expect((await s.keys.list()).find((k) => k.kid === oldKid)!.retired_at).to.be.a('number')
        // the log_reset row is the first row after the restored ones
        expect(reset!.seq).to.equal(1)
      })
    })

    it('the restarted broker has a new key; JWKS drops the old one; tokens from before the restore are refused', async () => {
      const t2 = await start(t)
      try {
        const kids = t2.broker.keys.jwks().keys.map((k) => k.kid)
        expect(kids).to.not.include(oldKid)
        expect(kids).to.have.length(1)
        const agent = t2.brokerClient(await t2.pki.spiffe('agent-3', AGENT))
        const delegate = unary<DelegateTokenRequest, IssueTokenResponse__Output>(agent, 'DelegateToken')
        for (const parent of [beforeBackup, afterBackup]) {
          const err = await expectGrpcError(delegate({ parent_token: parent.token, actor: 'after-restore' }))
          expect(err.code).to.equal(status.UNAUTHENTICATED)
        }
        // the broker serves: a new token is signed by the new key
        const billing = t2.brokerClient(await t2.pki.spiffe('billing-2', BILLING))
        const fresh = await unary<IssueTokenRequest, IssueTokenResponse__Output>(
          billing,
          'IssueToken',
        )({
          audience: 'payments-api',
          scopes: ['payments:read'],
        })
        const header = JSON.parse(Buffer.from(fresh.token.split('.')[0]!, 'base64url').toString())
        expect(header.kid).to.equal(kids[0])
      } finally {
        await t2.stop()
      }
    })
  })

  it('on PostgreSQL, backup points to pg_dump and restore to pg_restore', async function () {
    const db = await createTestDatabase(this)
    const t = await start()
    try {
      await t.stop()
      const config = join(t.dir, 'pg.yaml')
      writeFileSync(config, postgresConfigYaml(t.dir, t.pki, db.url))
      const backup = await runCli(['storage', 'backup', '--config', config, '--to', join(t.dir, 'x.dump')])
      expect(backup.code).to.equal(1)
      expect(backup.stderr).to.include('pg_dump --format=custom')
      const restore = await runCli([
        'storage',
        'restore',
        '--config',
        config,
        '--from',
        join(t.dir, 'x.dump'),
      ])
      expect(restore.code).to.equal(1)
      expect(restore.stderr).to.include('pg_restore')
    } finally {
      await t.close()
      await db.drop()
    }
  })
})
