import { userInfo } from 'node:os'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { decodeJwt } from 'jose'
import type { ApprovalUpdate__Output } from '../src/generated/keybroker/v1/ApprovalUpdate.js'
import type { BrokerClient } from '../src/generated/keybroker/v1/Broker.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import {
  ADMIN,
  AGENT,
  baseConfigYaml,
  expectGrpcError,
  runCli,
  TestBroker,
  unary,
} from './fixtures/broker.js'
import { eventually } from './fixtures/net.js'
import type { CertFiles } from './fixtures/pki.js'

const FILLER = 'spiffe://example.org/ns/agents/sa/filler'
/** The broker's per-subject cap on pending approvals (src/server/app.ts MAX_PENDING_APPROVALS). */
const CAP = 100
const OPERATOR = `local:${userInfo().username}`

function config(dir: string, pki: Parameters<typeof baseConfigYaml>[1]): string {
  return baseConfigYaml(dir, pki, {
    grantsYaml: `  - name: sensitive
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: search-admin, scopes: ["index:drop"], max_ttl: 5m, approval: { approvers: ["${ADMIN}"], timeout: 10m } }
      - { audience: search-quick, scopes: ["index:drop"], max_ttl: 5m, approval: { approvers: ["${ADMIN}"], timeout: 1s } }
`,
  })
}

interface Outcome {
  approvalId?: string
  code: string
  status?: number
  details: string
  exchangeId: string
}

function waitStream(
  client: BrokerClient,
  approvalId: string,
): Promise<{ updates: ApprovalUpdate__Output[]; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const updates: ApprovalUpdate__Output[] = []
    const call = client.WaitForApproval({ approval_id: approvalId })
    call.on('data', (u: ApprovalUpdate__Output) => updates.push(u))
    call.on('error', (error: grpc.ServiceError) => resolve({ updates, error }))
    call.on('end', () => resolve({ updates }))
  })
}

