import { join } from 'node:path'
import { expect } from 'chai'
import { monotonicUlid } from '../src/audit/lib/ulid.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { issueTokens } from './fixtures/admin.js'
import { ADMIN, BILLING, runCli, TestBroker } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'
import { append } from './storage_conformance/harness.js'

const LONG_SUBJECT = 'spiffe://example.org/ns/agents-with-a-rather-long-namespace/sa/nightly-report-writer'

/**
 * The operator CLI of issue 20, spawned as a real process, against the database file and against a
 * running broker (--address): audit query filters, audit show, table width, -o, --utc, verify -o
 * json, stats, export, keys and revocations.
 */
describe('operator CLI: audit filters, show, stats, export, keys, revocations', function () {
  this.timeout(180_000)
  let t: TestBroker
  let adminCert: CertFiles
  let issued: IssueTokenResponse__Output[]
  let seededId: string

  before(async () => {
    t = await TestBroker.start()
    issued = await issueTokens(t, await t.pki.spiffe('billing', BILLING), 3)
    adminCert = await t.pki.spiffe('admin', ADMIN)
    // rows a future TaskContext / another peer would write, on a chain of their own
    await t.broker.storage.leases.acquire('seeded', 'test', 60_000)
    // a real ULID: over --address, audit show finds a row by the time in its id
    const seededAt = Date.now() - 5_000
    const rows = await append(t.broker.storage, 'seeded', [
      {
        id: monotonicUlid()(seededAt),
        ts: seededAt,
        subject: LONG_SUBJECT,
        run_id: 'run-42',
        peer: '10.9.8.7:4242',
        audience: 'search-api',
      },
      {
        ts: Date.now() - 4_000,
        subject: LONG_SUBJECT,
        run_id: 'run-42',
        decision: 'deny',
        reason: 'scope',
        detail: '{"code":"ERR_SCOPE_NOT_GRANTED"}',
      },
      { ts: Date.now() - 3_000, subject: 'spiffe://example.org/ns/other/sa/x', run_id: 'run-43' },
    ])
    seededId = rows[0]!.id
  })
  after(() => t.close())

  const env = { GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: '', COLUMNS: '120', TZ: 'Asia/Kolkata' }
  const db = () => ['--db', join(t.dir, 'keybroker.db')]
  const remote = () => [
    '--address',
    `localhost:${t.broker.grpcPort}`,
    '--ca',
    t.pki.caFile,
    '--cert',
    adminCert.cert,
    '--key',
    adminCert.key,
  ]
  const cli = async (args: string[]) => {
    const res = await runCli(args, { env, timeoutMs: 60_000 })
    return res
  }
  const jsonl = (text: string) =>
    text
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)

  for (const [where, source] of [
    ['the database file', db],
    ['a running broker', remote],
  ] as const) {
    describe(`against ${where}`, () => {
      it('audit query: --token-id, --peer, --run-id and --subject prefix with a trailing *; -o alias', async () => {
        const byToken = await cli([
          'audit',
          'query',
          ...source(),
          '--token-id',
          issued[1]!.token_id,
          '-o',
          'jsonl',
        ])
        expect(byToken.code, byToken.stderr).to.equal(0)
        expect(jsonl(byToken.stdout).map((r) => r.token_id)).to.deep.equal([issued[1]!.token_id])
        const byPeer = await cli(['audit', 'query', ...source(), '--peer', '10.9.8.7:4242', '-o', 'jsonl'])
        expect(jsonl(byPeer.stdout).map((r) => r.id)).to.deep.equal([seededId])
        const byRun = await cli(['audit', 'query', ...source(), '--run-id', 'run-42', '-o', 'jsonl'])
        expect(jsonl(byRun.stdout).map((r) => r.decision)).to.deep.equal(['deny', 'allow'])
        const prefix = await cli([
          'audit',
          'query',
          ...source(),
          '--subject',
          'spiffe://example.org/ns/agents-with-a-rather-long-namespace/*',
          '-o',
          'jsonl',
        ])
        expect(prefix.code, prefix.stderr).to.equal(0)
        const rows = jsonl(prefix.stdout)
        expect(rows).to.have.length(2)
        expect(rows.every((r) => r.subject === LONG_SUBJECT)).to.equal(true)
      })

      it('the table keeps the workload name of a long subject, shows local time (or --utc), --wide shows every column', async () => {
        const table = await cli(['audit', 'query', ...source(), '--run-id', 'run-42'])
        expect(table.code, table.stderr).to.equal(0)
        const lines = table.stdout.trim().split('\n')
        expect(lines[0]).to.match(/^TIME\s+KIND\s+DECISION\s+SUBJECT/)
        for (const line of lines) expect(line.length).to.be.at.most(120)
        expect(lines[1]).to.contain('nightly-report-writer').and.contain('…')
        expect(lines[1]).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30 /)
        const utc = await cli(['audit', 'query', ...source(), '--run-id', 'run-42', '--utc'])
        expect(utc.stdout.trim().split('\n')[1]).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /)
        const wide = await cli(['audit', 'query', ...source(), '--run-id', 'run-42', '--wide'])
        const [header, first] = wide.stdout.trim().split('\n')
        expect(header).to.match(/TOKEN_ID\s+RUN_ID\s+LATENCY_US\s+NODE\s+SEQ\s+ID$/)
        expect(first).to.contain(LONG_SUBJECT).and.contain('run-42').and.contain('seeded')
      })

      it('audit show <id> prints every field of one row; an unknown id exits 1', async () => {
        const res = await cli(['audit', 'show', seededId, ...source()])
        expect(res.code, res.stderr).to.equal(0)
        expect(res.stdout).to.match(new RegExp(`^id\\s+${seededId}$`, 'm'))
        expect(res.stdout).to.match(new RegExp(`^subject\\s+${LONG_SUBJECT}$`, 'm'))
        expect(res.stdout).to.match(/^run_id\s+run-42$/m)
        expect(res.stdout).to.match(/^peer\s+10\.9\.8\.7:4242$/m)
        expect(res.stdout).to.match(/^node_id\s+seeded$/m)
        expect(res.stdout).to.match(/^hash\s+[0-9a-f]{64}$/m)
        expect(res.stdout).to.match(/^time\s+\S+\+05:30 \(\d+ ms\)$/m)
        const json = await cli(['audit', 'show', issued[0]!.exchange_id, ...source(), '-o', 'json'])
        expect(JSON.parse(json.stdout)).to.include({ token_id: issued[0]!.token_id, kind: 'issue' })
        const missing = await cli(['audit', 'show', '01ARZ3NDEKTSV4RRFFQ69G5FAV', ...source()])
        expect(missing.code).to.equal(1)
        expect(missing.stderr).to.contain('no exchange 01ARZ3NDEKTSV4RRFFQ69G5FAV')
      })

      it('audit verify -o json; export prints nothing extra on stderr when piped', async () => {
        const res = await cli(['audit', 'verify', ...source(), '-o', 'json'])
        expect(res.code, res.stderr).to.equal(0)
        const verdict = JSON.parse(res.stdout)
        expect(verdict).to.include({ ok: true, first_bad_seq: null, problem: null })
        expect(verdict.rows_checked).to.be.greaterThan(3)
        expect(res.stderr).to.equal('')
        const exported = await cli(['audit', 'export', ...source(), '--run-id', 'run-42'])
        expect(exported.code, exported.stderr).to.equal(0)
        expect(jsonl(exported.stdout).map((r) => r.id)[0]).to.equal(seededId) // oldest first
        expect(exported.stderr).to.equal('')
      })

      it('audit stats: by audience, refusals by reason, per --bucket, computed by the store', async () => {
        const res = await cli(['audit', 'stats', ...source(), '--bucket', '1h', '-o', 'json'])
        expect(res.code, res.stderr).to.equal(0)
        const stats = JSON.parse(res.stdout)
        expect(stats.total).to.be.greaterThan(5)
        expect(stats.topAudiences.map((e: { key: string }) => e.key)).to.include.members([
          'payments-api',
          'search-api',
        ])
        expect(stats.denialsByReason).to.deep.include({ key: 'ERR_SCOPE_NOT_GRANTED', count: 1 })
        expect(stats.topSubjects.map((e: { key: string }) => e.key)).to.include(BILLING)
        const bucketSum = stats.buckets.reduce(
          (n: number, b: { allow: number; deny: number; error: number; pending: number }) =>
            n + b.allow + b.deny + b.error + b.pending,
          0,
        )
        expect(bucketSum).to.equal(stats.total)
        for (const b of stats.buckets) expect(b.start).to.match(/^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/)
        const table = await cli(['audit', 'stats', ...source(), '--bucket', '1h', '--utc'])
        expect(table.stdout)
          .to.contain('top audiences')
          .and.contain('refusals by reason')
          .and.contain('per 1h')
          .and.match(/START\s+ALLOW\s+DENY\s+ERROR\s+PENDING\s+P50_US\s+P99_US/)
        const bad = await cli(['audit', 'stats', ...source(), '--bucket', 'often'])
        expect(bad.code).to.equal(1)
        expect(bad.stderr).to.contain('bucket: "often" is not a duration')
      })
    })
  }

  describe('keys and revocations, over --address and from the file', () => {
    it('keys list (both), keys retire --address, then revocations list shows the key and a revoked token', async () => {
      const cfg = ['--config', t.configFile]
      const before = await cli(['keys', 'list', ...remote()])
      expect(before.code, before.stderr).to.equal(0)
      const kid = /^(\S+)\s+ES256\s+signing\s/m.exec(before.stdout)?.[1]
      expect(kid).to.be.a('string')
      const fromFile = await cli(['keys', 'list', ...cfg])
      expect(fromFile.stdout).to.match(new RegExp(`^${kid}\\s+ES256\\s+signing\\s`, 'm'))

      const retired = await cli(['keys', 'retire', kid!, '--reason', 'leaked', ...remote()])
      expect(retired.code, retired.stderr).to.equal(0)
      expect(retired.stdout).to.contain(`key ${kid} retired`).and.contain('refuses its tokens now')
      expect(t.broker.keys.isRetired(kid!)).to.equal(true)
      const after = await cli(['keys', 'list', ...cfg, '--utc'])
      expect(after.stdout).to.match(new RegExp(`^${kid}\\s+ES256\\s+retired\\s.*retired \\S+Z`, 'm'))
      expect(after.stdout).to.match(/^\S+\s+ES256\s+signing\s/m)

      const rotated = await cli(['keys', 'rotate', ...remote()])
      expect(rotated.code, rotated.stderr).to.equal(0)
      expect(rotated.stdout).to.match(/^new key \S+ published; signs from /)
      const now = await cli(['keys', 'rotate', '--now', ...remote()])
      expect(now.code).to.equal(1)
      expect(now.stderr).to.contain('--now works with --config only')

      const revoke = await cli([
        'revoke',
        '--token-id',
        issued[2]!.token_id,
        '--reason',
        'cli test',
        ...remote(),
      ])
      expect(revoke.code, revoke.stderr).to.equal(0)
      for (const source of [remote(), db()]) {
        const list = await cli(['revocations', 'list', ...source])
        expect(list.code, list.stderr).to.equal(0)
        const lines = list.stdout.trim().split('\n')
        expect(lines[0]).to.contain(`token ${issued[2]!.token_id}`).and.contain('reason: cli test')
        expect(list.stdout).to.contain(`key ${kid}`).and.contain('reason: leaked')
      }
      const json = await cli(['revocations', 'list', ...db(), '-o', 'json', '-n', '1'])
      expect(JSON.parse(json.stdout)).to.have.length(1)
    })

    it('keys without --config or --address say what to give', async () => {
      const res = await cli(['keys', 'list'])
      expect(res.code).to.equal(1)
      expect(res.stderr).to.contain('give --config <file> (keys need its KEK), or --address')
    })
  })
})
