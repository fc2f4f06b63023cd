import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { decodeJwt } from 'jose'
import type { AdminClient } from '../src/generated/keybroker/v1/Admin.js'
import type { ApprovalUpdate__Output } from '../src/generated/keybroker/v1/ApprovalUpdate.js'
import type { BrokerClient } from '../src/generated/keybroker/v1/Broker.js'
import type { DecideApprovalResponse__Output } from '../src/generated/keybroker/v1/DecideApprovalResponse.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import type { ListApprovalsResponse__Output } from '../src/generated/keybroker/v1/ListApprovalsResponse.js'
import type { RevokeTokensResponse__Output } from '../src/generated/keybroker/v1/RevokeTokensResponse.js'
import { listExchanges } from './fixtures/admin.js'
import { ADMIN, AGENT, baseConfigYaml, expectGrpcError, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

const AUDITOR = 'spiffe://example.org/ops/auditor'
const APPROVER = 'spiffe://example.org/ops/approver'
const OTHER_AGENT = 'spiffe://example.org/ns/agents/sa/other-agent'

/** Roles in admins, and a search-api write scope that needs an approver. */
function config(dir: string, pki: Parameters<typeof baseConfigYaml>[1]): string {
  return baseConfigYaml(dir, pki, {
    grantsYaml: `  - name: agents-sensitive
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - audience: search-admin
        scopes: ["index:drop"]
        max_ttl: 5m
        approval: { approvers: ["${APPROVER}", "${ADMIN}", "${AGENT}"], timeout: 2s }
`,
  }).replace(
    `admins: ["${ADMIN}"]`,
    `admins:
  - "${ADMIN}"
  - { spiffe_id: "${AUDITOR}", role: auditor }
  - { spiffe_id: "${APPROVER}", role: approver }
  - { spiffe_id: "${AGENT}", role: approver }`,
  )
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

describe('roles and human approval', () => {
  let t: TestBroker
  let agent: CertFiles
  let other: CertFiles
  let admin: AdminClient
  let auditor: AdminClient
  let approver: AdminClient

  before(async () => {
    t = await TestBroker.start({ configYaml: config })
    agent = await t.pki.spiffe('agent', AGENT)
    other = await t.pki.spiffe('other', OTHER_AGENT)
    admin = t.adminClient(await t.pki.spiffe('admin', ADMIN))
    auditor = t.adminClient(await t.pki.spiffe('auditor', AUDITOR))
    approver = t.adminClient(await t.pki.spiffe('approver', APPROVER))
  })
  after(() => t.close())

  const issue = (cert: CertFiles) =>
    unary<object, IssueTokenResponse__Output>(t.brokerClient(cert), 'IssueToken')
  const decide = (client: AdminClient) =>
    unary<object, DecideApprovalResponse__Output>(client, 'DecideApproval')
  const listApprovals = (client: AdminClient) =>
    unary<object, ListApprovalsResponse__Output>(client, 'ListApprovals')

  /** Ask for the sensitive scope; returns the approval id from the trailer. */
  async function askForApproval(cert: CertFiles, bind = false): Promise<string> {
    const err = await expectGrpcError(
      issue(cert)({ audience: 'search-admin', scopes: ['index:drop'], bind_to_certificate: bind }),
    )
    expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION)
    expect(err.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_APPROVAL_PENDING'])
    const id = String(err.metadata.get('keybroker-approval-id')[0] ?? '')
    expect(id).to.match(/^[0-9A-Z]{26}$/)
    return id
  }

  describe('roles', () => {
    it('an auditor reads the log but may not revoke; the refusal names the role and is audited', async () => {
      const listed = await listExchanges(auditor)({ limit: 1 })
      expect(listed.exchanges).to.be.an('array')
      const err = await expectGrpcError(
        unary<object, RevokeTokensResponse__Output>(auditor, 'RevokeTokens')({ subject: AGENT }),
      )
      expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
      expect(err.details).to.contain('has role auditor').and.contain('needs role admin')
      const [row] = await t.broker.log.tail(1)
      expect(row).to.include({ kind: 'admin', decision: 'deny', subject: AUDITOR })
      expect(row!.detail).to.include({ method: 'RevokeTokens', role: 'auditor', code: 'ERR_NOT_ADMIN' })
    })

    it('an approver may not rotate keys; an auditor may not decide approvals', async () => {
      const rotate = await expectGrpcError(unary<object, object>(approver, 'RotateSigningKey')({}))
      expect(rotate.code).to.equal(grpc.status.PERMISSION_DENIED)
      expect(rotate.details).to.contain('has role approver')
      const id = await askForApproval(agent)
      const decided = await expectGrpcError(decide(auditor)({ approval_id: id, approve: true, reason: 'x' }))
      expect(decided.code).to.equal(grpc.status.PERMISSION_DENIED)
      expect(decided.details).to.contain('needs role admin or approver')
      expect((await listApprovals(auditor)({ state: 'pending' })).approvals.map((a) => a.id)).to.include(id)
    })

    it('a role that is not admin, auditor or approver is a config error naming its path', async () => {
      const { parseConfig } = await import('../src/config/index.js')
      const yaml = config(t.dir, t.pki).replace('role: auditor', 'role: root')
      expect(() => parseConfig(yaml, `${t.dir}/x.yaml`)).to.throw(/admins\[1\].*"root" is not a role/s)
      const notAdmin = config(t.dir, t.pki).replace(`  - { spiffe_id: "${APPROVER}", role: approver }\n`, '')
      expect(() => parseConfig(notAdmin, `${t.dir}/x.yaml`)).to.throw(
        /approvers\[0\]: .*approver is not listed in admins/,
      )
      const auditorApproves = config(t.dir, t.pki).replace(
        `"${APPROVER}", "${ADMIN}"`,
        `"${AUDITOR}", "${ADMIN}"`,
      )
      expect(() => parseConfig(auditorApproves, `${t.dir}/x.yaml`)).to.throw(/has role auditor in admins/)
    })
  })

  describe('approval', () => {
    it('parks the request (pending audit row), the same request gets the same id, approval mints once with kb_approval', async () => {
      const id = await askForApproval(agent, true)
      expect(await askForApproval(agent, true)).to.equal(id)
      const pending = await t.broker.log.tail(2)
      for (const row of pending)
        expect(row).to.include({ kind: 'issue', decision: 'pending', approval_id: id, subject: AGENT })
      const waiting = waitStream(t.brokerClient(agent), id)
      await new Promise((r) => setTimeout(r, 300))
      const res = await decide(approver)({ approval_id: id, approve: true, reason: 'ticket OPS-42' })
      expect(res.approval).to.include({ id, state: 'approved', approver: APPROVER, reason: 'ticket OPS-42' })
      const { updates, error } = await waiting
      expect(error).to.equal(undefined)
      expect(updates.map((u) => u.state)).to.deep.equal(['pending', 'issued'])
      const token = updates[1]!.token!
      const claims = decodeJwt(token.token)
      expect(claims).to.include({ sub: AGENT, aud: 'search-admin', scope: 'index:drop', kb_approval: id })
      expect(claims.cnf).to.have.property('x5t#S256')
      const rows = (await listExchanges(admin)({ limit: 50 })).exchanges.filter((e) => e.approval_id === id)
      const issued = rows.find((e) => e.kind === 'issue' && e.decision === 'allow')!
      expect(issued.token_id).to.equal(token.token_id)
      expect(JSON.parse(issued.detail)).to.include({ approver: APPROVER, approval_reason: 'ticket OPS-42' })
      const decision = rows.find((e) => e.kind === 'approval')!
      expect(decision).to.include({ subject: APPROVER, decision: 'allow', reason: 'ticket OPS-42' })
      // once: a second wait is refused
      const again = await waitStream(t.brokerClient(agent), id)
      expect(again.error?.code).to.equal(grpc.status.FAILED_PRECONDITION)
      expect(again.error?.details).to.contain('already used')
    })

    it('WaitForApproval by another identity is PERMISSION_DENIED (audited)', async () => {
      const id = await askForApproval(agent)
      const { error } = await waitStream(t.brokerClient(other), id)
      expect(error?.code).to.equal(grpc.status.PERMISSION_DENIED)
      expect(error?.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_NOT_REQUESTER'])
      const [row] = await t.broker.log.tail(1)
      expect(row).to.include({ kind: 'approval', decision: 'deny', subject: OTHER_AGENT, approval_id: id })
    })

    it('self-approval is refused, even for a listed approver', async () => {
      const id = await askForApproval(agent)
      const selfAdmin = t.adminClient(agent)
      const err = await expectGrpcError(decide(selfAdmin)({ approval_id: id, approve: true, reason: 'me' }))
      expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
      expect(err.details).to.contain('nobody approves their own request')
    })

    it('a denied approval ends the wait with the reason; deciding it again is refused', async () => {
      const id = await askForApproval(other)
      const waiting = waitStream(t.brokerClient(other), id)
      await decide(admin)({ approval_id: id, approve: false, reason: 'not during the freeze' })
      const { updates } = await waiting
      expect(updates.at(-1)).to.include({ state: 'denied', reason: 'not during the freeze', approver: ADMIN })
      expect(updates.every((u) => !u.token)).to.equal(true)
      const err = await expectGrpcError(
        decide(approver)({ approval_id: id, approve: true, reason: 'override' }),
      )
      expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION)
      expect(err.details).to.contain('already denied by')
    })

    it('an approval nobody decides expires (audited); approving it afterwards is refused', async () => {
      const id = await askForApproval(other, true)
      const { updates } = await waitStream(t.brokerClient(other), id)
      expect(updates.at(-1)!.state).to.equal('expired')
      const expired = (await listExchanges(admin)({ kind: 'approval', limit: 20 })).exchanges.find(
        (e) => e.approval_id === id && e.decision === 'deny',
      )
      expect(expired?.reason).to.contain('expired')
      const err = await expectGrpcError(decide(approver)({ approval_id: id, approve: true, reason: 'late' }))
      expect(err.code).to.equal(grpc.status.FAILED_PRECONDITION)
      expect(err.details).to.contain('expired at')
    })

    it('unknown and malformed approval ids are NOT_FOUND and INVALID_ARGUMENT', async () => {
      const missing = await expectGrpcError(
        decide(admin)({ approval_id: '01ARZ3NDEKTSV4RRFFQ69G5FAV', approve: true }),
      )
      expect(missing.code).to.equal(grpc.status.NOT_FOUND)
      const bad = await expectGrpcError(decide(admin)({ approval_id: '../x', approve: true }))
      expect(bad.code).to.equal(grpc.status.INVALID_ARGUMENT)
    })
  })
})
