import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { decodeJwt } from 'jose'
import { Agent, request } from 'undici'
import { loadConfig } from '../src/config/index.js'
import type { DelegateTokenRequest } from '../src/generated/keybroker/v1/DelegateTokenRequest.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import type { RevokeTokensRequest } from '../src/generated/keybroker/v1/RevokeTokensRequest.js'
import type { RevokeTokensResponse__Output } from '../src/generated/keybroker/v1/RevokeTokensResponse.js'
import type { UnblockSubjectRequest } from '../src/generated/keybroker/v1/UnblockSubjectRequest.js'
import type { UnblockSubjectResponse__Output } from '../src/generated/keybroker/v1/UnblockSubjectResponse.js'
import { listExchanges, sample, scrapeMetrics } from './fixtures/admin.js'
import {
  ADMIN,
  AGENT,
  BILLING,
  type Call,
  expectGrpcError,
  serverConfigYaml,
  TestBroker,
  unary,
} from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'
import { RecordingUpstream } from './fixtures/recording_upstream.js'

const KEY = 'sk_test_guardrails_0123456789'
const LIMITED = 'spiffe://example.org/ns/limited/sa/looper'
const PROXY_LIMITED = 'spiffe://example.org/ns/slow/sa/caller'
const TASKED = 'spiffe://example.org/ns/tasked/sa/worker'

function configYaml(upstreamUrl: string, dir: string, pki: TestBroker['pki'], extraGrants = ''): string {
  const secretsFile = join(dir, 'secrets.json')
  writeFileSync(secretsFile, JSON.stringify({ api_key: KEY }), { mode: 0o600 })
  return `${serverConfigYaml(dir, pki)}admins: ["${ADMIN}"]
providers:
  local: { type: file, path: ${secretsFile} }
secrets:
  charges-key: { provider: local, field: api_key }
routes:
  charges: { upstream: "${upstreamUrl}/api", secret: charges-key, ca_file: ${pki.caFile} }
grants:
  - name: agents
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: "proxy:charges", scopes: ["GET /v1/*", "POST /v1/*"], max_ttl: 5m, max_uses: 5 }
      - { audience: search-api, scopes: ["search:read"], max_ttl: 5m }
    delegation: { max_depth: 2 }
  - name: tasked
    match: { spiffe_id: "${TASKED}" }
    tokens:
      - { audience: "proxy:charges", scopes: ["GET /v1/*"], require_task: true }
  - name: limited-loose
    match: { spiffe_id: "${LIMITED}" }
    tokens: [{ audience: search-api, scopes: ["search:read"] }]
    rate_limit: { issue: 100/m }
  - name: limited-strict
    match: { spiffe_id: "${LIMITED}" }
    tokens: [{ audience: search-api, scopes: ["search:read"] }]
    rate_limit: { issue: 2/h, burst: 2 }
  - name: slow-proxy
    match: { spiffe_id: "${PROXY_LIMITED}" }
    tokens: [{ audience: "proxy:charges", scopes: ["GET /v1/*"] }]
    rate_limit: { proxy: 1/h, burst: 2 }
  - name: billing
    match: { spiffe_id: "${BILLING}" }
    tokens: [{ audience: "proxy:charges", scopes: ["GET /v1/*"] }]
${extraGrants}`
}

/** Protobuf wire bytes of an IssueTokenRequest whose task.run_id is not UTF-8 (no client library would send it). */
function nonUtf8IssueRequest(): Buffer {
  const audience = Buffer.from('proxy:charges')
  const runId = Buffer.from([0x72, 0x75, 0x6e, 0xff, 0xfe])
  const task = Buffer.concat([Buffer.from([0x0a, runId.length]), runId])
  return Buffer.concat([
    Buffer.from([0x0a, audience.length]),
    audience,
    Buffer.from([0x2a, task.length]),
    task,
  ])
}

