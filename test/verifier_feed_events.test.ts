import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import type { JWTPayload } from 'jose'
import { createVerifier, type Verifier } from 'keybroker/verifier'
import type { RevocationEvent } from '../src/generated/keybroker/v1/RevocationEvent.js'
import type { WatchRevocationsRequest__Output } from '../src/generated/keybroker/v1/WatchRevocationsRequest.js'
import { loadBrokerProto } from '../src/proto/load.js'
import { RevocationSet } from '../src/verifier/revocation_set.js'
import { eventually } from './fixtures/net.js'
import { OidcIssuerFixture } from './fixtures/oidc_issuer.js'
import { type CertFiles, TestPki } from './fixtures/pki.js'

/**
 * A feed server that sends exactly the events a test scripts (a retired key, a subject revocation,
 * descendants), as a future broker or a replica will: the verifier's side of the contract.
 */
class ScriptedFeed {
  readonly cursors: string[] = []
  replay: RevocationEvent[] = []
  readonly #open = new Set<grpc.ServerWritableStream<WatchRevocationsRequest__Output, RevocationEvent>>()

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
  ) {}

  static async start(pki: TestPki): Promise<ScriptedFeed> {
    const server = new grpc.Server()
    let feed: ScriptedFeed | undefined
    server.addService(loadBrokerProto().keybroker.v1.Broker.service, {
      WatchRevocations: (
        call: grpc.ServerWritableStream<WatchRevocationsRequest__Output, RevocationEvent>,
      ) => {
        feed!.cursors.push(call.request.cursor)
        feed!.#open.add(call)
        call.on('cancelled', () => feed!.#open.delete(call))
        for (const e of feed!.replay) call.write(e)
        call.write({ cursor: `c${feed!.replay.length}` })
      },
    })
    const credentials = grpc.ServerCredentials.createSsl(
      Buffer.from(pki.ca.certPem),
      [{ private_key: Buffer.from(pki.server.keyPem), cert_chain: Buffer.from(pki.server.certPem) }],
      true,
    )
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
    )
    feed = new ScriptedFeed(server, port)
    return feed
  }

  push(event: RevocationEvent): void {
    for (const call of this.#open) call.write(event)
  }

  /** Drop every open stream (the verifier reconnects with its cursor). */
  drop(): void {
    for (const call of this.#open)
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'restarting' })
    this.#open.clear()
  }

  get streams(): number {
    return this.#open.size
  }

  close(): void {
    this.server.forceShutdown()
  }
}

