import { expect } from 'chai'
import { BrokerClient, type BrokerToken } from 'keybroker/client'
import { Agent, request } from 'undici'
import { sample, scrapeMetrics } from './fixtures/admin.js'
import { AGENT, serverConfigYaml, TestBroker } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'
import { chargesRouteYaml } from './fixtures/proxy_route.js'
import { RecordingUpstream } from './fixtures/recording_upstream.js'

// `$&` and `$$` would be rewritten by a naive String.replace template: the key must arrive byte for byte.
const KEY = 'sk_live_$&_$$_delegation_demo_0123456789'

/**
 * The agent-runtime story end to end through the real config path (file provider → SecretResolver →
 * proxy): an agent gets a route token, delegates a narrower one to a sub-agent, the sub-agent uses the
 * API through the proxy, and revoking the agent's token stops the sub-agent's token at the proxy.
 */
describe('delegation through the injection proxy', () => {
  let t: TestBroker
  let upstream: RecordingUpstream
  let agentCert: CertFiles
  let client: BrokerClient
  let dispatcher: Agent

  before(async () => {
    let upstreamUrl = ''
    t = await TestBroker.start({
      configYaml: (dir, pki) => {
        return `${serverConfigYaml(dir, pki)}${chargesRouteYaml(dir, pki, KEY, upstreamUrl)}grants:
  - name: agents
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: "proxy:charges", scopes: ["GET /v1/charges*", "POST /v1/charges"], max_ttl: 5m }
    delegation: { max_depth: 2 }
`
      },
      // The upstream serves with the test PKI's server certificate, so it exists before the config.
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
      tls: {
        caFile: t.pki.caFile,
        certFile: agentCert.cert,
        keyFile: agentCert.key,
        serverName: 'localhost',
      },
    })
    dispatcher = new Agent({ connect: { ca: t.pki.ca.certPem } })
  })

  after(async () => {
    client.close()
    await dispatcher.close()
    await t.close()
    await upstream.close()
  })

  async function callProxy(token: string, method: 'GET' | 'POST', path: string) {
    const res = await request(`${t.httpUrl}/proxy/charges${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
      dispatcher,
    })
    const text = await res.body.text()
    return { status: res.statusCode, text }
  }

  it('a sub-agent uses a delegated read-only token; revoking the parent stops it at the proxy', async () => {
    const metricsBefore = await scrapeMetrics(t)
    const parent: BrokerToken = await client.token({ audience: 'proxy:charges', ttlSeconds: 120 })
    const child = await client.delegate(parent.token, {
      actor: 'sub-agent-7',
      scopes: ['GET /v1/charges*'],
      ttlSeconds: 30,
    })
    expect(child.scopes).to.deep.equal(['GET:/v1/charges*'])
    expect(child.expiresAt).to.be.at.most(parent.expiresAt)

    const seenBefore = upstream.received.length
    const ok = await callProxy(child.token, 'GET', '/v1/charges?limit=2')
    expect(ok.status, ok.text).to.equal(200)
    expect(ok.text).not.to.include(KEY)
    const arrived = upstream.received[seenBefore]!
    expect(arrived.url).to.equal('/api/v1/charges?limit=2')
    expect(arrived.headers.authorization).to.equal(`Bearer ${KEY}`)
    expect(JSON.stringify(arrived.headers)).not.to.include(child.token.split('.')[2]!)

    // The child is read-only even though the parent may POST.
    const post = await callProxy(child.token, 'POST', '/v1/charges')
    expect(post.status).to.equal(403)
    expect(JSON.parse(post.text)).to.include({ error: 'scope_not_granted' })
    expect((await callProxy(parent.token, 'POST', '/v1/charges')).status).to.equal(200)

    await t.broker.revocations.revoke([{ jti: parent.tokenId, expiresAt: parent.expiresAt, reason: 'test' }])
    const seenAtRevocation = upstream.received.length
    const refused = await callProxy(child.token, 'GET', '/v1/charges')
    expect(refused.status).to.equal(401)
    const body = JSON.parse(refused.text)
    expect(body.message).to.match(/revoked/)
    expect(upstream.received.length, 'upstream received nothing after revocation').to.equal(seenAtRevocation)

    // The key came through the configured provider and cache, and the metrics saw it: two forwarded
    // calls looked the key up (one miss, one hit); refused calls never reach the secret.
    const metricsAfter = await scrapeMetrics(t)
    const lookups = (text: string) =>
      ['hit', 'miss', 'stale'].reduce(
        (n, result) => n + sample(text, 'keybroker_secret_cache_total', { result }),
        0,
      )
    expect(lookups(metricsAfter) - lookups(metricsBefore)).to.equal(2)
    expect(
      sample(metricsAfter, 'keybroker_upstream_requests_total', { provider: 'local', result: 'ok' }) -
        sample(metricsBefore, 'keybroker_upstream_requests_total', { provider: 'local', result: 'ok' }),
    ).to.equal(1)

    // The audit log links the exchanges by subject: issue, delegate, proxy allow/deny.
    const rows = (await t.broker.log.tail(20)).filter((r) => r.subject === AGENT)
    const kinds = rows.map((r) => `${r.kind}:${r.decision}`)
    expect(kinds).to.include.members(['issue:allow', 'delegate:allow', 'proxy:allow', 'proxy:deny'])
    expect(JSON.stringify(rows)).not.to.include(KEY)
  })
})
