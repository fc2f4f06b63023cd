import { writeFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import type { Verifier } from 'keybroker/verifier'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import type { RevocationEvent__Output } from '../src/generated/keybroker/v1/RevocationEvent.js'
import type { RevokeTokensRequest } from '../src/generated/keybroker/v1/RevokeTokensRequest.js'
import type { RevokeTokensResponse__Output } from '../src/generated/keybroker/v1/RevokeTokensResponse.js'
import { listExchanges } from './fixtures/admin.js'
import { ADMIN, BILLING, baseConfigYaml, runCli, TestBroker, unary } from './fixtures/broker.js'
import { eventually } from './fixtures/net.js'
import type { CertFiles } from './fixtures/pki.js'
import { sqliteOnly } from './fixtures/postgres.js'
import {
  PAYMENTS_API,
  paymentsVerifier,
  RESOURCE_SERVER_GRANTS,
  refusedWithin5s,
} from './fixtures/resource_server.js'
import { TcpFaultProxy } from './fixtures/tcp_proxy.js'

/** A WatchRevocations stream that collects events; markers are the events naming nothing. */
class FeedReader {
  readonly events: RevocationEvent__Output[] = []
  error: grpc.ServiceError | undefined
  readonly stream: grpc.ClientReadableStream<RevocationEvent__Output>

  constructor(t: TestBroker, cert: CertFiles, cursor = '') {
    this.stream = t.brokerClient(cert).WatchRevocations({ cursor })
    this.stream.on('data', (e: RevocationEvent__Output) => this.events.push(e))
    this.stream.on('error', (err: grpc.ServiceError) => {
      this.error = err
    })
  }

  get revoked(): string[] {
    return this.events.filter((e) => e.token_id).map((e) => e.token_id)
  }

  get markers(): number {
    return this.events.filter((e) => !e.token_id && !e.subject && !e.kid).length
  }

  get cursor(): string {
    return this.events.at(-1)?.cursor ?? ''
  }

  until(check: () => boolean, what: string): Promise<void> {
    return eventually(() => check() || this.error !== undefined, 5_000, what).then(() => {
      if (!check()) throw new Error(`${what}: stream failed: ${this.error?.details}`)
    })
  }
}

describe('revocation feed: Broker.WatchRevocations and the verifier that follows it', function () {
  this.timeout(60_000)
  let t: TestBroker
  let billing: CertFiles
  let adminCert: CertFiles
  let watcher: CertFiles
  const verifiers: Verifier[] = []
  const readers: FeedReader[] = []

  const issue = () =>
    unary<IssueTokenRequest, IssueTokenResponse__Output>(
      t.brokerClient(billing),
      'IssueToken',
    )({ audience: 'payments-api', scopes: ['payments:read'] })
  const revoke = (request: RevokeTokensRequest) =>
    unary<RevokeTokensRequest, RevokeTokensResponse__Output>(
      t.adminClient(adminCert),
      'RevokeTokens',
    )(request)
  const read = (cert: CertFiles, cursor = '') => {
    const reader = new FeedReader(t, cert, cursor)
    readers.push(reader)
    return reader
  }
  const follow = (overrides: Parameters<typeof paymentsVerifier>[2] = {}) => {
    const v = paymentsVerifier(t, watcher, overrides)
    verifiers.push(v)
    return v
  }
  const codeOf = (err: unknown) => (err as { code?: string }).code

  before(async () => {
    t = await TestBroker.start({ grantsYaml: RESOURCE_SERVER_GRANTS })
    billing = await t.pki.spiffe('billing', BILLING)
    adminCert = await t.pki.spiffe('admin', ADMIN)
    watcher = await t.pki.spiffe('payments-api', PAYMENTS_API)
  })
  after(async () => {
    for (const v of verifiers) v.close()
    for (const r of readers) r.stream.cancel()
    await t?.close()
  })

  it('refuses an identity without `revocations: { watch: true }` with PERMISSION_DENIED, audited', async () => {
    const reader = read(billing)
    await eventually(() => reader.error !== undefined, 5_000, 'refusal')
    expect(reader.error!.code).to.equal(grpc.status.PERMISSION_DENIED)
    expect(reader.error!.details).to.equal(
      `${BILLING} may not watch revocations: no grant with "revocations: { watch: true }" matches it`,
    )
    expect(reader.error!.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_NO_GRANT'])
    const exchangeId = String(reader.error!.metadata.get('keybroker-exchange-id')[0])
    const { exchanges } = await listExchanges(t.adminClient(adminCert))({
      kind: 'revocation_watch',
      limit: 5,
    })
    const row = exchanges.find((e) => e.id === exchangeId)
    expect(row).to.include({ decision: 'deny', subject: BILLING })
    expect(reader.events).to.deep.equal([])
  })

  it('replays live revocations, marks the end of the replay, pushes new ones, and resumes after a cursor', async () => {
    const [a, b, c] = [await issue(), await issue(), await issue()]
    await revoke({ token_id: a.token_id })
    const first = read(watcher)
    await first.until(() => first.markers === 1, 'replay marker')
    expect(first.revoked).to.include(a.token_id)
    expect(first.events.at(-1)!.token_id).to.equal('') // the marker comes after the replay
    await revoke({ token_id: b.token_id })
    await first.until(() => first.revoked.includes(b.token_id), 'live event')
    const event = first.events.find((e) => e.token_id === b.token_id)!
    expect(Number(event.not_after)).to.equal(Number(b.expires_at))
    const cursor = first.cursor
    first.stream.cancel()

    await revoke({ token_id: c.token_id })
    const resumed = read(watcher, cursor)
    await resumed.until(() => resumed.markers === 1, 'resumed replay marker')
    expect(resumed.revoked).to.deep.equal([c.token_id])

    const unknownCursor = read(watcher, 'from-another-broker.42')
    await unknownCursor.until(() => unknownCursor.markers === 1, 'full replay marker')
    expect(unknownCursor.revoked).to.include.members([a.token_id, b.token_id, c.token_id])

    const { exchanges } = await listExchanges(t.adminClient(adminCert))({
      kind: 'revocation_watch',
      limit: 10,
    })
    expect(
      exchanges.filter((e) => e.decision === 'allow' && e.subject === PAYMENTS_API).length,
    ).to.be.at.least(3)
  })

  it('rejects every token until the first replay has completed (even with onStale: accept)', async () => {
    // A loopback listener that accepts and never answers: the TLS handshake never completes.
    const held: Socket[] = []
    const blackHole: Server = createServer((s) => held.push(s))
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = blackHole.address() as { port: number }
      const v = follow({ address: `127.0.0.1:${port}`, onStale: 'accept' })
      const { token } = await issue()
      const err = await v.verify(token).then(
        () => undefined,
        (e: Error) => e,
      )
      expect(codeOf(err)).to.equal('ERR_REVOCATIONS_UNAVAILABLE')
      expect(err?.message).to.match(/has not completed its first replay; every token is refused until it has/)
      v.close()
    } finally {
      for (const s of held) s.destroy()
      blackHole.close()
    }
  })

  it('fails closed once the feed is cut longer than maxStalenessMs, and recovers (with what it missed) when it returns', async () => {
    const proxy = await TcpFaultProxy.start(t.broker.grpcPort)
    try {
      const v = follow({ address: proxy.address, maxStalenessMs: 500 })
      await v.ready()
      const kept = await issue()
      const missed = await issue()
      await v.verify(kept.token)

      proxy.cut()
      const err = await refusedWithin5s(() => v.verify(kept.token))
      expect(codeOf(err)).to.equal('ERR_REVOCATIONS_UNAVAILABLE')
      expect((err as Error).message).to.match(
        /has been down for \d+ s, longer than maxStalenessMs \(500 ms\)/,
      )
      await revoke({ token_id: missed.token_id }) // while this verifier cannot hear it

      proxy.restore()
      const until = Date.now() + 5_000
      for (;;) {
        const ok = await v.verify(kept.token).then(
          () => true,
          () => false,
        )
        if (ok) break
        if (Date.now() > until)
          throw new Error('the verifier did not recover within 5 s of the feed returning')
        await new Promise((r) => setTimeout(r, 50))
      }
      const refused = await v.verify(missed.token).then(
        () => undefined,
        (e: Error) => e,
      )
      expect(codeOf(refused)).to.equal('ERR_TOKEN_REVOKED')
    } finally {
      await proxy.close()
    }
  })

  it('with onStale: accept, keeps accepting (on what it knew) while the feed is down', async () => {
    const proxy = await TcpFaultProxy.start(t.broker.grpcPort)
    try {
      const v = follow({ address: proxy.address, maxStalenessMs: 200, onStale: 'accept' })
      await v.ready()
      const { token } = await issue()
      proxy.cut()
      await new Promise((r) => setTimeout(r, 600))
      expect((await v.verify(token)).subject).to.equal(BILLING)
    } finally {
      await proxy.close()
    }
  })

  it('carries a revocation written straight into the file by `keybroker revoke --db` once the broker reads it', async function () {
    sqliteOnly(this)
    const v = follow()
    await v.ready()
    const { token, token_id } = await issue()
    await v.verify(token)
    const cli = await runCli(['revoke', '--db', join(t.dir, 'keybroker.db'), '--token-id', token_id])
    expect(cli.code, cli.stderr).to.equal(0)
    t.broker.revocations.refresh() // the broker's 10 s timer, now
    const err = await refusedWithin5s(() => v.verify(token))
    expect(codeOf(err)).to.equal('ERR_TOKEN_REVOKED')
  })

  it('closes the feed of a watcher whose grant a config reload removed', async () => {
    const reader = read(watcher)
    await reader.until(() => reader.markers === 1, 'replay marker')
    writeFileSync(t.configFile, baseConfigYaml(t.dir, t.pki))
    try {
      expect((await t.broker.reload()).ok).to.equal(true)
      await eventually(() => reader.error !== undefined, 5_000, 'feed closed')
      expect(reader.error!.code).to.equal(grpc.status.PERMISSION_DENIED)
      expect(reader.error!.details).to.match(/no longer matches a grant/)
    } finally {
      writeFileSync(t.configFile, baseConfigYaml(t.dir, t.pki, { grantsYaml: RESOURCE_SERVER_GRANTS }))
      await t.broker.reload()
    }
  })
})
