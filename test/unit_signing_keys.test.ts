import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { ManualClock } from '../src/clock.js'
import { SealedKeyStore } from '../src/issuer/key_store.js'
import { mintAccessToken } from '../src/issuer/mint.js'
import { SigningKeys } from '../src/issuer/signing_keys.js'
import type { Storage } from '../src/storage/ports.js'
import { openSqliteStorage } from '../src/storage/sqlite/index.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const ROTATION = 24 * HOUR
const PUBLISH_AHEAD = HOUR
const MAX_TOKEN_LIFETIME = 15 * MINUTE
const LEEWAY = MINUTE // verifier leeway the ring adds on top of the longest token lifetime

describe('unit: signing key rotation (ManualClock)', () => {
  let db: Storage
  let dir: string
  let kek: Buffer
  let clock: ManualClock
  let ring: SigningKeys

  const newRing = () =>
    new SigningKeys(new SealedKeyStore(db.keys, kek), {
      algorithm: 'ES256',
      rotationPeriodMs: ROTATION,
      publishAheadMs: PUBLISH_AHEAD,
      maxTokenLifetimeMs: () => MAX_TOKEN_LIFETIME,
      clock,
    })
  const published = () => ring.jwks().keys.map((k) => k.kid)

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kb-keys-'))
    db = await openSqliteStorage({ driver: 'sqlite', path: join(dir, 'kb.db'), busyTimeoutMs: 2000 })
    await db.migrate('0.2.0')
    kek = randomBytes(32)
    clock = new ManualClock(Date.UTC(2026, 0, 1))
    ring = newRing()
    await ring.init()
  })
  afterEach(async () => {
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('creates one key on a fresh store that signs at once', () => {
    expect(ring.isReady).to.equal(true)
    expect(ring.list()).to.have.length(1)
    expect(ring.signingKey().activatesAt).to.equal(clock.now())
    expect(published()).to.deep.equal([ring.signingKey().kid])
  })

  it('does nothing before rotation_period - publish_ahead', async () => {
    clock.advance(ROTATION - PUBLISH_AHEAD - 1)
    await ring.maintain()
    expect(ring.list()).to.have.length(1)
  })

  it('publishes the next key ahead: in JWKS first, signing only from its activation', async () => {
    const first = ring.signingKey()
    clock.advance(ROTATION - PUBLISH_AHEAD)
    await ring.maintain()
    expect(ring.list()).to.have.length(2)
    const next = ring.list()[1]!
    expect(next.activatesAt).to.equal(first.activatesAt + ROTATION)
    expect(published()).to.deep.equal([first.kid, next.kid])
    expect(ring.signingKey().kid, 'published but not signing yet').to.equal(first.kid)
    expect(ring.jwksText()).to.include(next.kid)

    clock.set(next.activatesAt - 1)
    expect(ring.signingKey().kid).to.equal(first.kid)
    clock.set(next.activatesAt)
    expect(ring.signingKey().kid).to.equal(next.kid)
    await ring.maintain()
    expect(ring.list(), 'no second pending key while one is pending or just activated').to.have.length(2)
  })

  it('keeps the retired key until max token lifetime + leeway after it stopped signing, then drops it', async () => {
    const first = ring.signingKey()
    clock.advance(ROTATION - PUBLISH_AHEAD)
    await ring.maintain()
    const next = ring.list()[1]!
    clock.set(next.activatesAt)
    // the last token the first key could sign
    const lastOld = mintAccessToken(first, {
      issuer: 'https://keybroker.test',
      subject: 'spiffe://example.org/a',
      audience: 'x',
      scopes: [],
      issuedAt: Math.floor((next.activatesAt - 1) / 1000),
      ttlSeconds: MAX_TOKEN_LIFETIME / 1000,
    })
    expect(lastOld.kid).to.equal(first.kid)

    clock.set(next.activatesAt + MAX_TOKEN_LIFETIME + LEEWAY)
    await ring.maintain()
    expect(published(), 'still published at exactly lifetime + leeway').to.include(first.kid)

    clock.advance(1)
    await ring.maintain()
    expect(published()).to.deep.equal([next.kid])
    expect(ring.list()).to.have.length(1)
    // it is gone from the store too, not only from memory
    const reopened = newRing()
    await reopened.reload()
    expect(reopened.list().map((k) => k.kid)).to.deep.equal([next.kid])
  })

  it('never drops a key that still signs, even when it is far past its rotation period', async () => {
    const first = ring.signingKey()
    clock.advance(10 * ROTATION) // broker was down for ten days
    await ring.maintain()
    const pending = ring.list()[1]!
    // the replacement is still published ahead, not switched to at once
    expect(pending.activatesAt).to.equal(clock.now() + PUBLISH_AHEAD)
    expect(ring.signingKey().kid).to.equal(first.kid)
    expect(published()).to.deep.equal([first.kid, pending.kid])
  })

  it('rotate() publishes ahead by default; rotate({ immediate }) signs at once', async () => {
    const first = ring.signingKey()
    const ahead = await ring.rotate()
    expect(ahead.activatesAt).to.equal(clock.now() + PUBLISH_AHEAD)
    expect(ring.signingKey().kid).to.equal(first.kid)
    expect(published()).to.include(ahead.kid)

    const now = await ring.rotate({ immediate: true })
    expect(ring.signingKey().kid, 'immediate key signs, though an earlier one was pending').to.equal(now.kid)
    // --now supersedes the pending key: it never signed, so it is dropped rather than left to take
    // over later from the key the operator just forced in
    expect(published()).to.not.include(ahead.kid)
    clock.advance(PUBLISH_AHEAD)
    expect(ring.signingKey().kid, 'the forced key keeps signing after the old activation time').to.equal(
      now.kid,
    )
  })

  it('reloads the same keys from the store after a restart', async () => {
    clock.advance(ROTATION - PUBLISH_AHEAD)
    await ring.maintain()
    const restarted = newRing()
    await restarted.init()
    expect(restarted.list().map((k) => k.kid)).to.deep.equal(ring.list().map((k) => k.kid))
    expect(restarted.signingKey().kid).to.equal(ring.signingKey().kid)
    expect(restarted.jwksText()).to.equal(ring.jwksText())
  })

  it('publishes only public key material', () => {
    for (const jwk of ring.jwks().keys) {
      expect(jwk).to.have.all.keys('kty', 'crv', 'x', 'y', 'kid', 'alg', 'use')
    }
  })
})
