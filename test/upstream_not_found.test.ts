import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { status } from '@grpc/grpc-js'
import { expect } from 'chai'
import { Agent } from 'undici'
import type { FetchSecretRequest } from '../src/generated/keybroker/v1/FetchSecretRequest.js'
import type { FetchSecretResponse__Output } from '../src/generated/keybroker/v1/FetchSecretResponse.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { AGENT, expectGrpcError, serverConfigYaml, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'
import { RecordingUpstream } from './fixtures/recording_upstream.js'
import { FakeVault } from './fixtures/vault_server.js'

/**
 * Issue 20: a secret the upstream store says does not exist (Vault 404) is ERR_UPSTREAM_NOT_FOUND,
 * not ERR_FAILED_PRECONDITION (operator misconfiguration), and the proxy does not report it as an
 * HTTP 500 broker fault. A misconfiguration the broker can see keeps its own code and 500.
 */
describe('upstream not found vs misconfiguration (gRPC and proxy)', function () {
  this.timeout(30_000)
  let t: TestBroker
  let vault: FakeVault
  let upstream: RecordingUpstream
  let agentCert: CertFiles
  let dispatcher: Agent

  before(async () => {
    vault = await new FakeVault().start()
    vault.addToken('vault-token')
    // present, but without the field `wrong-field` asks for: a config that does not fit the data
    vault.putKv('secret/data/present', { api_key: 'sk_live_present_0123456789' })
    t = await TestBroker.start({
      beforeConfig: async (pki) => {
        upstream = await new RecordingUpstream({
          certPem: pki.server.certPem,
          keyPem: pki.server.keyPem,
        }).start()
      },
      configYaml: (dir, pki) => {
        const tokenFile = join(dir, 'vault-token')
        writeFileSync(tokenFile, 'vault-token', { mode: 0o600 })
        return `${serverConfigYaml(dir, pki)}providers:
  vault: { type: vault, address: "${vault.url}", auth: { method: token, token_file: ${tokenFile} } }
secrets:
  gone-key: { provider: vault, path: secret/data/gone, field: api_key }
  wrong-field: { provider: vault, path: secret/data/present, field: no_such_field }
routes:
  gone: { upstream: "${upstream.url}", secret: gone-key, ca_file: ${pki.caFile} }
  misconfigured: { upstream: "${upstream.url}", secret: wrong-field, ca_file: ${pki.caFile} }
grants:
  - name: agents
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    secrets: [gone-key, wrong-field]
    tokens:
      - { audience: "proxy:gone", scopes: ["GET /*"], max_ttl: 5m }
      - { audience: "proxy:misconfigured", scopes: ["GET /*"], max_ttl: 5m }
`
      },
    })
    agentCert = await t.pki.spiffe('research-agent', AGENT)
    dispatcher = new Agent({ connect: { ca: t.pki.ca.certPem } })
  })

  after(async () => {
    await dispatcher?.close()
    await t?.close()
    await Promise.all([vault?.close(), upstream?.close()])
  })

  const fetchSecret = (name: string) =>
    unary<FetchSecretRequest, FetchSecretResponse__Output>(t.brokerClient(agentCert), 'FetchSecret')({ name })

  async function proxy(route: string) {
    const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(
      t.brokerClient(agentCert),
      'IssueToken',
    )
    const { token } = await issue({ audience: `proxy:${route}`, scopes: ['GET /*'] })
    const res = await dispatcher.request({
      origin: t.httpUrl,
      path: `/proxy/${route}/v1/charges`,
      method: 'GET',
      headers: { authorization: `Bearer ${token}` },
    })
    const body = JSON.parse(await res.body.text()) as { error: string; message: string; exchange_id: string }
    return { status: res.statusCode, body }
  }

  it('FetchSecret of a secret Vault does not have: NOT_FOUND, code ERR_UPSTREAM_NOT_FOUND, audited as error', async () => {
    const err = await expectGrpcError(fetchSecret('gone-key'))
    expect(err.code).to.equal(status.NOT_FOUND)
    expect(err.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_UPSTREAM_NOT_FOUND'])
    expect(err.details).to.equal("secret gone-key not found in vault provider 'vault' at its configured path")
    const row = (await t.broker.log.tail(1))[0]!
    expect(row).to.include({ kind: 'fetch', decision: 'error', secret_name: 'gone-key' })
  })

  it('FetchSecret of a secret whose configured field is absent keeps FAILED_PRECONDITION (misconfiguration)', async () => {
    const err = await expectGrpcError(fetchSecret('wrong-field'))
    expect(err.code).to.equal(status.FAILED_PRECONDITION)
    expect(err.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_FAILED_PRECONDITION'])
  })

  it('the proxy answers 502 upstream_not_found (not 500) when the route key is missing upstream', async () => {
    const before = upstream.received.length
    const res = await proxy('gone')
    expect(res.status).to.equal(502)
    expect(res.body.error).to.equal('upstream_not_found')
    expect(res.body.message).to.include('not found in vault provider')
    const row = (await t.broker.log.tail(1))[0]!
    expect(row).to.include({ id: res.body.exchange_id, kind: 'proxy', decision: 'error' })
    expect(upstream.received.length, 'nothing was forwarded without a key').to.equal(before)
  })

  it('the proxy keeps 500 failed_precondition for a route whose secret config does not fit the data', async () => {
    const res = await proxy('misconfigured')
    expect(res.status).to.equal(500)
    expect(res.body.error).to.equal('failed_precondition')
  })
})