/** Issue 15: the per-subject cap on pending approvals, and deciding approvals against the database file. */
describe('approvals: the pending cap per subject, and approve|deny against the database file', function () {
  this.timeout(120_000)
  let t: TestBroker
  const certs: Record<string, CertFiles> = {}

  before(async () => {
    t = await TestBroker.start({ configYaml: config })
    for (const [name, id] of Object.entries({ AGENT, FILLER, ADMIN }))
      certs[name] = await t.pki.spiffe(name.toLowerCase(), id)
  })
  after(() => t.close())

  /** Ask for an approval-gated token; the outcome read from the refusal's trailers. */
  async function ask(who: string, request: object): Promise<Outcome> {
    const err = await expectGrpcError(
      unary<object, IssueTokenResponse__Output>(t.brokerClient(certs[who]), 'IssueToken')(request),
    )
    const meta = (key: string) => String(err.metadata.get(key)[0] ?? '')
    return {
      approvalId: meta('keybroker-approval-id') || undefined,
      code: meta('keybroker-error-code'),
      status: err.code,
      details: err.details,
      exchangeId: meta('keybroker-exchange-id'),
    }
  }
  const sensitive = (ttl: number) => ({ audience: 'search-admin', scopes: ['index:drop'], ttl_seconds: ttl })

  describe('per-subject cap', () => {
    it(`${CAP} distinct requests pending, racing: the rest refused RESOURCE_EXHAUSTED with a clear message, audited`, async () => {
      // distinct requests (the ttl is part of the frozen request), all at once: the cap holds under a race
      const outcomes = await Promise.all(
        Array.from({ length: CAP + 5 }, (_, i) => ask('FILLER', sensitive(i + 1))),
      )
      const pending = outcomes.filter((o) => o.code === 'ERR_APPROVAL_PENDING')
      const refused = outcomes.filter((o) => o.code === 'ERR_TOO_MANY_APPROVALS')
      expect(pending).to.have.length(CAP)
      expect(refused).to.have.length(5)
      expect(new Set(pending.map((o) => o.approvalId)).size).to.equal(CAP)
      for (const o of refused) {
        expect(o.status).to.equal(grpc.status.RESOURCE_EXHAUSTED)
        expect(o.approvalId).to.equal(undefined)
        expect(o.details).to.equal(
          `${FILLER} already has ${CAP} requests waiting for approval (limit ${CAP}); wait for a decision, or for them to expire, before asking again`,
        )
      }
      const row = await t.broker.storage.reader.byId(refused[0]!.exchangeId)
      expect(row).to.include({ kind: 'issue', decision: 'deny', subject: FILLER, grant_name: 'sensitive' })
      expect(JSON.parse(row!.detail!)).to.include({ code: 'ERR_TOO_MANY_APPROVALS' })
      const stored = await t.broker.storage.approvals.list({ state: 'pending', subject: FILLER, limit: 1000 })
      expect(stored).to.have.length(CAP)
    })

    it('at the cap: an identical request still gets its approval id; other subjects are not affected', async () => {
      const stored = await t.broker.storage.approvals.list({ state: 'pending', subject: FILLER, limit: 1 })
      const ttl = (JSON.parse(stored[0]!.request) as { request: { ttlSeconds: number } }).request.ttlSeconds
      const same = await ask('FILLER', sensitive(ttl))
      expect(same).to.include({ code: 'ERR_APPROVAL_PENDING', approvalId: stored[0]!.id })
      expect((await ask('FILLER', sensitive(200))).code).to.equal('ERR_TOO_MANY_APPROVALS')
      expect((await ask('AGENT', sensitive(200))).code).to.equal('ERR_APPROVAL_PENDING')
    })

    it('a decision frees a place: the next new request is parked again', async () => {
      const [oldest] = await t.broker.storage.approvals.list({ state: 'pending', subject: FILLER, limit: 1 })
      await unary<object, object>(
        t.adminClient(certs.ADMIN),
        'DecideApproval',
      )({
        approval_id: oldest!.id,
        approve: false,
        reason: 'one at a time',
      })
      expect((await ask('FILLER', sensitive(201))).code).to.equal('ERR_APPROVAL_PENDING')
      expect((await ask('FILLER', sensitive(202))).code).to.equal('ERR_TOO_MANY_APPROVALS')
    })
  })

  describe('keybroker approvals approve|deny --config (file mode)', () => {
    const file = () => ['--config', t.configFile]

    it('approve: recorded as the local operator; the requester’s WaitForApproval on the running broker gets the token', async () => {
      const { approvalId } = await ask('AGENT', sensitive(120))
      const waiting = waitStream(t.brokerClient(certs.AGENT), approvalId!)
      const res = await runCli(['approvals', 'approve', approvalId!, '--reason', 'CHG-1', ...file()])
      expect(res.code, res.stderr).to.equal(0)
      expect(res.stdout).to.contain(approvalId).and.contain('approved').and.contain(`by ${OPERATOR} (CHG-1)`)
      expect(res.stdout).to.contain("hands the credential to the requester's WaitForApproval")

      const { updates, error } = await waiting
      expect(error).to.equal(undefined)
      expect(updates.map((u) => u.state)).to.deep.equal(['pending', 'issued'])
      const token = updates[1]!.token!
      expect(decodeJwt(token.token)).to.include({ sub: AGENT, aud: 'search-admin', kb_approval: approvalId })

      const rows = (await t.broker.log.tail(50)).filter((r) => r.approval_id === approvalId)
      const decision = rows.find((r) => r.kind === 'approval')
      expect(decision).to.include({
        decision: 'allow',
        subject: OPERATOR,
        auth_method: 'local',
        reason: 'CHG-1',
      })
      expect(decision!.detail).to.include({
        method: 'keybroker approvals approve',
        approve: true,
        requester: AGENT,
      })
      const issued = rows.find((r) => r.kind === 'issue' && r.decision === 'allow')
      expect(issued?.token_id).to.equal(token.token_id)
      expect(issued!.detail).to.include({ approver: OPERATOR, approval_reason: 'CHG-1' })

      // decided once: a second decision is refused, with its own audit row
      const again = await runCli(['approvals', 'deny', approvalId!, '--reason', 'too late', ...file()])
      expect(again.code).to.equal(1)
      expect(again.stderr).to.equal(
        `keybroker: approval ${approvalId} cannot be decided: it already issued by ${OPERATOR}\n`,
      )
      const [refusal] = (await t.broker.log.tail(5)).filter(
        (r) => r.kind === 'approval' && r.approval_id === approvalId && r.decision === 'deny',
      )
      expect(refusal).to.include({ subject: OPERATOR })
      expect(refusal!.detail).to.include({ code: 'ERR_APPROVAL_CLOSED' })
    })

    it('deny: the waiting requester is told, with the reason; no token', async () => {
      const { approvalId } = await ask('AGENT', sensitive(121))
      const waiting = waitStream(t.brokerClient(certs.AGENT), approvalId!)
      const res = await runCli([
        'approvals',
        'deny',
        approvalId!,
        '--reason',
        'not during the freeze',
        ...file(),
      ])
      expect(res.code, res.stderr).to.equal(0)
      expect(res.stdout).to.contain('denied')
      const { updates } = await waiting
      expect(updates.map((u) => u.state)).to.deep.equal(['pending', 'denied'])
      expect(updates[1]).to.include({ reason: 'not during the freeze', approver: OPERATOR })
      expect(updates[1]!.token).to.equal(null)
    })

    it('an expired approval, an unknown id, a malformed id: exit 1 naming the problem', async () => {
      const { approvalId } = await ask('AGENT', { audience: 'search-quick', scopes: ['index:drop'] })
      await eventually(
        async () => (await t.broker.storage.approvals.get(approvalId!))?.state === 'expired',
        10_000,
        'the 1 s approval to expire',
      )
      const expired = await runCli(['approvals', 'approve', approvalId!, '--reason', 'x', ...file()])
      expect(expired.code).to.equal(1)
      expect(expired.stderr).to.match(
        new RegExp(`^keybroker: approval ${approvalId} cannot be decided: it expired at `),
      )

      const unknown = await runCli([
        'approvals',
        'approve',
        '01AAAAAAAAAAAAAAAAAAAAAAAA',
        '--reason',
        'x',
        ...file(),
      ])
      expect(unknown.code).to.equal(1)
      expect(unknown.stderr).to.equal('keybroker: approval 01AAAAAAAAAAAAAAAAAAAAAAAA does not exist\n')
      const malformed = await runCli(['approvals', 'deny', 'x;drop', '--reason', 'x', ...file()])
      expect(malformed.code).to.equal(1)
      expect(malformed.stderr).to.equal('keybroker: approval_id is not an approval id\n')
      const noSource = await runCli(['approvals', 'approve', approvalId!, '--reason', 'x'])
      expect(noSource.code).to.equal(1)
      expect(noSource.stderr).to.contain('give --address for a running broker, or --config / --db')
    })
  })
})
