import { copyFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect } from 'chai'
import { formatProgress } from '../src/cli/progress_line.js'
import type { DelegateTokenRequest } from '../src/generated/keybroker/v1/DelegateTokenRequest.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { openStorage } from '../src/storage/open.js'
import type { Storage } from '../src/storage/ports.js'
import { AGENT, BILLING, runCli, TestBroker, unary } from './fixtures/broker.js'
import { createTestDatabase, type TestDatabase } from './fixtures/postgres.js'
import {
  type BrokerHistory,
  makeHistory,
  postgresConfigYaml,
  sqliteConfigYaml,
} from './fixtures/storage_ops.js'

/** Everything a copy must carry, in a driver-independent shape (revocation seq is the target's own). */
async function snapshot(storage: Storage) {
  const heads = (await storage.reader.heads()).sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1))
  const chains: Record<string, unknown[]> = {}
  for (const head of heads) chains[head.nodeId] = await storage.reader.chainRows(head.nodeId, 0, 100_000)
  return {
    meta: await storage.meta.get(),
    heads,
    chains,
    retention: await storage.reader.retentionCheckpoints(),
    keys: (await storage.keys.list()).map((k) => ({
      ...k,
      sealed_private_key: k.sealed_private_key.toString('hex'),
    })),
    revocations: (await storage.revocations.since(0, 0)).map(({ seq: _seq, ...r }) => r),
  }
}

async function withStorage<T>(
  options: Parameters<typeof openStorage>[0],
  fn: (s: Storage) => Promise<T>,
): Promise<T> {
  const storage = await openStorage(options)
  try {
    return await fn(storage)
  } finally {
    await storage.close()
  }
}

const sqlite = (path: string) => ({ driver: 'sqlite', path, busyTimeoutMs: 5000 }) as const
const postgres = (url: string) =>
  ({ driver: 'postgres', url, poolSize: 2, statementTimeoutMs: 10_000 }) as const

