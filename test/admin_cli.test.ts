import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { expect } from 'chai'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { issueTokens } from './fixtures/admin.js'
import { ADMIN, BILLING, REPO_ROOT, runCli, TestBroker } from './fixtures/broker.js'
import { eventually } from './fixtures/net.js'
import type { CertFiles } from './fixtures/pki.js'

describe('operator CLI: keybroker audit … / keybroker revoke', function () {
  this.timeout(60_000)
  let t: TestBroker
  let billing: CertFiles
  let adminCert: CertFiles
  let issued: IssueTokenResponse__Output[]

  before(async () => {
    t = await TestBroker.start()
    billing = await t.pki.spiffe('billing', BILLING)
    adminCert = await t.pki.spiffe('admin', ADMIN)
    issued = await issueTokens(t, billing, 4)
  })
  after(() => t.close())

  const db = () => ['--db', join(t.dir, 'keybroker.db')]
  const remote = () => [
    '--address',
    t.address,
    '--ca',
    t.pki.caFile,
    '--cert',
    adminCert.cert,
    '--key',
    adminCert.key,
  ]
  // the broker certificate names localhost; the fixture dials 127.0.0.1
  const env = { GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: '', COLUMNS: '100' }
  const remoteArgs = () => remote().map((a) => (a === t.address ? `localhost:${t.broker.grpcPort}` : a))

  for (const [where, source] of [
    ['the database file', db],
    ['a running broker', remoteArgs],
  ] as const) {
    describe(`against ${where}`, () => {
      it('audit query --format jsonl filters by subject and kind, newest first', async () => {
        const res = await runCli(
          ['audit', 'query', ...source(), '--subject', BILLING, '--kind', 'issue', '--format', 'jsonl'],
          { env },
        )
        expect(res.code, res.stderr).to.equal(0)
        const rows = res.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
        expect(rows.map((r) => r.token_id).slice(-4)).to.deep.equal(issued.map((r) => r.token_id).reverse())
        expect(rows.every((r) => r.subject === BILLING && r.kind === 'issue')).to.equal(true)
        expect(rows[0].time).to.match(/^\d{4}-\d\d-\d\dT/)
        expect(res.stdout).to.not.contain('eyJ') // never a token
      })

      it('audit query --format json, csv and table', async () => {
        const json = await runCli(['audit', 'query', ...source(), '--kind', 'issue', '--format', 'json'], {
          env,
        })
        expect(JSON.parse(json.stdout)).to.be.an('array').with.length.greaterThan(3)
        const csv = await runCli(
          ['audit', 'query', ...source(), '--kind', 'issue', '--format', 'csv', '-n', '2'],
          {
            env,
          },
        )
        const lines = csv.stdout.trim().split('\n')
        expect(lines[0]).to.match(/^time,seq,id,kind,decision,subject,/)
        expect(lines).to.have.length(3)
        expect(csv.stderr).to.match(/^more rows: add --page-token \S+\n$/)
        const table = await runCli(['audit', 'query', ...source(), '--kind', 'issue'], { env })
        const rows = table.stdout.trim().split('\n')
        expect(rows[0]).to.match(/^TIME\s+KIND\s+DECISION\s+SUBJECT/)
        for (const row of rows) expect(row.length).to.be.at.most(100)
        expect(rows[1]).to.contain('issue').and.contain('allow')
      })

      it('audit query refuses an unknown kind with the reason', async () => {
        const res = await runCli(['audit', 'query', ...source(), '--kind', 'isue'], { env })
        expect(res.code).to.equal(1)
        expect(res.stderr).to.contain('kind: "isue" is not an exchange kind')
      })

      it('audit export --since writes every row in the window, oldest first, as JSON lines', async () => {
        const res = await runCli(['audit', 'export', ...source(), '--since', '1h'], { env })
        expect(res.code, res.stderr).to.equal(0)
        // oldest first: by time across chains (a file-mode revoke wrote a chain of its own), by seq within each
        const rows = res.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { ts: number; seq: number; node_id: string })
        const times = rows.map((r) => r.ts)
        expect(times).to.deep.equal([...times].sort((a, b) => a - b))
        const chains = new Map<string, number[]>()
        for (const r of rows) chains.set(r.node_id, [...(chains.get(r.node_id) ?? []), r.seq])
        for (const seqs of chains.values()) expect(seqs).to.deep.equal([...seqs].sort((a, b) => a - b))
        expect(Math.min(...rows.map((r) => r.seq))).to.equal(1)
        expect(res.stderr, 'no progress when piped').to.equal('')
      })

      it('audit stats counts per subject, kind, decision and audience', async () => {
        const res = await runCli(['audit', 'stats', ...source(), '--since', '1h', '--format', 'json'], {
          env,
        })
        expect(res.code, res.stderr).to.equal(0)
        const stats = JSON.parse(res.stdout)
        expect(stats.byKind.find((k: { key: string }) => k.key === 'issue').count).to.be.at.least(4)
        expect(stats.topSubjects.map((s: { key: string }) => s.key)).to.include(BILLING)
        expect(stats.byDecision.allow).to.be.greaterThan(3)
        expect(stats.total).to.be.greaterThan(3)
        const table = await runCli(['audit', 'stats', ...source(), '--since', '1h'], { env })
        expect(table.stdout).to.contain('by decision').and.contain('top subjects')
      })

      it('audit verify exits 0 on an intact chain', async () => {
        const res = await runCli(['audit', 'verify', ...source()], { env })
        expect(res.code, res.stderr).to.equal(0)
        expect(res.stdout).to.match(/^audit log OK: \d+ rows, chain intact\n(matches checkpoint .+\n)?$/)
      })

      it('audit tail prints the latest lines', async () => {
        const res = await runCli(['audit', 'tail', ...source(), '-n', '2', '--kind', 'issue'], { env })
        expect(res.code, res.stderr).to.equal(0)
        expect(res.stdout.trim().split('\n')).to.have.length(2)
      })
    })
  }

  it('revoke --token-id against a running broker, then against the file; unknown ids fail', async () => {
    const viaBroker = await runCli(['revoke', ...remoteArgs(), '--token-id', issued[0]!.token_id], { env })
    expect(viaBroker.code, viaBroker.stderr).to.equal(0)
    expect(viaBroker.stdout).to.match(
      new RegExp(`^revoked 1 token\\(s\\): ${issued[0]!.token_id}; in effect now \\(audit \\w+\\)`),
    )
    expect(t.broker.revocations.isRevoked(issued[0]!.token_id)).to.equal(true)

    const viaFile = await runCli(['revoke', ...db(), '--token-id', issued[1]!.token_id, '--reason', 'test'], {
      env,
    })
    expect(viaFile.code, viaFile.stderr).to.equal(0)
    expect(viaFile.stdout).to.contain('a running broker applies it within 1 s')
    // the running broker polls the revocation list every second: no restart, no 10 s wait
    const revokedAt = Date.now()
    await eventually(() => t.broker.revocations.isRevoked(issued[1]!.token_id), 5000, 'file-mode revocation')
    expect(Date.now() - revokedAt).to.be.below(5000)

    const unknown = await runCli(['revoke', ...remoteArgs(), '--token-id', 'nope'], { env })
    expect(unknown.code).to.equal(1)
    expect(unknown.stderr)
      .to.contain('NOT_FOUND')
      .and.contain('token_id nope was never issued by this broker')
    const unknownLocal = await runCli(['revoke', ...db(), '--token-id', 'nope'], { env })
    expect(unknownLocal.stderr).to.contain('token_id nope was never issued by this broker')

    const bySubject = await runCli(['revoke', ...remoteArgs(), '--subject', BILLING], { env })
    expect(bySubject.code, bySubject.stderr).to.equal(0)
    // the count and the ids listed agree; the ones revoked before are said to be
    const listed = /^revoked (\d+) token\(s\): ([^;(]+)/.exec(bySubject.stdout)
    expect(listed, bySubject.stdout).to.not.equal(null)
    expect(listed![2]!.trim().split(' ')).to.have.length(Number(listed![1]))
    expect(bySubject.stdout).to.contain('(2 of them already revoked)')
    for (const token of issued) expect(t.broker.revocations.isRevoked(token.token_id)).to.equal(true)
    // the chain still verifies after a second process appended to it
    const verify = await runCli(['audit', 'verify', ...db()], { env })
    expect(verify.code, verify.stdout + verify.stderr).to.equal(0)
  })

  for (const [where, source] of [
    ['the database file', db],
    ['a running broker', remoteArgs],
  ] as const) {
    it(`audit tail --follow streams new exchanges from ${where}`, async () => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(REPO_ROOT, 'src/cli/main.ts'),
          'audit',
          'tail',
          ...source(),
          '-n',
          '1',
          '--follow',
          '--kind',
          'issue',
        ],
        { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      try {
        await waitFor(
          () => out.split('\n').length >= 2,
          () => out,
        )
        const more = await issueTokens(t, billing, 2)
        await waitFor(
          () => more.every((m) => out.includes(m.token_id)),
          () => out,
        )
        expect(out.trim().split('\n')).to.have.length(3)
      } finally {
        child.kill('SIGTERM')
      }
    })
  }
})

async function waitFor(condition: () => boolean, describe: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out; output so far:\n${describe()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
