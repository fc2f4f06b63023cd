import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import Database from 'better-sqlite3'
import { expect } from 'chai'
import { ManualClock } from '../src/clock.js'
import type { AdminClient } from '../src/generated/keybroker/v1/Admin.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { RevokeTokensRequest } from '../src/generated/keybroker/v1/RevokeTokensRequest.js'
import type { VerifyAuditLogResponse__Output } from '../src/generated/keybroker/v1/VerifyAuditLogResponse.js'
import { issueTokens, listExchanges, sample, scrapeMetrics } from './fixtures/admin.js'
import { ADMIN, BILLING, expectGrpcError, runCli, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

const DAY_MS = 86_400_000

async function verifyOverGrpc(admin: AdminClient): Promise<VerifyAuditLogResponse__Output> {
  return unary<object, VerifyAuditLogResponse__Output>(admin, 'VerifyAuditLog')({})
}

describe('VerifyAuditLog on a tampered database', () => {
  let t: TestBroker
  let admin: AdminClient
  let tamper: Database.Database

  beforeEach(async () => {
    t = await TestBroker.start()
    admin = t.adminClient(await t.pki.spiffe('admin', ADMIN))
    await issueTokens(t, await t.pki.spiffe('billing', BILLING), 6) // seq 1..6
    // edits come through a second connection, as someone with file access would make them
    tamper = new Database(join(t.dir, 'keybroker.db'))
  })
  afterEach(async () => {
    tamper.close()
    await t.close()
  })

  const cliVerify = () => runCli(['audit', 'verify', '--db', join(t.dir, 'keybroker.db')])

  it('an edited row fails, naming its seq and id (gRPC and CLI)', async () => {
    const row = tamper.prepare('SELECT id FROM exchanges WHERE seq = 3').get() as { id: string }
    tamper.prepare("UPDATE exchanges SET decision = 'deny' WHERE seq = 3").run()
    const res = await verifyOverGrpc(admin)
    expect(res).to.deep.include({ ok: false, first_bad_seq: 3, first_bad_id: row.id })
    expect(res.problem).to.equal('hash mismatch: the row was changed after it was written')
    const cli = await cliVerify()
    expect(cli.code).to.equal(1)
    expect(cli.stderr).to.contain(`audit log BROKEN at seq 3 (id ${row.id}): hash mismatch`)
  })

  it('a deleted middle row fails at the row after it', async () => {
    tamper.prepare('DELETE FROM exchanges WHERE seq = 4').run()
    const res = await verifyOverGrpc(admin)
    expect(res).to.deep.include({ ok: false, first_bad_seq: 5 })
    expect(res.problem).to.equal('seq 5 follows seq 3: 1 row(s) missing')
    const cli = await cliVerify()
    expect(cli.code).to.equal(1)
    expect(cli.stderr).to.contain('audit log BROKEN at seq 5')
  })

  it('a truncated tail fails, naming the first missing seq', async () => {
    // the VerifyAuditLog call itself appends (seq 7); cut the log back to 4 first
    tamper.prepare('DELETE FROM exchanges WHERE seq > 4').run()
    const cli = await cliVerify()
    expect(cli.code).to.equal(1)
    expect(cli.stderr).to.contain('audit log BROKEN at seq 5').and.contain('rows after 4 were removed')
    const res = await verifyOverGrpc(admin)
    expect(res.ok).to.equal(false)
    expect(res.first_bad_seq).to.equal(5)
  })
})

describe('retention', () => {
  let t: TestBroker
  let admin: AdminClient
  let billing: CertFiles
  const clock = new ManualClock(Date.UTC(2025, 0, 2))

  before(async () => {
    t = await TestBroker.start({ clock })
    billing = await t.pki.spiffe('billing', BILLING)
    admin = t.adminClient(await t.pki.spiffe('admin', ADMIN))
  })
  after(() => t.close())

  it('prunes rows past audit.retention_days behind a checkpoint; verify still passes', async () => {
    const old = await issueTokens(t, billing, 3)
    clock.advance(91 * DAY_MS) // retention_days defaults to 90
    const recent = await issueTokens(t, billing, 2)
    const before = await t.broker.log.count()

    const pruned = await t.broker.runRetention()
    expect(pruned).to.be.at.least(3)
    expect(await t.broker.log.count()).to.equal(before - pruned)
    const [checkpoint] = await t.broker.storage.reader.retentionCheckpoints()
    expect(checkpoint!.seq).to.equal(pruned)

    const res = await verifyOverGrpc(admin)
    expect(res.ok, res.problem).to.equal(true)
    const cli = await runCli(['audit', 'verify', '--db', join(t.dir, 'keybroker.db')])
    expect(cli.code, cli.stderr).to.equal(0)

    const left = await listExchanges(admin)({ kind: 'issue' })
    const ids = left.exchanges.map((e) => e.token_id)
    for (const token of recent) expect(ids).to.include(token.token_id)
    for (const token of old) expect(ids).to.not.include(token.token_id)
    expect(await t.broker.runRetention()).to.equal(0) // nothing more is due
  })
})

describe('/metrics and logs', () => {
  let t: TestBroker
  let admin: AdminClient
  let billing: CertFiles

  before(async () => {
    t = await TestBroker.start()
    billing = await t.pki.spiffe('billing', BILLING)
    admin = t.adminClient(await t.pki.spiffe('admin', ADMIN))
  })
  after(() => t.close())

  it('counters move by exactly the exchanges made', async () => {
    const before = await scrapeMetrics(t)
    const issued = await issueTokens(t, billing, 3)
    const refused = await expectGrpcError(
      unary<IssueTokenRequest, unknown>(t.brokerClient(billing), 'IssueToken')({ audience: 'not-granted' }),
    )
    expect(refused.code).to.equal(grpc.status.PERMISSION_DENIED)
    await unary<RevokeTokensRequest, unknown>(admin, 'RevokeTokens')({ token_id: issued[0]!.token_id })
    const after = await scrapeMetrics(t)

    const delta = (name: string, labels: Record<string, string> = {}) =>
      sample(after, name, labels) - sample(before, name, labels)
    expect(delta('keybroker_exchanges_total', { kind: 'issue', decision: 'allow' })).to.equal(3)
    expect(delta('keybroker_exchanges_total', { kind: 'issue', decision: 'deny' })).to.equal(1)
    expect(delta('keybroker_exchanges_total', { kind: 'revoke', decision: 'allow' })).to.equal(1)
    expect(delta('keybroker_exchange_duration_seconds_count', { kind: 'issue' })).to.equal(4)
    expect(delta('keybroker_audit_write_duration_seconds_count')).to.equal(5)
    expect(sample(after, 'keybroker_revoked_tokens_live')).to.equal(1)
    expect(sample(after, 'keybroker_signing_key_age_seconds')).to.be.at.least(0)
    expect(after).to.contain('# TYPE keybroker_upstream_requests_total counter')
    expect(after).to.contain('# TYPE keybroker_secret_cache_total counter')
    expect(after).to.contain('process_cpu_user_seconds_total')
    expect(after).to.not.contain(issued[0]!.token)
  })

  it('logs one JSON line per exchange with exchange_id as the request id, never the token', async () => {
    const [token] = await issueTokens(t, billing, 1)
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.exchange_id === token!.exchange_id)
    expect(line).to.include({ kind: 'issue', decision: 'allow', subject: BILLING, msg: 'exchange' })
    expect(t.logs.join('')).to.not.contain(token!.token)
  })
})
