import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { BrokerClient, type BrokerToken } from 'keybroker/client'
import { Agent, request } from 'undici'
import type { ExchangeBatch__Output } from '../src/generated/keybroker/v1/ExchangeBatch.js'
import type { GetExchangeStatsResponse__Output } from '../src/generated/keybroker/v1/GetExchangeStatsResponse.js'
import type { ListRevocationsResponse__Output } from '../src/generated/keybroker/v1/ListRevocationsResponse.js'
import type { ListSigningKeysResponse__Output } from '../src/generated/keybroker/v1/ListSigningKeysResponse.js'
import type { RetireSigningKeyResponse__Output } from '../src/generated/keybroker/v1/RetireSigningKeyResponse.js'
import { ADMIN, AGENT, expectGrpcError, serverConfigYaml, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'
import { chargesRouteYaml } from './fixtures/proxy_route.js'
import { RecordingUpstream } from './fixtures/recording_upstream.js'
import { append } from './storage_conformance/harness.js'

const AUDITOR = 'spiffe://example.org/ops/auditor'
const KEY = 'sk_live_operator_rpcs_0123456789'

/** Admin.ListSigningKeys, RetireSigningKey, ListRevocations, GetExchangeStats, ExportExchanges. */
describe('Admin operator RPCs: keys, revocations, stats, export', function () {
  this.timeout(60_000)
  let t: TestBroker
  let upstream: RecordingUpstream
  let agentCert: CertFiles
  let admin: grpc.Client
  let auditor: grpc.Client
  let client: BrokerClient
  let dispatcher: Agent

  before(async () => {
    let upstreamUrl = ''
    t = await TestBroker.start({
      configYaml: (dir, pki) => {
        return `${serverConfigYaml(dir, pki)}${chargesRouteYaml(dir, pki, KEY, upstreamUrl)}admins:
  - "${ADMIN}"
  - { spiffe_id: "${AUDITOR}", role: auditor }
grants:
  - name: agents
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: "proxy:charges", scopes: ["GET /v1/charges*"], max_ttl: 5m }
    delegation: { max_depth: 2 }
`
      },
      beforeConfig: async (pki) => {
        upstream = await new RecordingUpstream({
          certPem: pki.server.certPem,
          keyPem: pki.server.keyPem,
        }).start()
        upstreamUrl = upstream.url
      },
    })
    agentCert = await t.pki.spiffe('research-agent', AGENT)
    admin = t.adminClient(await t.pki.spiffe('admin', ADMIN))
    auditor = t.adminClient(await t.pki.spiffe('auditor', AUDITOR))
    client = new BrokerClient({
      address: t.address,
      tls: {
        caFile: t.pki.caFile,
        certFile: agentCert.cert,
        keyFile: agentCert.key,
        serverName: 'localhost',
      },
    })
    dispatcher = new Agent({ connect: { ca: t.pki.ca.certPem } })
  })

  after(async () => {
    client.close()
    await dispatcher.close()
    await t.close()
    await upstream.close()
  })

  const proxy = async (token: string) => {
    const res = await request(`${t.httpUrl}/proxy/charges/v1/charges`, {
      headers: { authorization: `Bearer ${token}` },
      dispatcher,
    })
    return { status: res.statusCode, text: await res.body.text() }
  }
  const jwksKids = async () => {
    const res = await request(`${t.httpUrl}/.well-known/jwks.json`, { dispatcher })
    return ((await res.body.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)
  }
  const kidOf = (token: string) =>
    (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid
  const listKeys = (c: grpc.Client) =>
    unary<object, ListSigningKeysResponse__Output>(c, 'ListSigningKeys')({})
  const retire = (c: grpc.Client, kid: string, reason = '') =>
    unary<object, RetireSigningKeyResponse__Output>(c, 'RetireSigningKey')({ kid, reason })

  describe('RetireSigningKey', () => {
    let before: BrokerToken
    let kid: string

    it('an auditor may list keys but not retire one (refusal audited, key untouched)', async () => {
      before = await client.token({ audience: 'proxy:charges', ttlSeconds: 120 })
      kid = kidOf(before.token)
      const listed = await listKeys(auditor)
      expect(listed.keys.find((k) => k.kid === kid)).to.include({
        state: 'signing',
        alg: 'ES256',
        retired_at: 0,
      })
      const err = await expectGrpcError(retire(auditor, kid))
      expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
      expect(err.details).to.contain('needs role admin')
      const [row] = await t.broker.log.tail(1)
      expect(row).to.include({ kind: 'admin', decision: 'deny', subject: AUDITOR })
      expect(row!.detail).to.include({ method: 'RetireSigningKey', kid })
      expect(await jwksKids()).to.include(kid)
      expect((await proxy(before.token)).status).to.equal(200)
    })

    it('refuses an unknown or empty kid with NOT_FOUND / INVALID_ARGUMENT, audited', async () => {
      const unknown = await expectGrpcError(retire(admin, 'no-such-kid'))
      expect(unknown.code).to.equal(grpc.status.NOT_FOUND)
      expect(unknown.details).to.contain('no signing key no-such-kid')
      expect((await t.broker.log.tail(1))[0]).to.include({ kind: 'admin', decision: 'deny' })
      const empty = await expectGrpcError(retire(admin, ''))
      expect(empty.code).to.equal(grpc.status.INVALID_ARGUMENT)
    })

    it('the key stops signing and leaves JWKS at once; its tokens are refused by the proxy and DelegateToken', async () => {
      const res = await retire(admin, kid, 'key leaked in a CI log')
      expect(res.kid).to.equal(kid)
      expect(res.published_kids).to.not.include(kid)
      expect(res.published_kids.length).to.be.greaterThan(0)
      expect(res.exchange_id).to.match(/^[0-9A-Z]{26}$/)
      // leaves JWKS and stops signing, with no wait
      expect(await jwksKids()).to.not.include(kid)
      // (another ttl: the SDK caches per ttl, and a cached token would be the old one)
      const after = await client.token({ audience: 'proxy:charges', ttlSeconds: 119 })
      expect(kidOf(after.token)).to.not.equal(kid)
      // the proxy refuses the old token and names why; the upstream never sees it
      const seen = upstream.received.length
      const refused = await proxy(before.token)
      expect(refused.status).to.equal(401)
      expect(JSON.parse(refused.text).message).to.contain(`signed by key ${kid}, which has been retired`)
      expect(upstream.received.length).to.equal(seen)
      // DelegateToken refuses it too
      const err = (await client.delegate(before.token, { actor: 'sub', ttlSeconds: 30 }).then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      )) as (Error & { code?: string }) | undefined
      expect(err?.code).to.equal('ERR_TOKEN_REVOKED')
      // the new key works end to end
      expect((await proxy(after.token)).status).to.equal(200)
      // the retirement is an event on the revocation feed (replicas and verifiers drop the key)
      const feed = await t.broker.storage.revocations.since(0, Math.floor(Date.now() / 1000))
      expect(feed.find((r) => r.kid === kid)).to.include({
        jti: `kid:${kid}`,
        reason: 'key leaked in a CI log',
      })
      // audited: who retired which key, and why
      const rows = await t.broker.log.tail(10)
      const row = rows.find((r) => r.detail?.method === 'RetireSigningKey' && r.decision === 'allow')
      expect(row).to.include({ kind: 'admin', subject: ADMIN, reason: 'key leaked in a CI log' })
      expect(row!.detail).to.include({ kid, newly_retired: 1 })
      // listed as retired, with the time
      const listed = await listKeys(admin)
      const entry = listed.keys.find((k) => k.kid === kid)!
      expect(entry.state).to.equal('retired')
      expect(Number(entry.retired_at)).to.be.closeTo(Date.now() / 1000, 60)
      expect(listed.keys.filter((k) => k.state === 'signing')).to.have.length(1)
    })
  })

  describe('ListRevocations', () => {
    it('lists token and key revocations in force, newest first; limit bounds it; audited', async () => {
      const token = await client.token({ audience: 'proxy:charges', ttlSeconds: 60 })
      await unary<object, object>(admin, 'RevokeTokens')({ token_id: token.tokenId, reason: 'rpc test' })
      const res = await unary<object, ListRevocationsResponse__Output>(
        auditor,
        'ListRevocations',
      )({ limit: 0 })
      expect(res.revocations[0]).to.include({ token_id: token.tokenId, subject: AGENT, reason: 'rpc test' })
      expect(res.revocations.some((r) => r.kid !== '' && r.token_id === `kid:${r.kid}`)).to.equal(true)
      expect(Number(res.revocations[0]!.not_after)).to.be.at.least(token.expiresAt)
      const one = await unary<object, ListRevocationsResponse__Output>(
        auditor,
        'ListRevocations',
      )({ limit: 1 })
      expect(one.revocations).to.have.length(1)
      const [row] = await t.broker.log.tail(1)
      expect(row!.detail).to.include({ method: 'ListRevocations', role: 'auditor', returned: 1 })
      const tooMany = await expectGrpcError(
        unary<object, object>(auditor, 'ListRevocations')({ limit: 1_000_000 }),
      )
      expect(tooMany.code).to.equal(grpc.status.INVALID_ARGUMENT)
    })
  })

  describe('GetExchangeStats', () => {
    const stats = (c: grpc.Client, req: object) =>
      unary<object, GetExchangeStatsResponse__Output>(c, 'GetExchangeStats')(req)

    it('counts per bucket by decision, latency percentiles, top subjects/audiences, denials by reason, by kind', async () => {
      // one refusal of a known reason
      await client.token({ audience: 'not-granted', ttlSeconds: 60 }).catch(() => undefined)
      const res = await stats(auditor, { filter: { since: '0' }, bucket: '1h', top: 5 })
      const total = Number(res.total)
      expect(total).to.be.greaterThan(5)
      const sum = res.buckets.reduce(
        (n, b) => n + Number(b.allow) + Number(b.deny) + Number(b.error) + Number(b.pending),
        0,
      )
      expect(sum).to.equal(total)
      for (const b of res.buckets) {
        expect(Number(b.start) % 3600).to.equal(0)
        expect(Number(b.latency_p99_us)).to.be.at.least(Number(b.latency_p50_us))
      }
      expect(res.top_subjects.map((e) => e.key)).to.include(AGENT)
      expect(res.top_audiences.map((e) => e.key)).to.include('proxy:charges')
      expect(res.by_kind.map((e) => e.key)).to.include.members(['issue', 'proxy', 'admin'])
      expect(res.denials_by_reason.map((e) => e.key)).to.include.members([
        'ERR_TOKEN_REVOKED',
        'ERR_NOT_FOUND',
      ])
      // a filter narrows every list
      const issues = await stats(auditor, {
        filter: { kind: 'issue', subject: 'spiffe://example.org/ns/agents/*' },
      })
      expect(issues.by_kind.map((e) => e.key)).to.deep.equal(['issue'])
      expect(issues.top_subjects.map((e) => e.key)).to.deep.equal([AGENT])
      const [row] = await t.broker.log.tail(1)
      expect(row!.detail).to.include({ method: 'GetExchangeStats', filter_kind: 'issue' })
      expect(row!.detail!.total).to.equal(Number(issues.total))
    })

    it('refuses a bad bucket, and too many buckets, naming what to change (audited)', async () => {
      const bad = await expectGrpcError(stats(auditor, { bucket: 'hourly' }))
      expect(bad.code).to.equal(grpc.status.INVALID_ARGUMENT)
      expect(bad.details).to.contain('bucket: "hourly" is not a duration')
      expect((await t.broker.log.tail(1))[0]).to.include({ kind: 'admin', decision: 'deny' })
      // 10,001 rows one second apart, in buckets of 1s
      await t.broker.storage.leases.acquire('stats-bulk', 'test', 60_000)
      const start = Date.now() - 3 * 3600_000
      await append(
        t.broker.storage,
        'stats-bulk',
        Array.from({ length: 10_001 }, (_, i) => ({
          ts: start + i * 1000,
          subject: 'spiffe://example.org/bulk',
        })),
      )
      const many = await expectGrpcError(
        stats(auditor, { filter: { subject: 'spiffe://example.org/bulk' }, bucket: '1s' }),
      )
      expect(many.code).to.equal(grpc.status.INVALID_ARGUMENT)
      expect(many.details).to.contain('use a larger bucket or a shorter window')
      const hourly = await stats(auditor, { filter: { subject: 'spiffe://example.org/bulk' }, bucket: '1h' })
      expect(Number(hourly.total)).to.equal(10_001)
    })
  })

  describe('ExportExchanges', () => {
    it('streams every matching row oldest first in batches of at most 1000; audited once', async () => {
      const call = (
        admin as unknown as { ExportExchanges(req: object): grpc.ClientReadableStream<ExchangeBatch__Output> }
      ).ExportExchanges({ subject: 'spiffe://example.org/bulk' })
      const batches: number[] = []
      const seqs: number[] = []
      await new Promise<void>((resolve, reject) => {
        call.on('data', (batch: ExchangeBatch__Output) => {
          batches.push(batch.exchanges.length)
          for (const row of batch.exchanges) seqs.push(Number(row.seq))
        })
        call.on('end', resolve)
        call.on('error', reject)
      })
      expect(seqs).to.have.length(10_001)
      expect(seqs).to.deep.equal(Array.from({ length: 10_001 }, (_, i) => i + 1))
      expect(Math.max(...batches)).to.equal(1000)
      expect(batches.length).to.be.at.most(12)
      const [row] = await t.broker.log.tail(1)
      expect(row!.detail).to.include({
        method: 'ExportExchanges',
        filter_subject: 'spiffe://example.org/bulk',
      })
      // a bad filter is refused before any row
      const bad = (
        admin as unknown as { ExportExchanges(req: object): grpc.ClientReadableStream<ExchangeBatch__Output> }
      ).ExportExchanges({ kind: 'nope' })
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        bad.on('data', () => {})
        bad.on('error', resolve)
      })
      expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
    })
  })
})