describe('keybroker storage copy (SQLite → PostgreSQL)', function () {
  this.timeout(90_000)
  let source: TestBroker
  let history: BrokerHistory
  let sourceDb: string
  let db: TestDatabase
  const dropLater: TestDatabase[] = []

  before(async () => {
    source = await TestBroker.start({ configYaml: (dir, pki) => sqliteConfigYaml(dir, pki) })
    sourceDb = join(source.dir, 'keybroker.db')
    history = await makeHistory(source)
    await source.stop() // a quiescent source: the copy carries everything
  })
  after(async () => {
    for (const d of dropLater) await d.drop().catch(() => {})
    if (source) rmSync(source.dir, { recursive: true, force: true })
  })

  it('copies every chain, key, revocation and log_meta exactly; audit verify passes on the PostgreSQL config', async function () {
    db = await createTestDatabase(this)
    dropLater.push(db)
    const copy = await runCli(['storage', 'copy', '--from', sourceDb, '--to', db.url])
    expect(copy.code, copy.stderr).to.equal(0)
    expect(copy.stdout).to.match(
      /copied \d+ audit row\(s\) in \d+ chain\(s\), 2 sealed key\(s\) \(signing and checkpoint\), 1 revocation\(s\)/,
    )
    expect(copy.stderr).to.not.include('copied 0 /') // no progress line outside a terminal

    const before = await withStorage(sqlite(sourceDb), snapshot)
    const after = await withStorage(postgres(db.url), snapshot)
    expect(Object.values(before.chains).flat().length).to.be.greaterThan(5)
    expect(after).to.deep.equal(before)

    const pgConfig = join(source.dir, 'pg.yaml')
    writeFileSync(pgConfig, postgresConfigYaml(source.dir, source.pki, db.url))
    const verify = await runCli(['audit', 'verify', '--config', pgConfig])
    expect(verify.code, verify.stderr).to.equal(0)
    expect(verify.stdout).to.include(`${Object.values(before.chains).flat().length} rows`)
  })

  it('a broker started on the PostgreSQL copy serves with the copied keys and revocations', async function () {
    if (!db) this.skip()
    // signing keys (the checkpoint key is copied too, but it never appears in JWKS)
    const copiedKids = (await withStorage(sqlite(sourceDb), (s) => s.keys.list()))
      .map((k) => k.kid)
      .filter((kid) => !kid.startsWith('kb-checkpoint-'))
    const t = await TestBroker.start({
      reuse: { dir: source.dir, pki: source.pki },
      configYaml: (dir, pki) => postgresConfigYaml(dir, pki, db.url),
    })
    try {
      expect(t.broker.keys.jwks().keys.map((k) => k.kid)).to.include.members(copiedKids)
      expect(t.broker.revocations.isRevoked(history.revokedTokenId)).to.equal(true)
      // a token minted on SQLite is still good on PostgreSQL (same key, same KEK)
      const agent = t.brokerClient(await t.pki.spiffe('agent', AGENT))
      const child = await unary<DelegateTokenRequest, IssueTokenResponse__Output>(
        agent,
        'DelegateToken',
      )({
        parent_token: history.agentToken.token,
        actor: 'after-copy',
      })
      expect(child.token_id).to.be.a('string').and.not.equal('')
      const billing = t.brokerClient(await t.pki.spiffe('billing', BILLING))
      await unary<IssueTokenRequest, IssueTokenResponse__Output>(
        billing,
        'IssueToken',
      )({
        audience: 'payments-api',
        scopes: ['payments:read'],
      })
    } finally {
      await t.stop()
    }
    const verify = await runCli(['audit', 'verify', '--config', join(source.dir, 'pg.yaml')])
    expect(verify.code, verify.stderr).to.equal(0)
  })

  it('refuses a target that already holds audit rows, naming it and --append; nothing is written', async function () {
    if (!db) this.skip()
    const rowsBefore = await withStorage(postgres(db.url), (s) => s.reader.count())
    const again = await runCli(['storage', 'copy', '--from', sourceDb, '--to', db.url])
    expect(again.code).to.equal(1)
    expect(again.stderr)
      .to.include('storage copy refused')
      .and.include('already holds')
      .and.include('--append')
    expect(again.stderr).to.include(db.name)
    expect(await withStorage(postgres(db.url), (s) => s.reader.count())).to.equal(rowsBefore)
  })

  it('with --append, refuses a chain that exists in both (never a merge), naming the chain', async function () {
    if (!db) this.skip()
    const rowsBefore = await withStorage(postgres(db.url), (s) => s.reader.count())
    const nodeIds = (await withStorage(sqlite(sourceDb), (s) => s.reader.heads())).map((h) => h.nodeId)
    const append = await runCli(['storage', 'copy', '--append', '--from', sourceDb, '--to', db.url])
    expect(append.code).to.equal(1)
    expect(append.stderr).to.include('exist in both').and.include(`"${nodeIds[0]}"`)
    expect(await withStorage(postgres(db.url), (s) => s.reader.count())).to.equal(rowsBefore)
  })

  it('with --append, adds the chains of another broker beside the existing ones; verify passes', async function () {
    if (!db) this.skip()
    const other = await TestBroker.start({
      configYaml: (dir, pki) => sqliteConfigYaml(dir, pki),
    })
    try {
      await makeHistory(other)
      await other.stop()
      const otherDb = join(other.dir, 'keybroker.db')
      const logIdBefore = (await withStorage(postgres(db.url), (s) => s.meta.get()))!.log_id
      const append = await runCli(['storage', 'copy', '--append', '--from', otherDb, '--to', db.url])
      expect(append.code, append.stderr).to.equal(0)
      const target = await withStorage(postgres(db.url), snapshot)
      const added = await withStorage(sqlite(otherDb), snapshot)
      for (const [node, rows] of Object.entries(added.chains)) expect(target.chains[node]).to.deep.equal(rows)
      expect(target.meta!.log_id).to.equal(logIdBefore) // the target keeps its identity
      const verify = await runCli(['audit', 'verify', '--config', join(source.dir, 'pg.yaml')])
      expect(verify.code, verify.stderr).to.equal(0)
    } finally {
      rmSync(other.dir, { recursive: true, force: true })
    }
  })

  it('refuses a source whose chain does not verify, naming the chain and seq', async function () {
    const broken = join(source.dir, 'broken.db')
    copyFileSync(sourceDb, broken)
    const file = new Database(broken)
    const victim = file
      .prepare(`SELECT node_id, seq FROM exchanges WHERE kind = 'issue' ORDER BY seq LIMIT 1`)
      .get() as {
      node_id: string
      seq: number
    }
    file
      .prepare('UPDATE exchanges SET subject = ? WHERE node_id = ? AND seq = ?')
      .run('spiffe://evil', victim.node_id, victim.seq)
    file.close()
    const target = await createTestDatabase(this)
    dropLater.push(target)
    const copy = await runCli(['storage', 'copy', '--from', broken, '--to', target.url])
    expect(copy.code).to.equal(1)
    expect(copy.stderr).to.include('does not verify').and.include(`"${victim.node_id}" seq ${victim.seq}`)
  })

  it('refuses a missing source file and a bad target URL with a message naming them', async () => {
    const missing = await runCli([
      'storage',
      'copy',
      '--from',
      '/nonexistent/kb.db',
      '--to',
      'postgres://postgres@127.0.0.1:5432/x',
    ])
    expect(missing.code).to.equal(1)
    expect(missing.stderr).to.include('/nonexistent/kb.db: no such file')
    const badUrl = await runCli([
      'storage',
      'copy',
      '--from',
      sourceDb,
      '--to',
      'postgres://postgres:hunter2@127.0.0.1:1/nope',
    ])
    expect(badUrl.code).to.equal(1)
    expect(badUrl.stderr).to.include('127.0.0.1:1').and.not.include('hunter2')
  })

  it('formats the progress line with an ETA', () => {
    expect(formatProgress('copied', 'audit rows', 12_000, 48_000, 4_000)).to.equal(
      'copied 12,000 / 48,000 audit rows (25%), ETA 12 s',
    )
    expect(formatProgress('copied', 'audit rows', 0, 0, 0)).to.equal('copied 0 / 0 audit rows (100%)')
  })
})
