import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { expect } from 'chai'
import { Agent, type Dispatcher } from 'undici'
import type { StoredExchange } from '../src/audit/index.js'
import { ManualClock } from '../src/clock.js'
import { BrokerError } from '../src/errors.js'
import type { ProxySecretSource } from '../src/exchange/index.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { SecretCache, type SecretRef, VaultProvider } from '../src/providers/index.js'
import { AGENT, BILLING, TestBroker, unary } from './fixtures/broker.js'
import { eventually } from './fixtures/net.js'
import { type CertFiles, TestPki } from './fixtures/pki.js'
import { RecordingUpstream } from './fixtures/recording_upstream.js'
import { selfSignedServerCert } from './fixtures/self_signed.js'
import { FakeVault } from './fixtures/vault_server.js'

/** The upstream API key; it must reach the upstream and nothing else. */
const KEY = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'
const MiB = 1024 * 1024

/** The real providers behind the proxy's one-method seam (the broker's SecretResolver has the same shape). */
function vaultSecrets(vault: VaultProvider, refs: Record<string, SecretRef>): ProxySecretSource {
  const cache = new SecretCache()
  return {
    async get(name, signal) {
      const ref = refs[name]
      if (!ref) throw new BrokerError('ERR_NOT_FOUND', `secret ${name} is not configured`)
      const got = await cache.get(ref, vault, {}, signal)
      return { ...got, provider: vault.name, providerType: vault.type }
    },
  }
}

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('injection proxy', function () {
  this.timeout(60_000)
  const clock = new ManualClock()
  let t: TestBroker
  let pki: TestPki
  let upstream: RecordingUpstream
  let untrusted: RecordingUpstream
  let fakeVault: FakeVault
  let vault: VaultProvider
  let agentCert: CertFiles
  let otherCert: CertFiles
  const agents = new Map<string, Agent>()

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keybroker-proxy-'))
    pki = await TestPki.create(join(dir, 'pki'))
    upstream = await new RecordingUpstream({ certPem: pki.server.certPem, keyPem: pki.server.keyPem }).start()
    untrusted = await new RecordingUpstream(selfSignedServerCert()).start()
    fakeVault = await new FakeVault().start()
    fakeVault.addToken('vault-token')
    fakeVault.putKv('secret/data/upstream', { api_key: KEY })
    const tokenFile = join(dir, 'vault-token')
    writeFileSync(tokenFile, 'vault-token')
    vault = new VaultProvider({
      name: 'vault',
      address: fakeVault.url,
      timeoutMs: 5_000,
      auth: { method: 'token', tokenFile },
    })
    const route = (extra = '') =>
      `{ upstream: "${upstream.url}/api", secret: upstream-key, ca_file: ${pki.caFile}${extra} }`
    t = await TestBroker.start({
      reuse: { dir, pki },
      clock,
      proxySecrets: vaultSecrets(vault, {
        'upstream-key': { name: 'upstream-key', path: 'secret/data/upstream', field: 'api_key' },
      }),
      extraYaml: `providers:
  vault: { type: vault, address: "${fakeVault.url}", auth: { method: token, token_file: ${tokenFile} } }
secrets:
  upstream-key: { provider: vault, path: secret/data/upstream, field: api_key }
routes:
  echo: ${route(', header: X-Api-Key, template: "Key {secret}"')}
  query: ${route(', query_param: api_key')}
  other: ${route()}
  slow: ${route(', timeout: 1s')}
  down: { upstream: "https://127.0.0.1:${await closedPort()}", secret: upstream-key }
  untrusted: { upstream: "${untrusted.url}", secret: upstream-key }
`,
      grantsYaml: `  - name: proxy-agent
    match: { spiffe_id: "${AGENT}" }
    tokens:
      - audience: "proxy:echo"
        scopes: ["GET /v1/charges*", "POST /v1/upload", "GET /v1/download", "GET /v1/drip", "POST /v1/drip"]
        max_ttl: 5m
      - { audience: "proxy:query", scopes: ["GET /v1/*"], max_ttl: 5m }
      - { audience: "proxy:other", scopes: ["GET /*"], max_ttl: 5m }
      - { audience: "proxy:slow", scopes: ["* /*"], max_ttl: 5m }
      - { audience: "proxy:down", scopes: ["* /*"], max_ttl: 5m }
      - { audience: "proxy:untrusted", scopes: ["* /*"], max_ttl: 5m }
`,
    })
    agentCert = await pki.spiffe('research-agent', AGENT)
    otherCert = await pki.spiffe('billing', BILLING)
  })

  after(async () => {
    for (const a of agents.values()) await a.close()
    await t?.close()
    await vault?.close()
    await Promise.all([upstream?.close(), untrusted?.close(), fakeVault?.close()])
  })

  /** A proxy token from the real IssueToken over gRPC, as an agent runtime would get it. */
  async function issue(
    audience: string,
    options: { scopes?: string[]; bind?: boolean } = {},
  ): Promise<IssueTokenResponse__Output> {
    const call = unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(agentCert), 'IssueToken')
    return call({
      audience,
      scopes: options.scopes ?? [],
      ttl_seconds: 0,
      bind_to_certificate: options.bind ?? false,
    })
  }

  function dispatcher(cert?: CertFiles): Agent {
    const name = cert?.cert ?? 'none'
    let agent = agents.get(name)
    if (!agent) {
      agent = new Agent({
        connect: { ca: pki.ca.certPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) },
      })
      agents.set(name, agent)
    }
    return agent
  }

  interface CallOptions {
    method?: Dispatcher.HttpMethod
    token?: string
    cert?: CertFiles
    headers?: Record<string, string>
    body?: Dispatcher.DispatchOptions['body']
    signal?: AbortSignal
  }

  /** Raw path on purpose: a URL object would resolve `..` before the broker ever saw it. */
  async function call(path: string, options: CallOptions = {}) {
    const res = await dispatcher(options.cert).request({
      origin: t.httpUrl,
      path,
      method: options.method ?? 'GET',
      headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
      body: options.body,
      signal: options.signal,
    })
    const text = await res.body.text()
    return { status: res.statusCode, headers: res.headers, text }
  }

  async function lastRow(): Promise<StoredExchange> {
    return (await t.broker.log.tail(1))[0]!
  }

  /**
   * The last row once `check` holds for it: a streamed exchange is recorded when the stream ends,
   * which the caller may see before the commit (the writer thread confirms it a moment later).
   */
  async function lastRowOnce(what: string, check: (row: StoredExchange) => boolean): Promise<StoredExchange> {
    await eventually(async () => check(await lastRow()), 10_000, what)
    return await lastRow()
  }

  /** Status + JSON {error, message} + an audit row that says the same + nothing reached the upstream. */
  async function expectRefused(path: string, options: CallOptions, status: number, error: string) {
    const before = upstream.received.length
    const res = await call(path, options)
    expect(res.status, res.text).to.equal(status)
    expect(res.headers['content-type']).to.equal('application/json')
    const body = JSON.parse(res.text) as { error: string; message: string; exchange_id: string }
    expect(body.error).to.equal(error)
    const row = await lastRow()
    expect(row.id).to.equal(body.exchange_id)
    expect(row.kind).to.equal('proxy')
    expect(row.reason).to.equal(body.message)
    expect(upstream.received.length, 'the upstream received a request').to.equal(before)
    expect(JSON.stringify(row)).not.to.include(KEY)
    if (options.token) expect(JSON.stringify(row)).not.to.include(options.token)
    return { body, row }
  }

  describe('forwarding', () => {
    it('injects the key in the configured header; the broker token never reaches the upstream', async () => {
      const { token } = await issue('proxy:echo')
      const res = await call('/proxy/echo/v1/charges?limit=3&starting_after=ch_1', {
        token,
        headers: { 'x-request-id': 'req-1', 'proxy-authorization': 'Basic c2VjcmV0' },
      })
      expect(res.status).to.equal(200)
      const got = upstream.received.at(-1)!
      expect(got.url).to.equal('/api/v1/charges?limit=3&starting_after=ch_1')
      expect(got.headers['x-api-key']).to.equal(`Key ${KEY}`)
      expect(got.headers.authorization).to.equal(undefined)
      expect(got.headers['proxy-authorization']).to.equal(undefined)
      expect(got.headers['x-request-id']).to.equal('req-1')
      expect(JSON.stringify(got)).not.to.include(token)
      expect(res.text).not.to.include(KEY)
      expect(JSON.stringify(res.headers)).not.to.include(KEY)
      expect(JSON.parse(res.text)).to.deep.equal({
        method: 'GET',
        path: '/api/v1/charges',
        received_bytes: 0,
      })
    })

    it('injects the key as a query parameter, replacing one the caller sent', async () => {
      const { token } = await issue('proxy:query')
      const res = await call('/proxy/query/v1/search?q=a%20b&api_key=forged', { token })
      expect(res.status).to.equal(200)
      const got = upstream.received.at(-1)!
      expect(got.url).to.equal(`/api/v1/search?q=a%20b&api_key=${encodeURIComponent(KEY)}`)
      expect(got.headers.authorization).to.equal(undefined)
      expect(JSON.stringify(got)).not.to.include(token)
      expect(res.text + JSON.stringify(res.headers)).not.to.include(KEY)
    })

    it('writes one audit row: subject, route, method and path (no query values), status, bytes, latency', async () => {
      const { token, token_id } = await issue('proxy:echo')
      const res = await call('/proxy/echo/v1/charges?customer=cus_secret_value', { token })
      expect(res.status).to.equal(200)
      const row = await lastRow()
      expect(row.id).to.equal(res.headers['keybroker-exchange-id'])
      expect(row).to.include({
        kind: 'proxy',
        decision: 'allow',
        subject: AGENT,
        route: 'echo',
        audience: 'proxy:echo',
        token_id,
        secret_name: 'upstream-key',
      })
      expect(row.detail).to.include({
        method: 'GET',
        path: '/v1/charges',
        status: 200,
        request_bytes: 0,
        response_bytes: Buffer.byteLength(res.text),
        scope: 'GET:/v1/charges*',
      })
      expect(row.latency_us).to.be.a('number').above(0)
      const text = JSON.stringify(row)
      expect(text).not.to.include('cus_secret_value')
      expect(text).not.to.include(KEY)
      expect(text).not.to.include(token)
    })

    it('resolves a `..` that stays inside the route before checking scopes', async () => {
      const { token } = await issue('proxy:echo')
      const res = await call('/proxy/echo/v1/refunds/../charges', { token })
      expect(res.status).to.equal(200)
      expect(upstream.received.at(-1)!.url).to.equal('/api/v1/charges')
    })

    it('accepts a certificate-bound token only on a connection with that certificate', async () => {
      const { token } = await issue('proxy:echo', { bind: true })
      const res = await call('/proxy/echo/v1/charges', { token, cert: agentCert })
      expect(res.status).to.equal(200)
      expect((await lastRow()).cert_thumbprint)
        .to.be.a('string')
        .with.length(43)
    })
  })

  describe('bad input', () => {
    it('no token → 401', async () => {
      const { body, row } = await expectRefused('/proxy/echo/v1/charges', {}, 401, 'no_credentials')
      expect(body.message).to.include('Authorization: Bearer')
      expect(row.decision).to.equal('deny')
      expect(row.route).to.equal('echo')
    })

    it('expired token → 401', async () => {
      const { token } = await issue('proxy:echo')
      clock.advance(6 * 60_000)
      const { body, row } = await expectRefused('/proxy/echo/v1/charges', { token }, 401, 'token_expired')
      expect(body.message).to.equal('token has expired')
      expect(row.decision).to.equal('deny')
      expect(row.detail).to.have.property('token_fingerprint')
    })

    it('revoked token → 401', async () => {
      const { token, token_id, expires_at } = await issue('proxy:echo')
      await t.broker.revocations.revoke([{ jti: token_id, expiresAt: expires_at }])
      const { body } = await expectRefused('/proxy/echo/v1/charges', { token }, 401, 'token_revoked')
      expect(body.message).to.equal(`token ${token_id} has been revoked`)
    })

    it('certificate-bound token without the certificate → 401', async () => {
      const { token } = await issue('proxy:echo', { bind: true })
      const { body } = await expectRefused('/proxy/echo/v1/charges', { token }, 401, 'no_credentials')
      expect(body.message).to.include('bound to a client certificate')
    })

    it('certificate-bound token with another certificate → 401', async () => {
      const { token } = await issue('proxy:echo', { bind: true })
      const { body } = await expectRefused(
        '/proxy/echo/v1/charges',
        { token, cert: otherCert },
        401,
        'token_invalid',
      )
      expect(body.message).to.include('bound to a different client certificate')
    })

    it('token for another route → 403', async () => {
      const { token } = await issue('proxy:other')
      const { body, row } = await expectRefused(
        '/proxy/echo/v1/charges',
        { token },
        403,
        'audience_not_granted',
      )
      expect(body.message).to.include('"proxy:echo"')
      expect(row.subject).to.equal(AGENT)
    })

    it('method outside the scopes → 403', async () => {
      const { token } = await issue('proxy:echo')
      const { body } = await expectRefused(
        '/proxy/echo/v1/charges',
        { token, method: 'DELETE' },
        403,
        'scope_not_granted',
      )
      expect(body.message).to.include('DELETE /v1/charges is outside the token')
    })

    it('path outside the scopes → 403', async () => {
      const { token } = await issue('proxy:echo')
      const { body } = await expectRefused('/proxy/echo/v1/refunds', { token }, 403, 'scope_not_granted')
      expect(body.message).to.include('GET /v1/refunds is outside the token')
    })

    it('`..` that stays in the route but leaves the scopes → 403 on the normalized path', async () => {
      const { token } = await issue('proxy:echo')
      const { body } = await expectRefused(
        '/proxy/echo/v1/charges/../../admin',
        { token },
        403,
        'scope_not_granted',
      )
      expect(body.message).to.include('GET /admin is outside')
    })

    it('`..` escaping the route → 400', async () => {
      const { token } = await issue('proxy:echo')
      const { body, row } = await expectRefused(
        '/proxy/echo/../other/v1/x',
        { token },
        400,
        'invalid_argument',
      )
      expect(body.message).to.equal("path climbs above the route's base with '..'")
      expect(row.decision).to.equal('deny')
    })

    it('`%2e%2e` escaping the route → 400', async () => {
      const { token } = await issue('proxy:echo')
      const { body } = await expectRefused(
        '/proxy/echo/v1/%2e%2e/%2E%2E/admin',
        { token },
        400,
        'invalid_argument',
      )
      expect(body.message).to.equal("path climbs above the route's base with '..'")
    })

    it('`//` → 400', async () => {
      const { token } = await issue('proxy:echo')
      const { body } = await expectRefused('/proxy/echo/v1//charges', { token }, 400, 'invalid_argument')
      expect(body.message).to.include('empty path segments (//)')
    })

    it('encoded slash %2F → 400', async () => {
      const { token } = await issue('proxy:echo')
      const { body } = await expectRefused(
        '/proxy/echo/v1/charges%2f..%2f..%2fadmin',
        { token },
        400,
        'invalid_argument',
      )
      expect(body.message).to.include('encoded slashes')
    })

    it('encoded backslash %5C → 400', async () => {
      const { token } = await issue('proxy:echo')
      const { body } = await expectRefused(
        '/proxy/echo/v1/charges%5C..%5Cadmin',
        { token },
        400,
        'invalid_argument',
      )
      expect(body.message).to.include('encoded slashes')
    })

    it('TRACE (which would echo the injected key back) → 400', async () => {
      const { token } = await issue('proxy:slow')
      const { body } = await expectRefused(
        '/proxy/slow/v1/x',
        { token, method: 'TRACE' },
        400,
        'invalid_argument',
      )
      expect(body.message).to.include('method TRACE is not proxied')
    })

    it('unknown route → 404', async () => {
      const { token } = await issue('proxy:echo')
      const { body } = await expectRefused('/proxy/nope/v1/charges', { token }, 404, 'not_found')
      expect(body.message).to.equal('no proxy route named "nope"')
    })

    it('upstream unreachable → 502', async () => {
      const { token } = await issue('proxy:down')
      const { body, row } = await expectRefused('/proxy/down/v1/x', { token }, 502, 'upstream_unavailable')
      expect(body.message).to.match(/the upstream of route "down" is unreachable \(ECONNREFUSED\)/)
      expect(row.decision).to.equal('error')
    })

    it('upstream with an untrusted TLS certificate → 502', async () => {
      const { token } = await issue('proxy:untrusted')
      const { body } = await expectRefused('/proxy/untrusted/v1/x', { token }, 502, 'upstream_unavailable')
      expect(body.message).to.include('TLS certificate the broker does not trust')
      expect(body.message).to.include('routes.untrusted.ca_file')
      expect(untrusted.received).to.have.length(0)
    })

    it('upstream slower than the deadline → 504', async () => {
      const { token } = await issue('proxy:slow')
      const res = await call('/proxy/slow/v1/slow', { token })
      expect(res.status).to.equal(504)
      const body = JSON.parse(res.text)
      expect(body.error).to.equal('upstream_timeout')
      expect(body.message).to.equal(
        'the upstream of route "slow" did not answer within 1s (routes.slow.timeout)',
      )
      const row = await lastRow()
      expect(row).to.include({ id: body.exchange_id, kind: 'proxy', decision: 'error', route: 'slow' })
    })

    /** Make the audit refuse the proxy row of one phase ('authorized' = write-ahead, 'completed' = outcome). */
    async function withAuditFailing<T>(phase: 'authorized' | 'completed', run: () => Promise<T>): Promise<T> {
      const audit = t.broker.audit
      const append = audit.append
      audit.append = (record) =>
        record.kind === 'proxy' && record.decision === 'allow' && record.detail?.phase === phase
          ? Promise.reject(new BrokerError('ERR_AUDIT_UNAVAILABLE', 'audit log unavailable: test'))
          : append.call(audit, record)
      try {
        return await run()
      } finally {
        audit.append = append
      }
    }

    it('audit log unwritable before forwarding → 503, and the upstream receives nothing', async () => {
      const { token } = await issue('proxy:echo')
      const seen = upstream.received.length
      const res = await withAuditFailing('authorized', () => call('/proxy/echo/v1/charges', { token }))
      expect(res.status).to.equal(503)
      expect(JSON.parse(res.text)).to.include({
        error: 'audit_unavailable',
        message: 'audit log unavailable: test',
      })
      expect(upstream.received.length, 'nothing forwarded without a committed row').to.equal(seen)
    })

    it('audit log unwritable when the upstream answers → 503, and the upstream response is withheld', async () => {
      const { token } = await issue('proxy:echo')
      const res = await withAuditFailing('completed', () => call('/proxy/echo/v1/charges', { token }))
      expect(res.status).to.equal(503)
      expect(JSON.parse(res.text)).to.include({
        error: 'audit_unavailable',
        message: 'audit log unavailable: test',
      })
      expect(res.text).not.to.include('received_bytes')
      // the write-ahead row shows the request went upstream
      const row = await lastRow()
      expect(row).to.include({ kind: 'proxy', decision: 'allow', route: 'echo' })
      expect(row.detail).to.include({ phase: 'authorized' })
    })
  })

  describe('streaming', () => {
    /** Peak rss growth while `run` executes, sampled every 10 ms. */
    async function rssGrowth(run: () => Promise<void>): Promise<number> {
      const baseline = process.memoryUsage().rss
      let peak = baseline
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss)
      }, 10)
      try {
        await run()
      } finally {
        clearInterval(sampler)
      }
      const growth = Math.max(peak, process.memoryUsage().rss) - baseline
      if (process.env.KEYBROKER_TEST_VERBOSE) console.log(`rss growth ${(growth / MiB).toFixed(1)} MiB`)
      return growth
    }

    it('streams a 100 MiB upload without buffering it', async () => {
      const { token } = await issue('proxy:echo')
      const total = 100 * MiB
      const chunk = Buffer.alloc(64 * 1024, 0x62)
      const upload = (bytes: number) => {
        async function* body() {
          for (let sent = 0; sent < bytes; sent += chunk.length) yield chunk
        }
        return call('/proxy/echo/v1/upload', {
          token,
          method: 'POST',
          headers: { 'content-length': String(bytes), 'content-type': 'application/octet-stream' },
          body: Readable.from(body()),
        })
      }
      // warm up (TLS sessions, pools, heap spaces) so the measurement is of the 100 MiB, not of first use
      await upload(8 * MiB)
      let res: Awaited<ReturnType<typeof call>> | undefined
      const growth = await rssGrowth(async () => {
        res = await upload(total)
      })
      expect(res!.status, res!.text).to.equal(200)
      expect(JSON.parse(res!.text).received_bytes).to.equal(total)
      expect(upstream.received.at(-1)!.bodyBytes).to.equal(total)
      const row = await lastRowOnce('the upload row', (r) => r.detail?.request_bytes === total)
      expect(row.detail).to.include({ request_bytes: total })
      expect(growth, `rss grew by ${(growth / MiB).toFixed(1)} MiB`).to.be.below(64 * MiB)
    })

    it('streams a 100 MiB download without buffering it', async () => {
      const { token } = await issue('proxy:echo')
      const total = 100 * MiB
      let received = 0
      let status = 0
      const download = async (bytes: number) => {
        const res = await dispatcher().request({
          origin: t.httpUrl,
          path: `/proxy/echo/v1/download?bytes=${bytes}`,
          method: 'GET',
          headers: { authorization: `Bearer ${token}` },
        })
        status = res.statusCode
        received = 0
        for await (const chunk of res.body) received += (chunk as Buffer).length
      }
      await download(8 * MiB) // warm up, as above
      const growth = await rssGrowth(() => download(total))
      expect(status).to.equal(200)
      expect(received).to.equal(total)
      const row = await lastRowOnce('the download row', (r) => r.detail?.response_bytes === total)
      expect(row.detail).to.include({ response_bytes: total, status: 200 })
      expect(growth, `rss grew by ${(growth / MiB).toFixed(1)} MiB`).to.be.below(64 * MiB)
    })

    it('aborts the upstream request when the caller disconnects mid-download', async () => {
      const { token } = await issue('proxy:echo')
      const settled = upstream.nextSettled()
      const res = await dispatcher().request({
        origin: t.httpUrl,
        path: '/proxy/echo/v1/drip',
        method: 'GET',
        headers: { authorization: `Bearer ${token}` },
      })
      expect(res.statusCode).to.equal(200)
      for await (const _ of res.body) break // one chunk, then hang up
      await settled
      expect(upstream.received.at(-1)!.responseCut).to.equal(true)
    })

    it('aborts the upstream request when the caller disconnects mid-upload', async () => {
      const { token } = await issue('proxy:echo')
      const settled = upstream.nextSettled()
      const caller = new AbortController()
      const chunk = Buffer.alloc(64 * 1024, 0x63)
      async function* body() {
        yield chunk
        await new Promise(() => {}) // never finishes: the caller hangs up instead
      }
      const before = upstream.received.length
      const pending = call('/proxy/echo/v1/upload', {
        token,
        method: 'POST',
        headers: { 'content-length': String(10 * MiB) },
        body: Readable.from(body()),
        signal: caller.signal,
      }).catch(() => undefined)
      // wait until the upstream has seen the start of the body, then hang up
      while (upstream.received.length === before || upstream.received.at(-1)!.bodyBytes === 0) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      caller.abort()
      await settled
      await pending
      const got = upstream.received.at(-1)!
      // the broker's upstream connection went away with the body unfinished
      expect(got.responseCut).to.equal(true)
      expect(got.bodyBytes).to.be.below(10 * MiB)
      const row = await lastRowOnce(
        'the cancelled proxy row',
        (r) => r.kind === 'proxy' && r.detail?.phase === 'completed',
      )
      expect(row).to.include({ kind: 'proxy', decision: 'deny', route: 'echo' })
      expect(row.detail).to.include({ code: 'ERR_CANCELLED' })
    })
  })

  describe('whole agent flow', () => {
    it('mTLS workload → IssueToken(proxy:echo) → proxied call; the audit links both by subject', async () => {
      const issued = await issue('proxy:echo', { scopes: ['GET /v1/charges*'] })
      expect(issued.audience).to.equal('proxy:echo')
      // asked in the spaced alias, granted in the wire form
      expect(issued.scopes).to.deep.equal(['GET:/v1/charges*'])
      const res = await call('/proxy/echo/v1/charges', { token: issued.token })
      expect(res.status).to.equal(200)
      expect(upstream.received.at(-1)!.headers['x-api-key']).to.equal(`Key ${KEY}`)
      const rows = await t.broker.log.findByTokenId(issued.token_id)
      expect(rows.map((r) => [r.kind, r.decision, r.subject, r.detail?.phase])).to.deep.equal([
        ['issue', 'allow', AGENT, undefined],
        ['proxy', 'allow', AGENT, 'authorized'],
        ['proxy', 'allow', AGENT, 'completed'],
      ])
      // the outcome row points at the write-ahead row and carries the upstream status
      expect(rows[2]!.detail).to.include({ authorized_by: rows[1]!.id, status: 200 })
      expect(rows[0]!.id).to.equal(issued.exchange_id)
      expect(rows[2]!.id).to.equal(res.headers['keybroker-exchange-id']) // the response names its outcome row
    })
  })
})
