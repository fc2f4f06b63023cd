import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { parseConfig } from '../src/config/index.js'
import type { ListExchangesRequest } from '../src/generated/keybroker/v1/ListExchangesRequest.js'
import type { ListExchangesResponse__Output } from '../src/generated/keybroker/v1/ListExchangesResponse.js'
import { Watcher } from './fixtures/admin.js'
import { ADMIN, bearer, expectGrpcError, serverConfigYaml, TestBroker, unary } from './fixtures/broker.js'
import { OidcIssuerFixture } from './fixtures/oidc_issuer.js'

/**
 * Who is an admin is decided by (method, issuer, subject), never by a subject string alone: a trusted
 * OIDC issuer that mints `sub: <an admin's SPIFFE ID>` must not get the Admin service.
 */
describe('Admin service: admin identity is qualified by how the caller authenticated', () => {
  let issuer: OidcIssuerFixture
  let t: TestBroker
  let list: (req: ListExchangesRequest, md?: grpc.Metadata) => Promise<ListExchangesResponse__Output>

  before(async () => {
    issuer = await OidcIssuerFixture.start()
    t = await TestBroker.start({
      configYaml: (dir, pki) => {
        const caFile = join(dir, 'issuer-ca.pem')
        writeFileSync(caFile, issuer.caPem)
        return `${serverConfigYaml(dir, pki)}trust:
  oidc:
    - { name: corp, issuer: "${issuer.issuer}", audience: keybroker, ca_file: ${caFile} }
admins:
  - "${ADMIN}"
  - { issuer: corp, subject: ops-robot }
grants: []
`
      },
    })
    list = unary(t.adminClient(), 'ListExchanges')
  })
  after(async () => {
    await t.close()
    await issuer.stop()
  })

  it('a workload token whose sub equals an admin SPIFFE ID is refused PERMISSION_DENIED', async () => {
    const forged = await issuer.mint(issuer.genericClaims({ sub: ADMIN }))
    const err = await expectGrpcError(list({}, bearer(forged)))
    expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
    expect(err.details).to.equal(`${ADMIN} may not call Admin.ListExchanges: it is not listed in admins`)
    const row = (await t.broker.log.tail(1))[0]!
    expect(row).to.include({ kind: 'admin', decision: 'deny', subject: ADMIN, auth_method: 'oidc' })
  })

  it('an OIDC admin entry admits that subject from that issuer', async () => {
    const robot = await issuer.mint(issuer.genericClaims({ sub: 'ops-robot' }))
    const page = await list({ limit: 5 }, bearer(robot))
    expect(page.exchanges.length).to.be.greaterThan(0)
  })

  it('the same SPIFFE ID over mTLS is an admin', async () => {
    const viaCert = unary<ListExchangesRequest, ListExchangesResponse__Output>(
      t.adminClient(await t.pki.spiffe('admin', ADMIN)),
      'ListExchanges',
    )
    const page = await viaCert({ limit: 1 })
    expect(page.exchanges).to.have.length(1)
  })

  it('a reload that removes an admin closes that admin’s live watch', async () => {
    const admin = t.adminClient(await t.pki.spiffe('admin2', ADMIN))
    const watcher = new Watcher(admin, {})
    await new Promise((resolve) => setTimeout(resolve, 200))
    const text = readFileSync(t.configFile, 'utf8').replace(`  - "${ADMIN}"\n`, '')
    writeFileSync(t.configFile, text)
    const result = await t.broker.reload('test')
    expect(result.ok, JSON.stringify(result.problems)).to.equal(true)
    await watcher.until(() => watcher.error !== undefined)
    expect(watcher.error!.code).to.equal(grpc.status.PERMISSION_DENIED)
    expect(watcher.error!.details).to.equal(`${ADMIN} is no longer listed in admins; watch closed`)
  })
})

describe('config: identities are never matched on a bare subject', () => {
  const base = `issuer: https://keybroker.test
trust:
  oidc:
    - { name: corp, issuer: "https://idp.example", audience: keybroker }
`
  const problems = (yaml: string): string[] => {
    try {
      parseConfig(base + yaml, '/tmp/kb.yaml')
      return []
    } catch (err) {
      return (err as { problems: string[] }).problems
    }
  }

  it('refuses a grant that matches a subject without naming its issuer', () => {
    expect(
      problems(`grants:
  - { name: any-ops, match: { subject: "ops-*" }, tokens: [{ audience: a }] }
`),
    ).to.deep.equal([
      'grants[0].match: subject and attributes need match.issuer (a trust.oidc name): the same sub can come from any trusted issuer',
    ])
  })

  it('refuses attributes without an issuer', () => {
    expect(
      problems(`grants:
  - { name: ns, match: { attributes: { namespace: agents } }, tokens: [{ audience: a }] }
`),
    ).to.have.length(1)
  })

  it('refuses an admin given as a bare non-SPIFFE subject, and an admin issuer that is not trusted', () => {
    expect(problems(`admins: ["ops-robot"]\n`)).to.deep.equal([
      'admins[0]: expected a SPIFFE ID (an OIDC admin is written { issuer: <trust name>, subject: <sub> })',
    ])
    expect(problems(`admins: [{ issuer: elsewhere, subject: ops-robot }]\n`)).to.deep.equal([
      'admins[0].issuer: "elsewhere" is not a trust.oidc[].name',
    ])
  })

  it('accepts a SPIFFE admin and an issuer-qualified one', () => {
    expect(problems(`admins: ["${ADMIN}", { issuer: corp, subject: ops-robot }]\n`)).to.deep.equal([])
  })
})
