import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { BrokerClient, type BrokerClientOptions, BrokerError } from 'keybroker/client'
import type { WhoAmIResponse__Output } from '../src/generated/keybroker/v1/WhoAmIResponse.js'
import { loadBrokerProto } from '../src/proto/load.js'
import { BILLING, TestBroker, unary } from './fixtures/broker.js'
import { freePort } from './fixtures/net.js'
import type { CertFiles } from './fixtures/pki.js'

const SHORT_LIVED = `  - name: billing-short
    match: { spiffe_id: "${BILLING}" }
    tokens:
      - { audience: short-api, default_ttl: 4s, max_ttl: 4s }
`

describe('BrokerClient (SDK)', () => {
  let t: TestBroker
  let billing: CertFiles
  const clients: BrokerClient[] = []

  function client(options: Partial<BrokerClientOptions> = {}): BrokerClient {
    const c = new BrokerClient({
      address: t.address,
      tls: { caFile: t.pki.caFile, certFile: billing.cert, keyFile: billing.key, serverName: 'localhost' },
      ...options,
    })
    clients.push(c)
    return c
  }

  /** IssueToken audit rows for an audience: one per RPC that reached the broker. */
  async function issueRows(audience: string) {
    return (await t.broker.log.tail(10_000)).filter((r) => r.kind === 'issue' && r.audience === audience)
  }

  before(async () => {
    t = await TestBroker.start({ grantsYaml: SHORT_LIVED })
    billing = await t.pki.spiffe('billing', BILLING)
  })
  after(async () => {
    for (const c of clients) c.close()
    await t?.close()
  })

  it('200 concurrent token() calls on a cold cache make exactly 1 RPC', async () => {
    const sdk = client()
    const before = (await issueRows('payments-api')).length
    const tokens = await Promise.all(
      Array.from({ length: 200 }, () => sdk.token({ audience: 'payments-api', scopes: ['payments:read'] })),
    )
    expect((await issueRows('payments-api')).length - before).to.equal(1)
    expect(new Set(tokens.map((tok) => tok.tokenId)).size).to.equal(1)
    // Scope order does not matter for the cache key.
    const again = await sdk.token({ audience: 'payments-api', scopes: ['payments:read', 'payments:read'] })
    expect(again.tokenId).to.equal(tokens[0]!.tokenId)
    expect((await issueRows('payments-api')).length - before).to.equal(1)
  })

  it('refreshes a cached token in the background before it expires; callers do not wait', async () => {
    const sdk = client()
    const first = await sdk.token({ audience: 'short-api' })
    expect(first.expiresAt - Math.floor(Date.now() / 1000)).to.be.at.most(4)
    // Keep calling, as a service would: every call is answered from the cache, and at some point
    // the answer is the token the SDK's own timer fetched in the background.
    let next = first
    const until = Date.now() + 6_000
    while (next.tokenId === first.tokenId && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50))
      next = await sdk.token({ audience: 'short-api' })
    }
    const rows = await issueRows('short-api')
    // Exactly two RPCs: the cold fetch and the background refresh; no caller triggered one.
    expect(rows.map((r) => r.token_id)).to.deep.equal([first.tokenId, next.tokenId])
    // The refresh ran while the first token was still being served (before its expiry margin), so it
    // was not a caller finding an expired entry.
    expect(rows[1]!.ts).to.be.below(first.expiresAt * 1000 - 300)
  })

  it('surfaces a refusal at once as a typed BrokerError with the broker’s code and message', async () => {
    const sdk = client()
    let err: unknown
    try {
      await sdk.token({ audience: 'search-api' })
    } catch (e) {
      err = e
    }
    expect(err).to.be.instanceOf(BrokerError)
    const e = err as BrokerError
    expect(e.grpcCode).to.equal(grpc.status.PERMISSION_DENIED)
    expect(e.grpcStatus).to.equal('PERMISSION_DENIED')
    expect(e.code).to.equal('ERR_AUDIENCE_NOT_GRANTED')
    expect(e.message).to.equal(`audience "search-api" is not granted to ${BILLING}`)
    const row = (await t.broker.log.tail(20)).find((r) => r.id === e.exchangeId)
    expect(row).to.include({ kind: 'issue', decision: 'deny', audience: 'search-api' })
  })

  it('whoami() reports the identity and grants the broker sees', async () => {
    const me = await client().whoami()
    expect(me.subject).to.equal(BILLING)
    expect(me.authMethod).to.equal('mtls')
    expect(me.grants).to.deep.equal(['billing', 'billing-short'])
    expect(me.certThumbprint).to.have.length(43)
  })

  it('secret() calls FetchSecret and surfaces the broker’s answer as a BrokerError', async () => {
    // FetchSecret is wired on another branch; until it lands the broker answers UNIMPLEMENTED.
    let err: unknown
    try {
      await client().secret('stripe-key')
    } catch (e) {
      err = e
    }
    expect(err).to.be.instanceOf(BrokerError)
    expect((err as BrokerError).code).to.be.oneOf(['ERR_SECRET_NOT_GRANTED', 'ERR_UNIMPLEMENTED'])
  })

  it('fails after its deadline with UNAVAILABLE when the broker address is dead (no hang)', async () => {
    const dead = await freePort()
    const sdk = client({ address: `127.0.0.1:${dead}`, deadlineMs: 1_000 })
    let err: unknown
    try {
      await sdk.token({ audience: 'payments-api' })
    } catch (e) {
      err = e
    }
    expect(err).to.be.instanceOf(BrokerError)
    const e = err as BrokerError
    expect(e.grpcCode).to.equal(grpc.status.UNAVAILABLE)
    expect(e.code).to.equal('ERR_UNREACHABLE')
    expect(e.message).to.contain('gave up after retrying for up to 1000 ms')
  })

  it('callCredentials() attach a fresh broker token to calls to another gRPC service', async () => {
    const sdk = client()
    const jwks = createLocalJWKSet(t.broker.keys.jwks())
    // "payments": another service that authorizes its callers by their broker token.
    const proto = loadBrokerProto()
    const payments = new grpc.Server()
    payments.addService(proto.keybroker.v1.Broker.service, {
      WhoAmI: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const bearer = String(call.metadata.get('authorization')[0] ?? '').replace(/^Bearer /, '')
        jwtVerify(bearer, jwks, { audience: 'payments-api', issuer: 'https://keybroker.test' }).then(
          ({ payload }) => callback(null, { subject: payload.sub, grants: [String(payload.scope)] }),
          () => callback({ code: grpc.status.UNAUTHENTICATED, details: 'bad token' }),
        )
      },
    } as grpc.UntypedServiceImplementation)
    const port = await new Promise<number>((resolve, reject) =>
      payments.bindAsync(
        '127.0.0.1:0',
        grpc.ServerCredentials.createSsl(null, [
          { cert_chain: Buffer.from(t.pki.server.certPem), private_key: Buffer.from(t.pki.server.keyPem) },
        ]),
        (err, p) => (err ? reject(err) : resolve(p)),
      ),
    )
    try {
      const channel = grpc.credentials.combineChannelCredentials(
        grpc.credentials.createSsl(Buffer.from(t.pki.ca.certPem)),
        sdk.callCredentials({ audience: 'payments-api', scopes: ['payments:write'] }),
      )
      const raw = new proto.keybroker.v1.Broker(`127.0.0.1:${port}`, channel, {
        'grpc.ssl_target_name_override': 'localhost',
      })
      const res = await unary<object, WhoAmIResponse__Output>(raw, 'WhoAmI')({})
      raw.close()
      expect(res.subject).to.equal(BILLING)
      expect(res.grants).to.deep.equal(['payments:write'])
    } finally {
      payments.forceShutdown()
    }
  })

  it('fetch() adds Authorization: Bearer with a token for the audience', async () => {
    const sdk = client()
    let seen: string | undefined
    const server = createServer((req, res) => {
      seen = req.headers.authorization
      res.end(req.headers['x-kept'] ?? '')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/charges`
      const res = await sdk.fetch(
        url,
        { headers: { 'x-kept': 'yes', authorization: 'Basic old' } },
        {
          audience: 'payments-api',
          scopes: ['payments:read'],
        },
      )
      expect(await res.text()).to.equal('yes')
      const { token } = await sdk.token({ audience: 'payments-api', scopes: ['payments:read'] })
      expect(seen).to.equal(`Bearer ${token}`)
    } finally {
      server.close()
    }
  })

  it('refuses inconsistent options before any call (ERR_CLIENT_CONFIG)', () => {
    expect(() => client({ tls: { caFile: t.pki.caFile, certFile: billing.cert } }))
      .to.throw(BrokerError, 'tls.certFile and tls.keyFile go together')
      .with.property('code', 'ERR_CLIENT_CONFIG')
    expect(() => client({ tls: { caFile: '/nonexistent/ca.pem' } })).to.throw(
      BrokerError,
      'tls.caFile /nonexistent/ca.pem: cannot read (ENOENT)',
    )
  })
})
