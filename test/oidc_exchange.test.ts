import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import type { StoredExchange } from '../src/audit/index.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import type { WhoAmIRequest } from '../src/generated/keybroker/v1/WhoAmIRequest.js'
import type { WhoAmIResponse__Output } from '../src/generated/keybroker/v1/WhoAmIResponse.js'
import { tokenFingerprint } from '../src/identity/oidc.js'
import { loadBrokerProto } from '../src/proto/load.js'
import { BILLING, bearer, expectGrpcError, serverConfigYaml, TestBroker, unary } from './fixtures/broker.js'
import { OidcIssuerFixture } from './fixtures/oidc_issuer.js'
import type { CertFiles } from './fixtures/pki.js'

/** Workload tokens from real local HTTPS issuers (one per preset) exchanged over gRPC. */
describe('OIDC workload identity over gRPC', () => {
  let k8s: OidcIssuerFixture
  let gha: OidcIssuerFixture
  let generic: OidcIssuerFixture
  let t: TestBroker
  let issue: (req: IssueTokenRequest, md?: grpc.Metadata) => Promise<IssueTokenResponse__Output>
  let whoami: (req: WhoAmIRequest, md?: grpc.Metadata) => Promise<WhoAmIResponse__Output>
  let billing: CertFiles

  before(async () => {
    ;[k8s, gha, generic] = await Promise.all([
      OidcIssuerFixture.start(),
      OidcIssuerFixture.start({ alg: 'ES256' }),
      OidcIssuerFixture.start(),
    ])
    t = await TestBroker.start({
      configYaml: (dir, pki) => {
        const caFile = (name: string, pem: string) => {
          const file = join(dir, `${name}-ca.pem`)
          writeFileSync(file, pem)
          return file
        }
        return `${serverConfigYaml(dir, pki)}trust:
  oidc:
    - { name: k8s-prod, preset: kubernetes, issuer: "${k8s.issuer}", audience: keybroker, ca_file: ${caFile('k8s', k8s.caPem)}, max_token_age: 1h, fetch_timeout: 1s }
    - { name: github, preset: github-actions, issuer: "${gha.issuer}", audience: keybroker, ca_file: ${caFile('gha', gha.caPem)}, fetch_timeout: 1s }
    - name: corp
      preset: generic
      issuer: "${generic.issuer}"
      audience: keybroker
      jwks_uri: "${generic.jwksUri}"
      ca_file: ${caFile('generic', generic.caPem)}
      attributes: { tenant: tenant, team.name: team }
      fetch_timeout: 1s
grants:
  - name: billing
    match: { spiffe_id: "${BILLING}" }
    tokens: [{ audience: payments-api, scopes: ["payments:read"] }]
  - name: research-agent
    match: { issuer: k8s-prod, attributes: { namespace: agents } }
    tokens: [{ audience: search-api, scopes: ["search:read"], max_ttl: 5m }]
  - name: deploys
    match: { issuer: github, attributes: { repository: "acme/*", environment: production } }
    tokens: [{ audience: deploy-api, scopes: ["deploy"] }]
  - name: corp-payments
    match: { issuer: corp, subject: "workload-*", attributes: { team: payments } }
    tokens: [{ audience: ledger, scopes: ["ledger:read"] }]
`
      },
    })
    billing = await t.pki.spiffe('billing', BILLING)
    // Bearer-only callers: TLS that authenticates the server, no client certificate.
    const client = t.brokerClient()
    issue = unary(client, 'IssueToken')
    whoami = unary(client, 'WhoAmI')
  })

  after(async () => {
    await t.close()
    await Promise.all([k8s.stop(), gha.stop(), generic.stop()])
  })

  async function lastRow(): Promise<StoredExchange> {
    return (await t.broker.log.tail(1))[0]!
  }

  it('kubernetes: a projected service-account token becomes a broker token', async () => {
    const token = await k8s.mint(k8s.kubernetesClaims())
    const res = await issue({ audience: 'search-api', scopes: ['search:read'] }, bearer(token))
    expect(res.token.split('.')).to.have.length(3)
    const row = await lastRow()
    expect(row).to.include({
      kind: 'issue',
      decision: 'allow',
      subject: 'system:serviceaccount:agents:research',
    })
    expect(row.auth_method).to.equal('oidc')
    expect(row.issuer).to.equal(k8s.issuer)
    const me = await whoami({}, bearer(token))
    expect(me.subject).to.equal('system:serviceaccount:agents:research')
    expect(me.auth_method).to.equal('oidc')
    expect(me.attributes).to.include({
      namespace: 'agents',
      service_account: 'research',
      pod: 'research-7d9f8c-x2k4p',
    })
    expect(me.grants).to.deep.equal(['research-agent'])
  })

  it('github-actions: a workflow token matches on repository glob and environment', async () => {
    const token = await gha.mint(gha.githubActionsClaims())
    const res = await issue({ audience: 'deploy-api', scopes: [] }, bearer(token))
    expect(res.scopes).to.deep.equal(['deploy'])
    const me = await whoami({}, bearer(token))
    expect(me.attributes).to.include({
      repository: 'acme/payments',
      environment: 'production',
      actor: 'octocat',
    })
    const staging = await gha.mint(gha.githubActionsClaims({ environment: 'staging' }))
    const err = await expectGrpcError(issue({ audience: 'deploy-api', scopes: [] }, bearer(staging)))
    expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
    expect(err.details).to.match(/no grant matches repo:acme\/payments/)
  })

  it('generic: configured claim mapping (dotted path) feeds policy', async () => {
    const token = await generic.mint(generic.genericClaims())
    const res = await issue({ audience: 'ledger', scopes: ['ledger:read'] }, bearer(token))
    expect(res.audience).to.equal('ledger')
    const me = await whoami({}, bearer(token))
    expect(me.attributes).to.deep.equal({ tenant: 'acme', team: 'payments' })
    const other = await generic.mint(generic.genericClaims({ team: { name: 'growth' } }))
    const err = await expectGrpcError(issue({ audience: 'ledger', scopes: [] }, bearer(other)))
    expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
  })

  it('issuer key rotation: tokens from the new key are accepted without restart, with one JWKS fetch', async () => {
    await issue({ audience: 'search-api', scopes: [] }, bearer(await k8s.mint(k8s.kubernetesClaims())))
    const fetchesBefore = k8s.jwksFetches
    await k8s.rotate()
    const fresh = await k8s.mint(k8s.kubernetesClaims())
    const res = await issue({ audience: 'search-api', scopes: [] }, bearer(fresh))
    expect(res.token.split('.')).to.have.length(3)
    expect(k8s.jwksFetches - fetchesBefore).to.equal(1)
    // and the next token from the new key needs no fetch at all
    await issue({ audience: 'search-api', scopes: [] }, bearer(await k8s.mint(k8s.kubernetesClaims())))
    expect(k8s.jwksFetches - fetchesBefore).to.equal(1)
  })

  it('certificate and token together: the token is the identity, the certificate is recorded', async () => {
    const token = await k8s.mint(k8s.kubernetesClaims())
    const both = unary<WhoAmIRequest, WhoAmIResponse__Output>(t.brokerClient(billing), 'WhoAmI')
    const me = await both({}, bearer(token))
    expect(me.subject).to.equal('system:serviceaccount:agents:research')
    expect(me.cert_thumbprint).to.have.length(43)
    const issueBoth = unary<IssueTokenRequest, IssueTokenResponse__Output>(
      t.brokerClient(billing),
      'IssueToken',
    )
    await issueBoth({ audience: 'search-api', scopes: [] }, bearer(token))
    const row = await lastRow()
    expect(row.subject).to.equal('system:serviceaccount:agents:research')
    expect(row.cert_thumbprint).to.equal(me.cert_thumbprint)
  })

  describe('bad tokens: UNAUTHENTICATED, an auth_failure row with a fingerprint, never the token', () => {
    const cases: Array<{ name: string; make: () => Promise<string>; reason: RegExp; status?: grpc.status }> =
      [
        { name: 'alg none', make: () => k8s.mint(k8s.kubernetesClaims(), { alg: 'none' }), reason: /alg/i },
        {
          name: 'HS256 signed with the issuer public key',
          make: async () =>
            k8s.mint(k8s.kubernetesClaims(), { alg: 'HS256', key: await k8s.publicKeyAsHmacSecret() }),
          reason: /HS256|alg/i,
        },
        {
          name: 'expired',
          make: () => k8s.mint(k8s.kubernetesClaims({ exp: Math.floor(Date.now() / 1000) - 3600 })),
          reason: /expired/i,
        },
        {
          name: 'nbf in the future beyond leeway',
          make: () => k8s.mint(k8s.kubernetesClaims({ nbf: Math.floor(Date.now() / 1000) + 600 })),
          reason: /nbf|not (yet )?(active|valid)/i,
        },
        {
          name: 'iat older than max_token_age',
          make: () =>
            k8s.mint(
              k8s.kubernetesClaims({
                iat: Math.floor(Date.now() / 1000) - 7200,
                exp: Math.floor(Date.now() / 1000) + 600,
              }),
            ),
          reason: /old|age|iat/i,
        },
        {
          name: 'wrong iss',
          make: () => k8s.mint(k8s.kubernetesClaims({ iss: 'https://evil.example' })),
          reason: /issuer/i,
        },
        {
          name: 'aud missing the audience',
          make: () => k8s.mint(k8s.kubernetesClaims({ aud: 'other' })),
          reason: /aud/i,
        },
        {
          name: 'unknown kid',
          make: () => k8s.mint(k8s.kubernetesClaims(), { kid: 'no-such-kid' }),
          reason: /kid/i,
        },
        {
          name: 'a different key reusing a valid kid',
          make: async () => {
            const other = await OidcIssuerFixture.start()
            try {
              return await other.mint(k8s.kubernetesClaims(), { kid: k8s.currentKey.kid })
            } finally {
              await other.stop()
            }
          },
          reason: /signature/i,
        },
        { name: 'a 64 KiB token', make: async () => `${'a'.repeat(65536)}.b.c`, reason: /16 KiB/ },
        { name: 'non-JWT garbage', make: async () => 'not-a-jwt', reason: /JWT|compact|token/i },
        { name: 'a JWE', make: () => k8s.mintJwe(k8s.kubernetesClaims()), reason: /JWE|encrypted|5/i },
        {
          name: 'a token from an issuer that is not configured',
          make: () => k8s.mint(k8s.kubernetesClaims({ iss: 'https://unknown.example' })),
          reason: /issuer/i,
        },
      ]
    for (const c of cases) {
      it(c.name, async () => {
        const token = await c.make()
        const err = await expectGrpcError(issue({ audience: 'search-api', scopes: [] }, bearer(token)))
        expect(err.code, err.details).to.equal(c.status ?? grpc.status.UNAUTHENTICATED)
        expect(err.details).to.match(c.reason)
        const row = await lastRow()
        expect(row.kind).to.equal('auth_failure')
        expect(row.decision).to.equal('deny')
        expect(row.reason).to.equal(err.details)
        expect(row.detail).to.include({ token_fingerprint: tokenFingerprint(token) })
        const rowText = JSON.stringify(row)
        for (const part of token.split('.').filter((p) => p.length > 16)) expect(rowText).not.to.include(part)
      })
    }

    it('Bearer with an empty token', async () => {
      const md = new grpc.Metadata()
      // HTTP/2 strips trailing whitespace from header values, so "Bearer " arrives as "Bearer".
      md.set('authorization', 'Bearer')
      const err = await expectGrpcError(issue({ audience: 'search-api', scopes: [] }, md))
      expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
      expect(err.details).to.match(/empty bearer token/)
      expect(await lastRow()).to.include({ kind: 'auth_failure', decision: 'deny' })
    })
  })

  describe('issuer unavailable with no cached keys: UNAVAILABLE and an audit row', () => {
    for (const mode of ['html', '500', 'hang', 'down'] as const) {
      it(`JWKS ${mode}`, async () => {
        // A fresh issuer the broker has never fetched keys from.
        const fresh = await OidcIssuerFixture.start()
        const local = await TestBroker.start({
          extraYaml: `trust:
  oidc:
    - { name: fresh, issuer: "${fresh.issuer}", audience: keybroker, ca_file: ${writeCa(fresh)}, fetch_timeout: 1s }`,
        })
        try {
          const token = await fresh.mint(fresh.genericClaims())
          await fresh.setMode(mode)
          const call = unary<IssueTokenRequest, IssueTokenResponse__Output>(
            local.brokerClient(),
            'IssueToken',
          )
          const err = await expectGrpcError(call({ audience: 'search-api', scopes: [] }, bearer(token)))
          expect(err.code, err.details).to.equal(grpc.status.UNAVAILABLE)
          expect(err.details).to.match(/fresh/)
          const row = (await local.broker.log.tail(1))[0]!
          expect(row).to.include({ kind: 'auth_failure', decision: 'error' })
        } finally {
          await fresh.setMode('ok')
          await local.close()
          await fresh.stop()
        }
      })
    }
  })

  it('refuses bearer tokens on an insecure (no tls) listener', async () => {
    const plain = await TestBroker.start({
      configYaml: (dir) => `issuer: https://keybroker.test
listen: { grpc: "127.0.0.1:0", http: "127.0.0.1:0" }
audit: { path: ${join(dir, 'kb.db')} }
keys: { kek_file: ${join(dir, 'kek')} }
trust:
  oidc:
    - { name: k8s-prod, preset: kubernetes, issuer: "${k8s.issuer}", audience: keybroker, ca_file: ${writeCa(k8s)} }
`,
    })
    try {
      const { Broker } = loadBrokerProto().keybroker.v1
      const client = new Broker(plain.address, grpc.credentials.createInsecure())
      const call = unary<IssueTokenRequest, IssueTokenResponse__Output>(client, 'IssueToken')
      const token = await k8s.mint(k8s.kubernetesClaims())
      const err = await expectGrpcError(call({ audience: 'search-api', scopes: [] }, bearer(token)))
      expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
      expect(err.details).to.match(/only accepted over TLS/)
      client.close()
    } finally {
      await plain.close()
    }
  })
})

let caCounter = 0
function writeCa(fixture: OidcIssuerFixture): string {
  const file = join(process.env.TMPDIR ?? '/tmp', `kb-oidc-ca-${process.pid}-${caCounter++}.pem`)
  writeFileSync(file, fixture.caPem)
  return file
}
