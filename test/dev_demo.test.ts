import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { pino } from 'pino'
import { Agent } from 'undici'
import { initDevEnvironment } from '../src/cli/dev_env.js'
import { type DevUpstream, startDevUpstream } from '../src/cli/dev_upstream.js'
import { loadConfig } from '../src/config/index.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { loadBrokerProto } from '../src/proto/load.js'
import { type RunningBroker, startBroker } from '../src/server/app.js'
import { unary } from './fixtures/broker.js'

/**
 * The README's "Give an AI agent an API without giving it the key" walk-through, as a test:
 * dev-init's own config (ports moved to 0), the dev-upstream, the agent certificate dev-init wrote.
 */
describe('dev demo: agent → broker proxy → dev-upstream, with the dev-init config', () => {
  let dir: string
  let demoKey: string
  let upstream: DevUpstream
  let broker: RunningBroker
  let client: grpc.Client
  let agent: Agent
  const logs: string[] = []
  const upstreamLines: string[] = []

  before(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'kb-dev-demo-')), 'dev')
    expect(await initDevEnvironment(dir)).to.equal(true)
    demoKey = (JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8')) as { api_key: string }).api_key
    upstream = await startDevUpstream({
      dir,
      port: 0,
      onRequest: (r) => upstreamLines.push(JSON.stringify(r)),
    })
    // a copy next to the original, so its relative paths (pki/, secrets.json, data/) still resolve
    const yaml = readFileSync(join(dir, 'keybroker.yaml'), 'utf8')
      .replace('grpc: "127.0.0.1:7443", http: "127.0.0.1:7080"', 'grpc: "127.0.0.1:0", http: "127.0.0.1:0"')
      .replace('https://127.0.0.1:9443', upstream.url)
    expect(yaml).to.include(upstream.url)
    writeFileSync(join(dir, 'keybroker.test.yaml'), yaml)
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _enc, done) {
          logs.push(String(chunk))
          done()
        },
      }),
    )
    broker = await startBroker(loadConfig(join(dir, 'keybroker.test.yaml')), {
      logger,
      shutdownGraceMs: 2_000,
    })

    const pem = (name: string) => readFileSync(join(dir, 'pki', name))
    const proto = loadBrokerProto()
    client = new proto.keybroker.v1.Broker(
      `127.0.0.1:${broker.grpcPort}`,
      grpc.credentials.createSsl(pem('ca.pem'), pem('agent-key.pem'), pem('agent.pem')),
      { 'grpc.ssl_target_name_override': 'localhost' },
    )
    agent = new Agent({ connect: { ca: pem('ca.pem') } })
  })

  after(async () => {
    client?.close()
    await agent?.close()
    await broker?.close()
    await upstream?.close()
    if (dir) rmSync(join(dir, '..'), { recursive: true, force: true })
  })

  async function proxied(path: string, token: string, method: 'GET' | 'POST' = 'GET') {
    const res = await agent.request({
      origin: `https://localhost:${broker.httpPort}`,
      path,
      method,
      headers: { authorization: `Bearer ${token}` },
    })
    return { status: res.statusCode, text: await res.body.text() }
  }

  it('dev-init wrote secrets.json 0600 with a random sk_demo_ key', () => {
    expect(statSync(join(dir, 'secrets.json')).mode & 0o777).to.equal(0o600)
    expect(demoKey).to.match(/^sk_demo_[A-Za-z0-9_-]{24}$/)
  })

  it('a proxy:demo token from the agent certificate gets the upstream the key, never the agent', async () => {
    const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(client, 'IssueToken')
    const token = await issue({ audience: 'proxy:demo', scopes: [], ttl_seconds: 300 })
    expect(token.scopes).to.deep.equal(['GET:/v1/charges*'])

    const ok = await proxied('/proxy/demo/v1/charges?limit=3', token.token)
    expect(ok.status, ok.text).to.equal(200)
    expect(JSON.parse(ok.text)).to.deep.equal({
      path: '/v1/charges?limit=3',
      key_ok: true,
      saw_broker_token: false,
    })

    const refused = await proxied('/proxy/demo/v1/refunds', token.token)
    expect(refused.status).to.equal(403)
    expect(JSON.parse(refused.text)).to.include({ error: 'scope_not_granted' })

    // the issue row and every proxy row (write-ahead, outcome, refusal) carry the same token id
    const rows = await broker.log.tail(4)
    expect(rows.map((r) => [r.kind, r.decision, r.token_id])).to.deep.equal([
      ['issue', 'allow', token.token_id],
      ['proxy', 'allow', token.token_id],
      ['proxy', 'allow', token.token_id],
      ['proxy', 'deny', token.token_id],
    ])
    expect(upstreamLines).to.have.length(1)

    for (const [where, text] of [
      ['agent responses', ok.text + refused.text],
      ['broker logs', logs.join('')],
      ['audit rows', JSON.stringify(await broker.storage.reader.listPage({}, 100_000))],
      ['upstream lines', upstreamLines.join('')],
    ] as const) {
      expect(text, where).to.not.include(demoKey)
    }
  })

  it('dev-init keeps an existing folder, secrets.json included', async () => {
    expect(await initDevEnvironment(dir)).to.equal(false)
    const again = JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8')) as { api_key: string }
    expect(again.api_key).to.equal(demoKey)
  })
})
