import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { decodeJwt } from 'jose'
import type { DelegateTokenRequest } from '../src/generated/keybroker/v1/DelegateTokenRequest.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { bearer, expectGrpcError, serverConfigYaml, TestBroker, unary } from './fixtures/broker.js'
import { OidcIssuerFixture } from './fixtures/oidc_issuer.js'

/** Two trusted clusters can both have `system:serviceaccount:agents:research`; only the parent's may delegate. */
describe('DelegateToken: the caller must be the parent subject from the same issuer', () => {
  let prod: OidcIssuerFixture
  let dev: OidcIssuerFixture
  let t: TestBroker
  let issue: (req: IssueTokenRequest, md?: grpc.Metadata) => Promise<IssueTokenResponse__Output>
  let delegate: (req: DelegateTokenRequest, md?: grpc.Metadata) => Promise<IssueTokenResponse__Output>

  before(async () => {
    ;[prod, dev] = await Promise.all([OidcIssuerFixture.start(), OidcIssuerFixture.start()])
    t = await TestBroker.start({
      configYaml: (dir, pki) => {
        const ca = (name: string, pem: string) => {
          const file = join(dir, `${name}.pem`)
          writeFileSync(file, pem)
          return file
        }
        return `${serverConfigYaml(dir, pki)}trust:
  oidc:
    - { name: prod, preset: kubernetes, issuer: "${prod.issuer}", audience: keybroker, ca_file: ${ca('prod', prod.caPem)} }
    - { name: dev, preset: kubernetes, issuer: "${dev.issuer}", audience: keybroker, ca_file: ${ca('dev', dev.caPem)} }
grants:
  - name: prod-agents
    match: { issuer: prod, attributes: { namespace: agents } }
    tokens: [{ audience: search-api, scopes: ["search:read"] }]
    delegation: { max_depth: 1 }
  - name: dev-agents
    match: { issuer: dev, attributes: { namespace: agents } }
    tokens: [{ audience: search-api, scopes: ["search:read"] }]
    delegation: { max_depth: 1 }
`
      },
    })
    const client = t.brokerClient()
    issue = unary(client, 'IssueToken')
    delegate = unary(client, 'DelegateToken')
  })
  after(async () => {
    await t.close()
    await Promise.all([prod.stop(), dev.stop()])
  })

  it('refuses the same service-account name from another cluster, and allows the parent’s own', async () => {
    const prodToken = await prod.mint(prod.kubernetesClaims())
    const devToken = await dev.mint(dev.kubernetesClaims())
    const parent = await issue({ audience: 'search-api', scopes: [] }, bearer(prodToken))
    expect(decodeJwt(parent.token).kb_idp).to.equal(prod.issuer)

    const err = await expectGrpcError(
      delegate(
        { parent_token: parent.token, actor: 'sub-agent', scopes: [], ttl_seconds: 30 },
        bearer(devToken),
      ),
    )
    expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
    expect(err.details).to.equal(
      `the parent token was issued to system:serviceaccount:agents:research of ${prod.issuer}; only that subject may delegate it (caller is system:serviceaccount:agents:research of ${dev.issuer})`,
    )
    expect((await t.broker.log.tail(1))[0]).to.include({ kind: 'delegate', decision: 'deny' })

    const child = await delegate(
      { parent_token: parent.token, actor: 'sub-agent', scopes: [], ttl_seconds: 30 },
      bearer(prodToken),
    )
    expect(decodeJwt(child.token)).to.include({
      kb_idp: prod.issuer,
      sub: 'system:serviceaccount:agents:research',
    })
  })
})