describe('agent guardrails', () => {
  let t: TestBroker
  let upstream: RecordingUpstream
  let upstreamUrl = ''
  let dispatcher: Agent
  const certs: Record<string, CertFiles> = {}
  const issueAs = (who: string): Call<IssueTokenRequest, IssueTokenResponse__Output> =>
    unary(t.brokerClient(certs[who]), 'IssueToken')
  const delegateAs = (who: string): Call<DelegateTokenRequest, IssueTokenResponse__Output> =>
    unary(t.brokerClient(certs[who]), 'DelegateToken')

  before(async () => {
    t = await TestBroker.start({
      configYaml: (dir, pki) => configYaml(upstreamUrl, dir, pki),
      beforeConfig: async (pki) => {
        upstream = await new RecordingUpstream({
          certPem: pki.server.certPem,
          keyPem: pki.server.keyPem,
        }).start()
        upstreamUrl = upstream.url
      },
    })
    for (const [name, id] of Object.entries({ AGENT, BILLING, ADMIN, LIMITED, PROXY_LIMITED, TASKED }))
      certs[name] = await t.pki.spiffe(name.toLowerCase(), id)
    dispatcher = new Agent({ connect: { ca: t.pki.ca.certPem }, connections: 64 })
  })

  after(async () => {
    await dispatcher.close()
    await t.close()
    await upstream.close()
  })

  /** One row by exchange id, detail parsed. */
  async function byId(id: string) {
    const row = await t.broker.storage.reader.byId(id)
    return row && { ...row, detail: row.detail ? (JSON.parse(row.detail) as Record<string, unknown>) : null }
  }

  async function proxy(token: string, path = '/v1/charges') {
    const res = await request(`${t.httpUrl}/proxy/charges${path}`, {
      headers: { authorization: `Bearer ${token}` },
      dispatcher,
    })
    const text = await res.body.text()
    return { status: res.statusCode, headers: res.headers, text }
  }

  describe('task binding', () => {
    it('a token carries kb_task and kb_grant; its audit row has run_id, tool_call_id and grant_name', async () => {
      const issued = await issueAs('AGENT')({
        audience: 'search-api',
        task: { run_id: 'run-42', tool_call_id: 'call-1', purpose: 'look up the invoice' },
      })
      const claims = decodeJwt(issued.token)
      expect(claims.kb_task).to.deep.equal({ run_id: 'run-42', tool_call_id: 'call-1' })
      expect(claims.kb_grant).to.equal('agents')
      expect(JSON.stringify(claims)).not.to.include('invoice') // purpose stays in the log
      const row = (await t.broker.log.findByTokenId(issued.token_id))[0]
      expect(row).to.include({ run_id: 'run-42', tool_call_id: 'call-1', grant_name: 'agents' })
      expect(row?.detail).to.include({ purpose: 'look up the invoice' })
    })

    for (const [label, task, pattern] of [
      ['a run_id longer than 128 characters', { run_id: 'r'.repeat(129) }, /task\.run_id is longer than 128/],
      [
        'a tool_call_id with a control character',
        { run_id: 'run-1', tool_call_id: 'call\u0007' },
        /control character/,
      ],
      ['a purpose with a line break', { purpose: 'a\nb' }, /task\.purpose .*control character/],
    ] as const) {
      it(`${label} is INVALID_ARGUMENT, audited`, async () => {
        const err = await expectGrpcError(issueAs('AGENT')({ audience: 'search-api', task }))
        expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
        expect(err.details).to.match(pattern)
        const id = String(err.metadata.get('keybroker-exchange-id')[0])
        const row = (await t.broker.log.tail(5)).find((r) => r.id === id)
        expect(row).to.include({ kind: 'issue', decision: 'deny', subject: AGENT })
      })
    }

    it('a run_id of 128 multi-byte characters is accepted (the limit counts characters)', async () => {
      const issued = await issueAs('AGENT')({ audience: 'search-api', task: { run_id: 'é'.repeat(128) } })
      expect((decodeJwt(issued.token).kb_task as { run_id: string }).run_id).to.have.length(128)
    })

    it('a run_id that is not UTF-8 is INVALID_ARGUMENT', async () => {
      const client = t.brokerClient(certs.AGENT)
      const err = await new Promise<grpc.ServiceError>((resolve, reject) =>
        client.makeUnaryRequest(
          '/keybroker.v1.Broker/IssueToken',
          (b: Buffer) => b,
          (b: Buffer) => b,
          nonUtf8IssueRequest(),
          new grpc.Metadata(),
          { deadline: Date.now() + 10_000 },
          (e: grpc.ServiceError | null) =>
            e ? resolve(e) : reject(new Error('accepted a non-UTF-8 run_id')),
        ),
      )
      expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
      expect(err.details).to.match(/task\.run_id must be valid UTF-8.*not UTF-8/)
    })

    it('require_task: a request without a run_id is INVALID_ARGUMENT; with one it is served', async () => {
      const err = await expectGrpcError(
        issueAs('TASKED')({ audience: 'proxy:charges', task: { run_id: '' } }),
      )
      expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
      expect(err.details).to.match(/grant "tasked" requires task\.run_id/)
      const ok = await issueAs('TASKED')({ audience: 'proxy:charges', task: { run_id: 'run-7' } })
      expect(decodeJwt(ok.token).kb_task).to.deep.equal({ run_id: 'run-7' })
    })

    it('a delegated child inherits the run, may name its own tool call, and may not switch runs', async () => {
      const parent = await issueAs('AGENT')({
        audience: 'search-api',
        task: { run_id: 'run-9', tool_call_id: 'c1' },
      })
      const inherited = await delegateAs('AGENT')({ parent_token: parent.token, actor: 'sub-1' })
      expect(decodeJwt(inherited.token).kb_task).to.deep.equal({ run_id: 'run-9', tool_call_id: 'c1' })
      const own = await delegateAs('AGENT')({
        parent_token: parent.token,
        actor: 'sub-2',
        task: { run_id: 'run-9', tool_call_id: 'c2' },
      })
      expect(decodeJwt(own.token).kb_task).to.deep.equal({ run_id: 'run-9', tool_call_id: 'c2' })
      expect((await t.broker.log.findByTokenId(own.token_id))[0]).to.include({
        kind: 'delegate',
        run_id: 'run-9',
        tool_call_id: 'c2',
        grant_name: 'agents',
      })
      const err = await expectGrpcError(
        delegateAs('AGENT')({ parent_token: parent.token, actor: 'sub-3', task: { run_id: 'run-other' } }),
      )
      expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
      expect(err.details).to.match(/differs from the parent token's run "run-9"/)
    })
  })

  describe('usage budgets', () => {
    it('max_uses 0 takes the grant cap, above it is capped, a negative number (a huge uint32) is capped too', async () => {
      const issue = issueAs('AGENT')
      expect((await issue({ audience: 'proxy:charges' })).max_uses).to.equal(5)
      expect((await issue({ audience: 'proxy:charges', max_uses: 3 })).max_uses).to.equal(3)
      const above = await issue({ audience: 'proxy:charges', max_uses: 50 })
      expect(above.max_uses).to.equal(5)
      expect((await t.broker.log.findByTokenId(above.token_id))[0]?.detail).to.include({
        max_uses: 5,
        max_uses_capped: true,
      })
      expect((await issue({ audience: 'proxy:charges', max_uses: -1 })).max_uses).to.equal(5)
      // no grant cap: 0 stays unlimited
      expect((await issueAs('BILLING')({ audience: 'proxy:charges' })).max_uses).to.equal(0)
    })

    it('max_uses on an audience the proxy does not serve is INVALID_ARGUMENT, never a silent unlimited token', async () => {
      const err = await expectGrpcError(issueAs('AGENT')({ audience: 'search-api', max_uses: 1 }))
      expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
      expect(err.details).to.match(/max_uses is counted by the injection proxy only/)
    })

    it('each proxied request spends one use; the response says what is left; past the budget: 429 budget_exhausted, audited', async () => {
      const token = await issueAs('AGENT')({ audience: 'proxy:charges', max_uses: 2 })
      const first = await proxy(token.token)
      expect(first.status, first.text).to.equal(200)
      expect(first.headers['keybroker-budget-remaining']).to.equal('1')
      expect((await proxy(token.token)).headers['keybroker-budget-remaining']).to.equal('0')
      const seen = upstream.received.length
      const refused = await proxy(token.token)
      expect(refused.status).to.equal(429)
      expect(JSON.parse(refused.text)).to.include({ error: 'budget_exhausted' })
      expect(JSON.parse(refused.text).message).to.match(/no use left/)
      expect(refused.headers['keybroker-budget-remaining']).to.equal('0')
      expect(upstream.received.length, 'nothing reached the upstream').to.equal(seen)
      const row = await byId(String(refused.headers['keybroker-exchange-id']))
      expect(row).to.include({ kind: 'proxy', decision: 'deny', token_id: token.token_id })
      expect(row?.detail).to.include({ code: 'ERR_BUDGET_EXHAUSTED' })
    })

    it('50 parallel requests on a one-use token: exactly one succeeds', async () => {
      const token = await issueAs('AGENT')({ audience: 'proxy:charges', max_uses: 1 })
      const before = await scrapeMetrics(t)
      const results = await Promise.all(Array.from({ length: 50 }, () => proxy(token.token)))
      const statuses = results.map((r) => r.status)
      expect(statuses.filter((s) => s === 200)).to.have.length(1)
      expect(statuses.filter((s) => s === 429)).to.have.length(49)
      const rows = (await t.broker.log.tail(400)).filter(
        (r) => r.token_id === token.token_id && r.kind === 'proxy',
      )
      expect(rows.filter((r) => r.detail?.phase === 'authorized')).to.have.length(1)
      expect(rows.filter((r) => r.decision === 'deny')).to.have.length(49)
      const after = await scrapeMetrics(t)
      expect(
        sample(after, 'keybroker_budget_exhausted_total') -
          sample(before, 'keybroker_budget_exhausted_total'),
      ).to.equal(49)
    })

    it("a delegated child spends its parent's budget too, and cannot ask for more than the parent has left", async () => {
      const parent = await issueAs('AGENT')({ audience: 'proxy:charges', max_uses: 3 })
      expect((await proxy(parent.token)).status).to.equal(200) // parent: 2 left
      const err = await expectGrpcError(
        delegateAs('AGENT')({ parent_token: parent.token, actor: 'sub', max_uses: 3 }),
      )
      expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
      expect(err.details).to.match(/more than the parent token has left \(2\)/)
      const child = await delegateAs('AGENT')({ parent_token: parent.token, actor: 'sub', max_uses: 1 })
      expect(child.max_uses).to.equal(1)
      const unbudgeted = await delegateAs('AGENT')({ parent_token: parent.token, actor: 'sub-b' })
      expect(unbudgeted.max_uses, 'reports what its ancestors have left').to.equal(2)
      expect((await proxy(child.token)).status).to.equal(200) // parent: 1 left; child: 0
      expect((await proxy(child.token)).status).to.equal(429)
      expect((await proxy(unbudgeted.token)).status).to.equal(200) // parent: 0
      const spent = await proxy(parent.token)
      expect(spent.status).to.equal(429)
      expect((await proxy(unbudgeted.token)).status).to.equal(429)
    })
  })

  describe('rate limits', () => {
    it('the strictest matching grant wins: past burst, RESOURCE_EXHAUSTED with retry-after; repeats fold into one summary row', async () => {
      const issue = issueAs('LIMITED')
      await issue({ audience: 'search-api' })
      await issue({ audience: 'search-api' })
      const countBefore = await t.broker.log.count()
      const first = await expectGrpcError(issue({ audience: 'search-api' }))
      expect(first.code).to.equal(grpc.status.RESOURCE_EXHAUSTED)
      expect(first.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_RATE_LIMITED'])
      expect(first.details).to.match(/grant "limited-strict" \(2\/h, burst 2\)/)
      expect(Number(first.metadata.get('retry-after')[0])).to.be.within(1, 1800)
      const firstId = String(first.metadata.get('keybroker-exchange-id')[0])
      expect(await byId(firstId)).to.include({
        kind: 'issue',
        decision: 'deny',
        subject: LIMITED,
      })

      const folded = await Promise.all(
        [1, 2, 3].map(() => expectGrpcError(issue({ audience: 'search-api' }))),
      )
      const summaryIds = new Set(folded.map((e) => String(e.metadata.get('keybroker-exchange-id')[0])))
      expect(summaryIds.size, 'every folded refusal names the same summary row').to.equal(1)
      const [summaryId] = [...summaryIds]
      expect(summaryId).not.to.equal(firstId)
      expect(await t.broker.log.count(), 'folded refusals write no row of their own').to.equal(
        countBefore + 1,
      )

      await t.broker.guardrails.flush()
      const summary = await byId(summaryId!)
      expect(summary).to.include({
        kind: 'issue',
        decision: 'deny',
        reason: 'rate_limited',
        subject: LIMITED,
      })
      expect(summary?.detail).to.include({ count: 3, code: 'ERR_RATE_LIMITED' })
      const metrics = await scrapeMetrics(t)
      expect(sample(metrics, 'keybroker_rate_limited_total', { kind: 'issue' })).to.equal(4)
    })

    it('the proxy answers 429 rate_limited with Retry-After past the grant rate_limit.proxy', async () => {
      const token = await issueAs('PROXY_LIMITED')({ audience: 'proxy:charges' })
      expect((await proxy(token.token)).status).to.equal(200)
      expect((await proxy(token.token)).status).to.equal(200)
      const refused = await proxy(token.token)
      expect(refused.status).to.equal(429)
      expect(JSON.parse(refused.text)).to.include({ error: 'rate_limited' })
      expect(Number(refused.headers['retry-after'])).to.be.within(1, 3600)
    })

    it('a rate that is not one (60/fortnight) is refused at load, naming the key path', () => {
      const file = join(t.dir, 'bad-rate.yaml')
      writeFileSync(
        file,
        `issuer: https://kb.test\ngrants:\n  - name: g\n    match: { subject: x }\n    rate_limit: { issue: 60/fortnight }\n`,
      )
      expect(() => loadConfig(file)).to.throw(/grants\[0\]\.rate_limit\.issue.*"60\/fortnight" is not a rate/)
      writeFileSync(
        file,
        `issuer: https://kb.test\ngrants:\n  - name: g\n    match: { subject: x }\n    tokens: [{ audience: api, max_uses: 1 }]\n`,
      )
      expect(() => loadConfig(file)).to.throw(/grants\[0\]\.tokens\[0\]\.max_uses.*not proxy:<route>/)
    })
  })

  describe('containment', () => {
    it('revoke --block refuses new tokens to the subject until unblocked; both audited as kind block', async () => {
      const admin = t.adminClient(certs.ADMIN)
      const revoke = unary<RevokeTokensRequest, RevokeTokensResponse__Output>(admin, 'RevokeTokens')
      const unblock = unary<UnblockSubjectRequest, UnblockSubjectResponse__Output>(admin, 'UnblockSubject')
      const held = await issueAs('BILLING')({ audience: 'proxy:charges' })
      await revoke({ subject: BILLING, reason: 'runaway agent', block: true })
      expect((await proxy(held.token)).status).to.equal(401)
      const refused = await expectGrpcError(issueAs('BILLING')({ audience: 'proxy:charges' }))
      expect(refused.code).to.equal(grpc.status.PERMISSION_DENIED)
      expect(refused.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_SUBJECT_BLOCKED'])
      expect(refused.details).to.match(/keybroker unblock/)
      const blockRows = (await t.broker.log.tail(20)).filter((r) => r.kind === 'block')
      expect(blockRows.at(-1)?.detail).to.include({ action: 'block', target_subject: BILLING })

      expect((await unblock({ subject: BILLING, reason: 'fixed' })).unblocked).to.equal(true)
      expect((await unblock({ subject: BILLING })).unblocked).to.equal(false)
      const after = await issueAs('BILLING')({ audience: 'proxy:charges' })
      expect((await proxy(after.token)).status).to.equal(200)
      const unblockRows = (await t.broker.log.tail(20)).filter(
        (r) => r.kind === 'block' && r.detail?.action === 'unblock',
      )
      expect(unblockRows[0]).to.include({ decision: 'allow', subject: ADMIN, reason: 'fixed' })

      const bad = await expectGrpcError(revoke({ token_id: after.token_id, block: true }))
      expect(bad.code).to.equal(grpc.status.INVALID_ARGUMENT)
      expect(bad.details).to.match(/block needs subject/)
    })

    it('a replay of a revoked token at the proxy records its sub and jti', async () => {
      const token = await issueAs('AGENT')({ audience: 'proxy:charges' })
      await t.broker.revocations.revoke([{ jti: token.token_id, expiresAt: Number(token.expires_at) }])
      const replay = await proxy(token.token)
      expect(replay.status).to.equal(401)
      const row = await byId(String(replay.headers['keybroker-exchange-id']))
      expect(row).to.include({ kind: 'proxy', decision: 'deny', subject: AGENT, token_id: token.token_id })
    })

    it('removing a grant on reload refuses, at the proxy, the tokens it issued', async () => {
      const token = await issueAs('PROXY_LIMITED')({ audience: 'proxy:charges' })
      const billingToken = await issueAs('BILLING')({ audience: 'proxy:charges' })
      const original = configYaml(upstreamUrl, t.dir, t.pki)
      writeFileSync(
        t.configFile,
        original.replace(/ {2}- name: slow-proxy[\s\S]*?(?= {2}- name: billing)/, ''),
      )
      try {
        expect((await t.broker.reload('test')).ok).to.equal(true)
        const refused = await proxy(token.token)
        expect(refused.status).to.equal(401)
        expect(JSON.parse(refused.text).message).to.match(
          /grant "slow-proxy" that issued this token is no longer/,
        )
        expect((await proxy(billingToken.token)).status).to.equal(200)
      } finally {
        writeFileSync(t.configFile, original)
        await t.broker.reload('test')
      }
    })
  })

  // its own describe: mocha runs a suite's own tests before its child suites, and this one comes last
  describe('an agent run', () => {
    it('end to end: bound token, one-use child, budget spent, rate limit hit, ListExchanges by run_id', async () => {
      const run = `run-e2e-${Date.now()}`
      const parent = await issueAs('AGENT')({
        audience: 'proxy:charges',
        max_uses: 3,
        task: { run_id: run, tool_call_id: 'plan' },
      })
      const child = await delegateAs('AGENT')({
        parent_token: parent.token,
        actor: 'sub-agent',
        max_uses: 1,
        task: { tool_call_id: 'fetch-charges' },
      })
      expect(child.max_uses).to.equal(1)
      expect((await proxy(child.token)).status).to.equal(200)
      const spent = await proxy(child.token)
      expect(spent.status).to.equal(429)
      const err = await expectGrpcError(
        delegateAs('AGENT')({
          parent_token: parent.token,
          actor: 'greedy',
          max_uses: 3,
          task: { run_id: run },
        }),
      )
      expect(err.code).to.equal(grpc.status.INVALID_ARGUMENT)
      // the rate limit: a looping identity in the same run is cut off (a fresh refusal window first)
      await t.broker.guardrails.flush()
      let served = 0
      for (;;) {
        try {
          await issueAs('LIMITED')({ audience: 'search-api', task: { run_id: run } })
          served++
        } catch (e) {
          expect((e as grpc.ServiceError).code).to.equal(grpc.status.RESOURCE_EXHAUSTED)
          break
        }
        expect(served, 'the rate limit must bite').to.be.below(5)
      }
      await t.broker.guardrails.flush()

      const page = await listExchanges(t.adminClient(certs.ADMIN))({ run_id: run, limit: 50 })
      const steps = page.exchanges
        .map((e) => ({
          kind: e.kind,
          decision: e.decision,
          tool: e.tool_call_id,
          phase: e.detail ? (JSON.parse(e.detail).phase ?? '') : '',
          code: e.detail ? (JSON.parse(e.detail).code ?? '') : '',
        }))
        .reverse()
      expect(steps).to.deep.equal([
        { kind: 'issue', decision: 'allow', tool: 'plan', phase: '', code: '' },
        { kind: 'delegate', decision: 'allow', tool: 'fetch-charges', phase: '', code: '' },
        { kind: 'proxy', decision: 'allow', tool: 'fetch-charges', phase: 'authorized', code: '' },
        { kind: 'proxy', decision: 'allow', tool: 'fetch-charges', phase: 'completed', code: '' },
        { kind: 'proxy', decision: 'deny', tool: 'fetch-charges', phase: '', code: 'ERR_BUDGET_EXHAUSTED' },
        { kind: 'delegate', decision: 'deny', tool: 'plan', phase: '', code: 'ERR_INVALID_ARGUMENT' },
        ...Array.from({ length: served }, () => ({
          kind: 'issue',
          decision: 'allow',
          tool: '',
          phase: '',
          code: '',
        })),
        { kind: 'issue', decision: 'deny', tool: '', phase: '', code: 'ERR_RATE_LIMITED' },
      ])
      for (const e of page.exchanges) expect(e.run_id).to.equal(run)
    })
  })
})
