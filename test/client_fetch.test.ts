import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'chai'
import { decodeJwt } from 'jose'
import { BrokerClient } from 'keybroker/client'
import { AGENT, REPO_ROOT, serverConfigYaml, TestBroker } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'
import { chargesRouteYaml } from './fixtures/proxy_route.js'
import { RecordingUpstream } from './fixtures/recording_upstream.js'

const run = promisify(execFile)
const KEY = 'sk_live_client_fetch_never_in_the_agent_4242'

/**
 * `client.fetch` / `client.proxyFetch` over HTTPS to the real injection proxy, trusting the broker's
 * CA from `tls.caFile` only: the test CA is generated per run, so no process-wide setting trusts it
 * (and one case runs in a child process with NODE_EXTRA_CA_CERTS removed).
 */
describe('BrokerClient.fetch and proxyFetch: HTTPS with the client’s CA', () => {
  let t: TestBroker
  let upstream: RecordingUpstream
  let agentCert: CertFiles
  let client: BrokerClient

  before(async () => {
    let upstreamUrl = ''
    t = await TestBroker.start({
      configYaml: (dir, pki) => {
        return `${serverConfigYaml(dir, pki)}${chargesRouteYaml(dir, pki, KEY, upstreamUrl)}grants:
  - name: agents
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: "proxy:charges", scopes: ["GET /v1/charges*", "POST /v1/charges"], max_ttl: 5m }
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
    client = new BrokerClient({
      address: t.address,
      httpUrl: t.httpUrl,
      tls: {
        caFile: t.pki.caFile,
        certFile: agentCert.cert,
        keyFile: agentCert.key,
        serverName: 'localhost',
      },
    })
  })
  after(async () => {
    client?.close()
    await t?.close()
    await upstream?.close()
  })

  it('the global fetch does not trust the broker (the case this fixes)', async () => {
    let failure: unknown
    try {
      await globalThis.fetch(`${t.httpUrl}/.well-known/jwks.json`)
    } catch (err) {
      failure = err
    }
    expect(String((failure as Error & { cause?: Error })?.cause?.message ?? failure)).to.match(/certificate/)
  })

  it('proxyFetch reaches the upstream through /proxy/<route>/…; the key is injected there, never returned', async () => {
    const seen = upstream.received.length
    const res = await client.proxyFetch('charges', '/v1/charges?limit=2', { method: 'GET' })
    const text = await res.text()
    expect(res.status, text).to.equal(200)
    expect(JSON.parse(text)).to.include({ method: 'GET', path: '/api/v1/charges' })
    expect(text).not.to.include(KEY)
    const arrived = upstream.received[seen]!
    expect(arrived.url).to.equal('/api/v1/charges?limit=2')
    expect(arrived.headers.authorization).to.equal(`Bearer ${KEY}`)
  })

  it('sends a request body; a scope the token lacks is the proxy’s 403, as a Response', async () => {
    const post = await client.proxyFetch('charges', 'v1/charges', {
      method: 'POST',
      body: JSON.stringify({ amount: 42 }),
      headers: { 'content-type': 'application/json' },
    })
    expect(post.status).to.equal(200)
    expect(await post.json()).to.include({ method: 'POST', received_bytes: 13 })
    const refused = await client.proxyFetch('charges', '/v1/refunds')
    expect(refused.status).to.equal(403)
    expect(await refused.json()).to.include({ error: 'scope_not_granted' })
  })

  it('a certificate-bound token works because the connection presents the client certificate', async () => {
    const res = await client.proxyFetch('charges', '/v1/charges', undefined, { bindToCertificate: true })
    expect(res.status, await res.clone().text()).to.equal(200)
    const bound = await client.token({ audience: 'proxy:charges', bindToCertificate: true })
    expect(decodeJwt(bound.token).cnf).to.have.property('x5t#S256')
  })

  it('works in a process started without NODE_EXTRA_CA_CERTS', async () => {
    const script = join(t.dir, 'proxy-fetch.mts')
    writeFileSync(
      script,
      `import { BrokerClient } from ${JSON.stringify(join(REPO_ROOT, 'src/client/index.ts'))}
const client = new BrokerClient(JSON.parse(process.env.KB_OPTIONS))
try {
  const res = await client.proxyFetch('charges', '/v1/charges')
  process.stdout.write(String(res.status))
} finally {
  client.close()
}
`,
    )
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KB_OPTIONS: JSON.stringify({
        address: t.address,
        httpUrl: t.httpUrl,
        tls: {
          caFile: t.pki.caFile,
          certFile: agentCert.cert,
          keyFile: agentCert.key,
          serverName: 'localhost',
        },
      }),
    }
    delete env['NODE_EXTRA_CA_CERTS']
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script], { env, cwd: REPO_ROOT })
    expect(stdout).to.equal('200')
  })

  it('fetch replaces any authorization header and works for the broker’s own HTTPS endpoints', async () => {
    const viaProxy = await client.fetch(
      `${t.httpUrl}/proxy/charges/v1/charges`,
      { headers: { authorization: 'Bearer not-a-broker-token' } },
      { audience: 'proxy:charges' },
    )
    expect(viaProxy.status, 'the broker token replaced the one in init').to.equal(200)
    const jwks = await client.fetch(`${t.httpUrl}/.well-known/jwks.json`, undefined, {
      audience: 'proxy:charges',
    })
    expect(jwks.status).to.equal(200)
    expect((await jwks.json()).keys).to.be.an('array').that.is.not.empty
  })
})
