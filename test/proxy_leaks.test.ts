import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import { Agent, request } from 'undici'
import type { StoredExchange } from '../src/audit/index.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { sample, scrapeMetrics } from './fixtures/admin.js'
import { AGENT, serverConfigYaml, TestBroker, unary } from './fixtures/broker.js'
import { eventually } from './fixtures/net.js'
import type { CertFiles } from './fixtures/pki.js'
import { RecordingUpstream } from './fixtures/recording_upstream.js'

const KEY = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'
const INJECTED = `Key ${KEY}`

/**
 * The adversarial review's reproductions: an upstream that hands the injected key back, encoded,
 * split, or by reflecting the whole request. Through a real broker, the real config path (file
 * provider → proxy) and a real HTTPS upstream; the agent must never see the key in any form.
 */
describe('proxy: the injected key never comes back from the upstream', function () {
  this.timeout(30_000)
  let t: TestBroker
  let upstream: RecordingUpstream
  let agentCert: CertFiles
  let dispatcher: Agent

  before(async () => {
    let upstreamUrl = ''
    t = await TestBroker.start({
      configYaml: (dir, pki) => {
        const secretsFile = join(dir, 'secrets.json')
        writeFileSync(secretsFile, JSON.stringify({ api_key: KEY }), { mode: 0o600 })
        const route = `upstream: "${upstreamUrl}/api", secret: api-key, ca_file: ${pki.caFile}`
        return `${serverConfigYaml(dir, pki)}providers:
  local: { type: file, path: ${secretsFile} }
secrets:
  api-key: { provider: local, field: api_key }
routes:
  echo: { ${route}, header: X-Api-Key, template: "Key {secret}" }
  binary: { ${route}, header: X-Api-Key, template: "Key {secret}", scan_response: false }
grants:
  - name: agents
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: "proxy:echo", scopes: ["* /*"], max_ttl: 5m }
      - { audience: "proxy:binary", scopes: ["* /*"], max_ttl: 5m }
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
    dispatcher = new Agent({ connect: { ca: t.pki.ca.certPem } })
  })

  after(async () => {
    await dispatcher?.close()
    await t?.close()
    await upstream?.close()
  })

  async function issue(audience: string): Promise<IssueTokenResponse__Output> {
    const call = unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(agentCert), 'IssueToken')
    return call({ audience, scopes: [], ttl_seconds: 0, bind_to_certificate: false })
  }

  async function proxied(route: string, path: string, headers: Record<string, string> = {}) {
    const { token, token_id } = await issue(`proxy:${route}`)
    const res = await request(`${t.httpUrl}/proxy/${route}${path}`, {
      headers: { authorization: `Bearer ${token}`, ...headers },
      dispatcher,
    })
    const body = Buffer.from(await res.body.arrayBuffer())
    return { status: res.statusCode, headers: res.headers, body, text: body.toString('latin1'), token_id }
  }

  /** Every encoding of the key the scanner knows, as a caller could try to decode it. */
  function expectNoKey(res: { headers: object; text: string }) {
    const seen = `${JSON.stringify(res.headers)}\n${res.text}`
    for (const form of [
      KEY,
      Buffer.from(KEY).toString('hex'),
      Buffer.from(KEY).toString('hex').toUpperCase(),
    ])
      expect(seen).not.to.include(form)
    for (const alphabet of ['base64', 'base64url'] as const)
      for (const prefix of [0, 1, 2]) {
        const encoded = Buffer.concat([Buffer.alloc(prefix, 0x7e), Buffer.from(KEY)]).toString(alphabet)
        expect(seen).not.to.include(encoded.slice(4, -4))
      }
  }

  /** The outcome row, and the row recording body redactions once it is committed (after the body). */
  async function rowsOf(tokenId: string, redactedRow: boolean): Promise<StoredExchange[]> {
    const proxyRows = async () =>
      (await t.broker.log.findByTokenId(tokenId)).filter((r) => r.kind === 'proxy')
    const wanted = redactedRow ? ['authorized', 'completed', 'redacted'] : ['authorized', 'completed']
    await eventually(
      async () => (await proxyRows()).length === wanted.length,
      5_000,
      `rows ${wanted.join(', ')}`,
    )
    const rows = await proxyRows()
    expect(rows.map((r) => r.detail?.phase)).to.deep.equal(wanted)
    for (const row of rows) expect(JSON.stringify(row)).not.to.include(KEY)
    return rows
  }

  it('body echo of the request: the injected header is masked and the JSON stays valid', async () => {
    const before = sample(await scrapeMetrics(t), 'keybroker_proxy_leaks_redacted_total', { route: 'echo' })
    const res = await proxied('echo', '/v1/echo', { 'x-request-id': 'r-1' })
    expect(res.status).to.equal(200)
    expect(Number(res.headers['content-length'])).to.equal(res.body.length)
    const echoed = JSON.parse(res.text) as { headers: Record<string, string> }
    expect(echoed.headers['x-api-key']).to.equal('*'.repeat(INJECTED.length))
    expect(echoed.headers['x-request-id']).to.equal('r-1')
    expectNoKey(res)
    // the upstream did get the key: the scan only acts on the way back
    expect(upstream.received.at(-1)!.headers['x-api-key']).to.equal(INJECTED)

    const [, completed, redacted] = await rowsOf(res.token_id, true)
    expect(completed!.id).to.equal(res.headers['keybroker-exchange-id'])
    expect(completed!.detail).not.to.have.property('leak_redacted')
    expect(redacted!.detail).to.include({ leak_redacted: 1, outcome: completed!.id })
    expect(redacted).to.include({ kind: 'proxy', decision: 'allow', route: 'echo' })
    const after = sample(await scrapeMetrics(t), 'keybroker_proxy_leaks_redacted_total', { route: 'echo' })
    expect(after - before).to.equal(1)
    expect(t.logs.some((l) => l.includes('the upstream sent the injected key back'))).to.equal(true)
    expect(t.logs.join('\n')).not.to.include(KEY)
  })

  for (const [name, encoding] of [
    ['base64', 'base64'],
    ['base64url', 'base64url'],
    ['upper-case hex', 'HEX'],
  ] as const) {
    for (const prefix of [0, 1, 2]) {
      it(`${name} of the key at alignment ${prefix} in the body is masked`, async () => {
        const res = await proxied(
          'echo',
          `/v1/reflect?header=x-api-key&part=last-word&encoding=${encoding}&prefix=${prefix}`,
        )
        expect(res.status).to.equal(200)
        expect(Number(res.headers['content-length'])).to.equal(res.body.length)
        const { data } = JSON.parse(res.text) as { data: string }
        expect(data).to.include('*'.repeat(16))
        expectNoKey(res)
        const rows = await rowsOf(res.token_id, true)
        expect(rows[2]!.detail).to.include({ leak_redacted: 1 })
      })
    }
  }

  it('base64 of the whole templated header value is masked', async () => {
    const res = await proxied('echo', '/v1/reflect?header=x-api-key&encoding=base64&prefix=1')
    const { data } = JSON.parse(res.text) as { data: string }
    expect(data).not.to.include(Buffer.from(`~${INJECTED}`).toString('base64').slice(4, -4))
    expectNoKey(res)
  })

  it('a key split across two body chunks is still masked', async () => {
    const res = await proxied('echo', '/v1/reflect?header=x-api-key&part=last-word&mode=chunks')
    expect(res.status).to.equal(200)
    expect(res.headers['content-length']).to.equal(undefined) // chunked, as the upstream sent it
    expect(JSON.parse(res.text)).to.deep.equal({ data: '*'.repeat(KEY.length) })
    const rows = await rowsOf(res.token_id, true)
    expect(rows[2]!.detail).to.include({ leak_redacted: 1 })
  })

  it('a key split over two response headers is masked in both, and counted in the outcome row', async () => {
    const res = await proxied('echo', '/v1/reflect?header=x-api-key&part=last-word&mode=headers')
    expect(res.status).to.equal(200)
    const half = Math.floor(KEY.length / 2)
    expect(res.headers['x-part-1']).to.equal('*'.repeat(half))
    expect(res.headers['x-part-2']).to.equal('*'.repeat(KEY.length - half))
    expectNoKey(res)
    const [, completed] = await rowsOf(res.token_id, false)
    expect(completed!.detail).to.include({ leak_redacted: 1 })
  })

  it('asks the upstream for identity encoding whatever the agent accepts', async () => {
    const res = await proxied('echo', '/v1/echo', { 'accept-encoding': 'gzip, br' })
    expect(res.status).to.equal(200)
    expect(upstream.received.at(-1)!.headers['accept-encoding']).to.equal('identity')
    expectNoKey(res)
  })

  it('decompresses an upstream that compresses anyway, then masks', async () => {
    const res = await proxied('echo', '/v1/reflect?header=x-api-key&part=last-word&encoding=base64&gzip=1')
    expect(res.status).to.equal(200)
    expect(res.headers['content-encoding']).to.equal(undefined)
    const { data } = JSON.parse(res.text) as { data: string }
    expect(data).to.match(/^\*{40}/) // base64 of the key: its edge characters also carry padding bits
    expectNoKey(res)
  })

  it('scan_response: false passes the body through untouched (for binary streams)', async () => {
    const res = await proxied('binary', '/v1/download?bytes=70000', { 'accept-encoding': 'gzip' })
    expect(res.status).to.equal(200)
    expect(res.body.equals(Buffer.alloc(70000, 0x61))).to.equal(true)
    // not scanning: the agent's own Accept-Encoding reaches the upstream
    expect(upstream.received.at(-1)!.headers['accept-encoding']).to.equal('gzip')
    // headers are scanned on every route
    const split = await proxied('binary', '/v1/reflect?header=x-api-key&part=last-word&mode=headers')
    expectNoKey({ headers: split.headers, text: '' })
  })
})
