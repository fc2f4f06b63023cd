import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { BrokerClient, type BrokerError } from 'keybroker/client'
import { AGENT, BILLING, TestBroker } from './fixtures/broker.js'
import { AUDIENCE, OidcIssuerFixture } from './fixtures/oidc_issuer.js'

/** Replace a file the way SPIRE and the kubelet do: write a sibling, then rename over. */
function replaceFile(path: string, content: string): void {
  writeFileSync(`${path}.tmp`, content)
  renameSync(`${path}.tmp`, path)
}

describe('BrokerClient: files re-read when they change', () => {
  let t: TestBroker
  let k8s: OidcIssuerFixture
  let dir: string
  const clients: BrokerClient[] = []

  before(async () => {
    k8s = await OidcIssuerFixture.start({ alg: 'ES256' })
    dir = mkdtempSync(join(tmpdir(), 'keybroker-sdk-files-'))
    const caFile = join(dir, 'oidc-ca.pem')
    writeFileSync(caFile, k8s.caPem)
    t = await TestBroker.start({
      extraYaml: `trust:
  oidc:
    - { name: k8s-test, preset: kubernetes, issuer: "${k8s.issuer}", jwks_uri: "${k8s.jwksUri}", audience: ${AUDIENCE}, ca_file: ${caFile} }`,
      grantsYaml: `  - name: k8s-agents
    match: { issuer: k8s-test, subject: "system:serviceaccount:agents:*" }
    tokens:
      - { audience: search-api, scopes: ["search:read"] }
`,
    })
  })
  after(async () => {
    for (const c of clients) c.close()
    await t?.close()
    await k8s?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  function track(c: BrokerClient): BrokerClient {
    clients.push(c)
    return c
  }

  /** A projected service-account token for `agents/<name>`, as the kubelet writes it. */
  function serviceAccountToken(name: string): Promise<string> {
    const claims = k8s.kubernetesClaims({ sub: `system:serviceaccount:agents:${name}` })
    const k = claims['kubernetes.io'] as { serviceaccount: { name: string } }
    k.serviceaccount.name = name
    return k8s.mint(claims)
  }

  describe('certificate files', () => {
    let certFile: string
    let keyFile: string
    let errors: BrokerError[]
    let sdk: BrokerClient

    beforeEach(async () => {
      const billing = await t.pki.spiffe('billing', BILLING)
      certFile = join(dir, 'svid.pem')
      keyFile = join(dir, 'svid-key.pem')
      copyFileSync(billing.cert, certFile)
      copyFileSync(billing.key, keyFile)
      errors = []
      sdk = track(
        new BrokerClient({
          address: t.address,
          tls: { caFile: t.pki.caFile, certFile, keyFile, serverName: 'localhost' },
          fileCheckIntervalMs: 0,
          onError: (err) => errors.push(err),
        }),
      )
      expect((await sdk.whoami()).subject).to.equal(BILLING)
    })

    it('picks up a rotated certificate and key without a restart', async () => {
      const rotated = await t.pki.spiffe('agent', AGENT)
      replaceFile(keyFile, rotated.keyPem)
      replaceFile(certFile, rotated.certPem)
      expect((await sdk.whoami()).subject).to.equal(AGENT)
      expect(errors).to.deep.equal([])
    })

    it('keeps the last good certificate when the file is replaced with garbage, and reports it', async () => {
      replaceFile(certFile, 'this is not a certificate\n')
      expect((await sdk.whoami()).subject).to.equal(BILLING)
      expect(errors).to.have.length(1)
      expect(errors[0]!.code).to.equal('ERR_CLIENT_CONFIG')
      expect(errors[0]!.message).to.equal(
        `tls.certFile ${certFile}: not a PEM certificate; still using the last good one`,
      )
      // Reported once per bad write, not on every call.
      await sdk.whoami()
      expect(errors).to.have.length(1)
    })

    it('keeps the last good pair when the new key does not belong to the certificate', async () => {
      const other = await t.pki.spiffe('agent', AGENT)
      replaceFile(keyFile, other.keyPem)
      expect((await sdk.whoami()).subject).to.equal(BILLING)
      expect(errors.map((e) => e.message)).to.deep.equal([
        `tls.certFile ${certFile} and tls.keyFile ${keyFile} do not belong together; still using the last good one`,
      ])
    })
  })

  describe('workload token file', () => {
    let tokenFile: string
    let errors: BrokerError[]
    let sdk: BrokerClient

    beforeEach(async () => {
      tokenFile = join(dir, 'token')
      writeFileSync(tokenFile, await serviceAccountToken('research'))
      errors = []
      sdk = track(
        new BrokerClient({
          address: t.address,
          tls: { caFile: t.pki.caFile, serverName: 'localhost' },
          workloadTokenFile: tokenFile,
          fileCheckIntervalMs: 0,
          onError: (err) => errors.push(err),
        }),
      )
      expect((await sdk.whoami()).subject).to.equal('system:serviceaccount:agents:research')
    })

    it('picks up a rotated workload token file', async () => {
      replaceFile(tokenFile, await serviceAccountToken('planner'))
      const me = await sdk.whoami()
      expect(me.subject).to.equal('system:serviceaccount:agents:planner')
      expect(me.authMethod).to.equal('oidc')
      const token = await sdk.token({ audience: 'search-api' })
      expect(token.scopes).to.deep.equal(['search:read'])
    })

    it('keeps the last good workload token when the file is emptied, and reports it', async () => {
      replaceFile(tokenFile, '')
      expect((await sdk.whoami()).subject).to.equal('system:serviceaccount:agents:research')
      expect(errors.map((e) => e.message)).to.deep.equal([
        `workloadTokenFile ${tokenFile}: file is empty; still using the last good one`,
      ])
    })
  })

  it('workloadToken() supplies the bearer identity on every call', async () => {
    let calls = 0
    const sdk = track(
      new BrokerClient({
        address: t.address,
        tls: { caFile: t.pki.caFile, serverName: 'localhost' },
        workloadToken: async () => {
          calls++
          return serviceAccountToken(calls === 1 ? 'first' : 'second')
        },
      }),
    )
    expect((await sdk.whoami()).subject).to.equal('system:serviceaccount:agents:first')
    expect((await sdk.whoami()).subject).to.equal('system:serviceaccount:agents:second')
  })
})