describe('verifier: revocation events beyond single tokens (retired keys, subjects, descendants)', function () {
  this.timeout(30_000)
  let dir: string
  let pki: TestPki
  let identity: CertFiles
  let issuer: OidcIssuerFixture
  let feed: ScriptedFeed
  let verifier: Verifier

  const notAfter = () => Math.floor(Date.now() / 1000) + 600
  const token = (claims: JWTPayload = {}) => {
    const iat = Math.floor(Date.now() / 1000)
    return issuer.mint(
      {
        iss: issuer.issuer,
        sub: 'spiffe://example.org/ns/prod/sa/billing',
        aud: 'payments-api',
        iat,
        exp: iat + 300,
        jti: `jti-${Math.random().toString(36).slice(2)}`,
        kb_idp: 'spiffe://example.org',
        ...claims,
      },
      { header: { typ: 'at+jwt' } },
    )
  }
  const refusal = (t: string) =>
    verifier.verify(t).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    )

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-feed-'))
    pki = await TestPki.create(dir)
    identity = await pki.spiffe('payments-api', 'spiffe://example.org/ns/prod/sa/payments-api')
    issuer = await OidcIssuerFixture.start({ alg: 'ES256' })
    feed = await ScriptedFeed.start(pki)
    feed.replay = [{ token_id: 'replayed-jti', not_after: notAfter(), cursor: 'c1' }]
    verifier = createVerifier({
      issuer: issuer.issuer,
      audience: 'payments-api',
      ca: issuer.caPem,
      revocations: {
        address: `127.0.0.1:${feed.port}`,
        tls: { caFile: pki.caFile, certFile: identity.cert, keyFile: identity.key, serverName: 'localhost' },
      },
    })
    await verifier.ready()
  })
  after(async () => {
    verifier?.close()
    feed?.close()
    await issuer?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('applies the replay before accepting anything', async () => {
    expect((await refusal(await token({ jti: 'replayed-jti' })))?.message).to.equal(
      'token replayed-jti has been revoked',
    )
    expect(await refusal(await token())).to.equal(undefined)
  })

  it("refuses a subject's tokens (of that issuer, up to not_after) after a subject revocation", async () => {
    const victim = await token({ sub: 'spiffe://example.org/ns/prod/sa/leaky' })
    const otherDomain = await token({
      sub: 'spiffe://example.org/ns/prod/sa/leaky',
      kb_idp: 'spiffe://other.org',
    })
    feed.push({
      subject: 'spiffe://example.org/ns/prod/sa/leaky',
      issuer: 'spiffe://example.org',
      not_after: notAfter(),
      cursor: 'c3',
    })
    await eventually(() => verifier.revocationCount >= 2, 5_000, 'subject event')
    expect((await refusal(victim))?.message).to.equal(
      'every token of spiffe://example.org/ns/prod/sa/leaky issued before its revocation has been revoked',
    )
    expect(await refusal(otherDomain)).to.equal(undefined)
    // a token that outlives not_after was issued after the revocation
    const later = await token({ sub: 'spiffe://example.org/ns/prod/sa/leaky', exp: notAfter() + 3600 })
    expect(await refusal(later)).to.equal(undefined)
  })

  it('refuses the descendants an event names, and a child whose kb_ancestors holds a revoked id', async () => {
    feed.push({ token_id: 'parent-1', descendants: ['child-known'], not_after: notAfter(), cursor: 'c4' })
    await eventually(() => verifier.revocationCount >= 4, 5_000, 'descendants event')
    expect((await refusal(await token({ jti: 'child-known' })))?.code).to.equal('ERR_TOKEN_REVOKED')
    expect(
      (await refusal(await token({ jti: 'grandchild', kb_ancestors: ['root', 'parent-1'] })))?.message,
    ).to.equal('token grandchild was delegated from parent-1, which has been revoked')
  })

  it('resumes from the last cursor it saw after the feed drops it', async () => {
    feed.drop()
    await eventually(() => feed.cursors.length >= 2 && feed.streams === 1, 5_000, 'reconnect')
    expect(feed.cursors[0]).to.equal('')
    expect(feed.cursors.at(-1)).to.equal('c4')
  })

  it('forgets an entry once its not_after (plus the clock-skew grace) has passed', () => {
    let now = 1_000_000
    const set = new RevocationSet(() => now)
    set.add({ tokenId: 'short', notAfter: now + 10 })
    set.add({ tokenId: 'long', notAfter: now + 3600 })
    expect(set.size).to.equal(2)
    now += 10 + 61
    set.prune()
    expect(set.size).to.equal(1)
    const claims = { iss: 'x', sub: 's', aud: 'a', exp: now + 10, iat: now, jti: 'long' }
    expect(set.whyRevoked(claims)).to.equal('token long has been revoked')
  })

  it('drops a retired signing key at once: every token it signed is refused', async () => {
    const before = await token()
    expect(await refusal(before)).to.equal(undefined)
    feed.push({ kid: issuer.currentKey.kid, not_after: notAfter(), cursor: 'c5' })
    await eventually(() => verifier.revocationCount >= 5, 5_000, 'kid event')
    const err = await refusal(before)
    expect(err?.code).to.equal('ERR_TOKEN_REVOKED')
    expect(err?.message).to.match(
      new RegExp(`signed by key ${issuer.currentKey.kid}, which the broker has retired`),
    )
    // (ordered last: every later token of this fixture would carry the retired kid)
  })
})
