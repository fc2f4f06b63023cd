import { expect } from 'chai'
import { decodeJwt } from 'jose'
import { BrokerClient } from '../src/client/index.js'
import { listExchanges } from './fixtures/admin.js'
import { ADMIN, AGENT, runCli, TestBroker } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

/**
 * End to end: an agent asks (through the SDK) for a scope that needs approval, an operator approves
 * it with the CLI over --address, the agent's SDK call returns the token, and the audit log links the
 * request, the approval (with approver) and the issuance by approval_id.
 */
describe('approval end to end: SDK waits, operator approves with the CLI', () => {
  let t: TestBroker
  let agent: CertFiles
  let adminCert: CertFiles

  before(async () => {
    t = await TestBroker.start({
      grantsYaml: `  - name: agents-sensitive
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: search-admin, scopes: ["index:drop"], max_ttl: 5m, approval: { approvers: ["${ADMIN}"], timeout: 5m } }
`,
    })
    agent = await t.pki.spiffe('agent', AGENT)
    adminCert = await t.pki.spiffe('admin', ADMIN)
  })
  after(() => t.close())

  it('the SDK call returns the token once the CLI approves; audit rows share the approval id', async function () {
    this.timeout(60_000)
    const sdk = new BrokerClient({
      address: t.address,
      tls: { caFile: t.pki.caFile, certFile: agent.cert, keyFile: agent.key, serverName: 'localhost' },
      deadlineMs: 120_000,
    })
    try {
      const pending = sdk.token({ audience: 'search-admin', scopes: ['index:drop'], waitForApproval: true })
      const cli = [
        '--address',
        t.address,
        '--ca',
        t.pki.caFile,
        '--cert',
        adminCert.cert,
        '--key',
        adminCert.key,
      ]
      const env = { GRPC_SSL_TARGET_NAME_OVERRIDE: 'localhost' }
      let id = ''
      for (let i = 0; i < 50 && !id; i++) {
        const listed = await runCli([
          'approvals',
          'list',
          '--state',
          'pending',
          '--json',
          '--db',
          `${t.dir}/keybroker.db`,
        ])
        id = listed.stdout.trim()
          ? (JSON.parse(listed.stdout.trim().split('\n')[0]!) as { id: string }).id
          : ''
        if (!id) await new Promise((r) => setTimeout(r, 200))
      }
      expect(id).to.match(/^[0-9A-Z]{26}$/)
      const approved = await runCli(['approvals', 'approve', id, '--reason', 'change CHG-7', ...cli], { env })
      expect(approved.code, approved.stderr).to.equal(0)
      expect(approved.stdout).to.contain(id).and.contain('approved').and.contain(ADMIN)
      const token = await pending
      expect(decodeJwt(token.token)).to.include({ sub: AGENT, kb_approval: id, scope: 'index:drop' })
      const rows = (await listExchanges(t.adminClient(adminCert))({ limit: 100 })).exchanges.filter(
        (e) => e.approval_id === id,
      )
      const kinds = rows.map((r) => `${r.kind}/${r.decision}`).reverse()
      expect(kinds).to.deep.equal(['issue/pending', 'approval/allow', 'issue/allow'])
      expect(rows.find((r) => r.kind === 'approval')).to.include({ subject: ADMIN, reason: 'change CHG-7' })
      expect(rows.find((r) => r.decision === 'allow' && r.kind === 'issue')!.token_id).to.equal(token.tokenId)
    } finally {
      sdk.close()
    }
  })
})
