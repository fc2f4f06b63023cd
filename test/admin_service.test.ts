import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { decodeCursor } from '../src/audit/index.js'
import type { AdminClient } from '../src/generated/keybroker/v1/Admin.js'
import type { RevokeTokensRequest } from '../src/generated/keybroker/v1/RevokeTokensRequest.js'
import type { RevokeTokensResponse__Output } from '../src/generated/keybroker/v1/RevokeTokensResponse.js'
import type { RotateSigningKeyResponse__Output } from '../src/generated/keybroker/v1/RotateSigningKeyResponse.js'
import type { VerifyAuditLogResponse__Output } from '../src/generated/keybroker/v1/VerifyAuditLogResponse.js'
import { loadBrokerProto } from '../src/proto/load.js'
import { issueTokens, listExchanges, sample, scrapeMetrics, Watcher } from './fixtures/admin.js'
import { ADMIN, BILLING, baseConfigYaml, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

describe('Admin service over gRPC with an admin certificate', () => {
  let t: TestBroker
  let admin: AdminClient
  let billing: CertFiles
  let adminCert: CertFiles

  before(async () => {
    t = await TestBroker.start({
      configYaml: (dir, pki) =>
        baseConfigYaml(dir, pki).replace('write_timeout: 1s }', 'write_timeout: 1s, watch_max_lag: 300 }'),
    })
    billing = await t.pki.spiffe('billing', BILLING)
    adminCert = await t.pki.spiffe('admin', ADMIN)
    admin = t.adminClient(adminCert)
  })
  after(() => t.close())

  describe('ListExchanges', () => {
    it('lists newest first with filters, and audits the call as kind admin', async () => {
      const issued = await issueTokens(t, billing, 3)
      const res = await listExchanges(admin)({ subject: BILLING, kind: 'issue', limit: 2 })
      expect(res.exchanges.map((e) => e.token_id)).to.deep.equal([issued[2]!.token_id, issued[1]!.token_id])
      expect(res.exchanges[0]!.decision).to.equal('allow')
      expect(res.exchanges[0]!.audience).to.equal('payments-api')
      expect(res.next_page_token).to.be.a('string').and.not.equal('')
      const rows = await t.broker.log.tail(1)
      expect(rows[0]).to.include({ kind: 'admin', decision: 'allow', subject: ADMIN })
      expect(rows[0]!.detail).to.include({ method: 'ListExchanges', filter_subject: BILLING, returned: 2 })
    })

    it('pages with page_token until the end, without repeats', async () => {
      const list = listExchanges(admin)
      const all = await list({ kind: 'issue', limit: 1000 })
      const seen: number[] = []
      let token = ''
      do {
        const page = await list({ kind: 'issue', limit: 2, page_token: token })
        seen.push(...page.exchanges.map((e) => Number(e.seq)))
        token = page.next_page_token
      } while (token)
      expect(seen).to.deep.equal(all.exchanges.map((e) => Number(e.seq)))
    })

    it('reusing a page_token with the same filters returns the same page again', async () => {
      const list = listExchanges(admin)
      const first = await list({ kind: 'issue', limit: 1 })
      const again = await list({ kind: 'issue', limit: 1, page_token: first.next_page_token })
      await issueTokens(t, billing, 1) // newer rows do not shift a cursor page
      const retry = await list({ kind: 'issue', limit: 1, page_token: first.next_page_token })
      expect(retry.exchanges.map((e) => e.id)).to.deep.equal(again.exchanges.map((e) => e.id))
    })

    it('filters by audience, decision and a since/until window (RFC 3339 and unix seconds)', async () => {
      const now = Math.floor(Date.now() / 1000)
      const list = listExchanges(admin)
      const inWindow = await list({
        audience: 'payments-api',
        decision: 'allow',
        since: new Date((now - 3600) * 1000).toISOString(),
        until: String(now + 3600),
      })
      expect(inWindow.exchanges.length).to.be.greaterThan(0)
      expect(inWindow.exchanges.every((e) => e.audience === 'payments-api')).to.equal(true)
      const future = await list({ since: String(now + 3600) })
      expect(future.exchanges).to.deep.equal([])
    })
  })

  describe('RevokeTokens', () => {
    it('revokes one token by id, persisted with its exp, audited as kind revoke', async () => {
      const [token] = await issueTokens(t, billing, 1)
      const revoke = unary<RevokeTokensRequest, RevokeTokensResponse__Output>(admin, 'RevokeTokens')
      const res = await revoke({ token_id: token!.token_id, reason: 'leaked in a CI log' })
      expect(res).to.deep.include({ revoked: 1, token_ids: [token!.token_id] })
      expect(t.broker.revocations.isRevoked(token!.token_id)).to.equal(true)
      const row = (await t.broker.storage.revocations.since(0, 0)).find((r) => r.jti === token!.token_id)
      const stored = row && { expires_at: row.not_after, subject: row.subject, reason: row.reason }
      expect(stored).to.deep.equal({
        expires_at: token!.expires_at,
        subject: BILLING,
        reason: 'leaked in a CI log',
      })
      const trail = await t.broker.log.findByTokenId(token!.token_id)
      expect(trail.map((r) => [r.kind, r.decision])).to.deep.equal([
        ['issue', 'allow'],
        ['revoke', 'allow'],
      ])
      expect(trail[1]!.id).to.equal(res.exchange_id)
      expect(trail[1]!.subject).to.equal(ADMIN)
    })

    it('revokes every live token of a subject', async () => {
      const issued = await issueTokens(t, billing, 2)
      const revoke = unary<RevokeTokensRequest, RevokeTokensResponse__Output>(admin, 'RevokeTokens')
      const res = await revoke({ subject: BILLING })
      for (const token of issued) expect(res.token_ids).to.include(token.token_id)
      for (const id of res.token_ids) expect(t.broker.revocations.isRevoked(id)).to.equal(true)
      const again = await revoke({ subject: BILLING })
      expect(again.revoked).to.equal(0) // all already revoked
    })
  })

  describe('VerifyAuditLog and RotateSigningKey', () => {
    it('verifies the chain', async () => {
      const res = await unary<object, VerifyAuditLogResponse__Output>(admin, 'VerifyAuditLog')({})
      expect(res.ok).to.equal(true)
      expect(res.rows_checked).to.be.greaterThan(5)
      expect(res.problem).to.equal('')
    })

    it('publishes a new key ahead of signing', async () => {
      const before = t.broker.keys.list().map((k) => k.kid)
      const res = await unary<object, RotateSigningKeyResponse__Output>(admin, 'RotateSigningKey')({})
      expect(before).to.not.include(res.new_kid)
      expect(res.published_kids).to.include(res.new_kid)
      expect(JSON.parse(t.broker.keys.jwksText()).keys.map((k: { kid: string }) => k.kid)).to.include(
        res.new_kid,
      )
      expect(res.activates_at).to.be.a('number')
      expect((await t.broker.log.tail(1))[0]!.detail).to.include({
        method: 'RotateSigningKey',
        new_kid: res.new_kid,
      })
    })
  })

  describe('WatchExchanges', () => {
    it('resumes from its cursor after a disconnect: every missed exchange exactly once', async () => {
      const filter = { subject: BILLING, kind: 'issue' }
      const first = new Watcher(admin, filter)
      const live = await issueTokens(t, billing, 2)
      await first.until(() => first.rows.length === 2)
      expect(first.rows.map((r) => r.token_id)).to.deep.equal(live.map((r) => r.token_id))
      const cursor = Number(first.rows[first.rows.length - 1]!.seq)
      first.cancel()

      const missed = await issueTokens(t, billing, 3)
      const second = new Watcher(admin, { ...filter, after_seq: cursor })
      await second.until(() => second.rows.length >= 3)
      const afterReconnect = await issueTokens(t, billing, 2)
      await second.until(() => second.rows.length >= 5)
      await new Promise((r) => setTimeout(r, 100)) // a duplicate, if any, would arrive now
      expect(second.rows.map((r) => r.token_id)).to.deep.equal(
        [...missed, ...afterReconnect].map((r) => r.token_id),
      )
      const seqs = second.rows.map((r) => Number(r.seq))
      expect(new Set(seqs).size).to.equal(seqs.length)
      second.cancel()
    })

    it('drops a watcher that never reads after a bounded backlog; other watchers are unaffected', async () => {
      // separate connections, as separate operators would have: HTTP/2 flow control is per connection too
      const proto = loadBrokerProto()
      const ownConnection = () =>
        new proto.keybroker.v1.Admin(t.address, t.credentials(adminCert), {
          'grpc.ssl_target_name_override': 'localhost',
          'grpc.use_local_subchannel_pool': 1,
        })
      const slowClient = ownConnection()
      const fineClient = ownConnection()
      const slow = new Watcher(slowClient, { kind: 'issue' }, { read: false })
      const fine = new Watcher(fineClient, { kind: 'issue' })
      await new Promise((r) => setTimeout(r, 200)) // both streams open
      const startSeq = (await t.broker.log.tail(1))[0]!.seq
      // rows large enough to fill the HTTP/2 flow-control windows quickly; bursts stay well under
      // watch_max_lag (300 here) and wait for the reading watcher, so only the stalled one can lag
      const padding = 'x'.repeat(1800)
      const dropped = async () => (await t.broker.metrics.watchersDropped.get()).values[0]?.value ?? 0
      let produced = 0
      while ((await dropped()) === 0 && produced < 5000) {
        const burst = []
        for (let i = 0; i < 50; i++)
          burst.push(
            t.broker.audit.append({ kind: 'issue', decision: 'allow', reason: `${produced++} ${padding}` }),
          )
        await Promise.all(burst)
        await fine.until(() => fine.rows.length === produced)
      }
      expect(produced).to.be.below(5000)
      // The status waits behind the rows already in flight (HTTP/2 keeps a stream's frames in
      // order), so the stalled watcher learns it was dropped, and where to resume, once it reads.
      slow.resume()
      await slow.until(() => slow.error !== undefined)
      expect(slow.error!.code).to.equal(grpc.status.RESOURCE_EXHAUSTED)
      const match =
        /^watcher stopped reading and fell \d+ exchanges behind \(limit 300\); reconnect with cursor=(\S+)$/.exec(
          slow.error!.details,
        )
      expect(match, slow.error!.details).to.not.equal(null)
      const resumeAt = match![1]!
      const cursor = decodeCursor(resumeAt)[t.broker.nodeId]!
      const slowSeqs = slow.rows.map((r) => Number(r.seq))
      expect(slowSeqs).to.deep.equal(Array.from({ length: cursor - startSeq }, (_, i) => startSeq + 1 + i))
      // the reading watcher carries on, in order, with nothing skipped
      await issueTokens(t, billing, 1)
      await fine.until(() => fine.rows.length === produced + 1)
      expect(fine.rows.map((r) => Number(r.seq))).to.deep.equal(
        Array.from({ length: produced + 1 }, (_, i) => startSeq + 1 + i),
      )
      expect(fine.error).to.equal(undefined)
      // and the dropped one resumes from its cursor with nothing lost
      const resumed = new Watcher(admin, { kind: 'issue', cursor: resumeAt })
      await resumed.until(() => resumed.rows.length === produced + 1 - (cursor - startSeq))
      expect(Number(resumed.rows[0]!.seq)).to.equal(cursor + 1)
      resumed.cancel()
      fine.cancel()
      slowClient.close()
      fineClient.close()
      expect(sample(await scrapeMetrics(t), 'keybroker_watchers_dropped_total')).to.equal(1)
    })
  })
})
