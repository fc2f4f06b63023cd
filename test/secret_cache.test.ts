import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { ManualClock } from '../src/clock.js'
import { BrokerError, type BrokerErrorCode } from '../src/errors.js'
import { type CachePolicy, SecretCache, VaultProvider } from '../src/providers/index.js'
import { type FakeVault, startFakeVault } from './fixtures/vault_server.js'

const VALUE = 'sk_live_cached_value_never_in_messages'

async function rejectsWith(p: Promise<unknown>, code: BrokerErrorCode, says: string[]): Promise<BrokerError> {
  const err = await p.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  )
  expect(err).to.be.instanceOf(BrokerError)
  const be = err as BrokerError
  expect(be.code, be.message).to.equal(code)
  for (const s of says) expect(be.message).to.include(s)
  expect(be.message).not.to.include(VALUE)
  return be
}

describe('secret cache (over the real Vault provider and the fake Vault)', () => {
  let fake: FakeVault
  let dir: string
  let clock: ManualClock
  let vault: VaultProvider
  let results: string[]
  let cache: SecretCache
  const stripe = { name: 'stripe-key', path: 'secret/data/payments/stripe', field: 'api_key' }
  const policy: CachePolicy = { ttlMs: 60_000, staleTtlMs: 300_000 }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kb-cache-'))
    writeFileSync(join(dir, 'role_id'), 'r')
    writeFileSync(join(dir, 'secret_id'), 's')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  beforeEach(async () => {
    clock = new ManualClock(1_700_000_000_000)
    fake = await startFakeVault({ approle: { roleId: 'r', secretId: 's' }, tokenTtl: 86_400 })
    fake.putKv(stripe.path, { api_key: VALUE, webhook: 'whsec_1' })
    vault = new VaultProvider({
      name: 'vault',
      address: fake.url,
      timeoutMs: 2000,
      clock,
      auth: { method: 'approle', roleIdFile: join(dir, 'role_id'), secretIdFile: join(dir, 'secret_id') },
    })
    results = []
    cache = new SecretCache({ clock, onResult: (provider, result) => results.push(`${provider}:${result}`) })
  })
  afterEach(async () => {
    await vault.close()
    await fake.close()
  })

  it('serves 100 concurrent cold gets from exactly one upstream read', async () => {
    const all = await Promise.all(Array.from({ length: 100 }, () => cache.get(stripe, vault, policy)))
    expect(all.every((r) => r.value.toString() === VALUE && r.cache === 'miss')).to.equal(true)
    expect(fake.count(stripe.path)).to.equal(1)
    expect((await cache.get(stripe, vault, policy)).cache).to.equal('hit')
    expect(fake.count(stripe.path)).to.equal(1)
  })

  it('hits within ttl and refetches after it', async () => {
    expect((await cache.get(stripe, vault, policy)).cache).to.equal('miss')
    clock.advance(59_000)
    expect((await cache.get(stripe, vault, policy)).cache).to.equal('hit')
    clock.advance(2_000)
    expect((await cache.get(stripe, vault, policy)).cache).to.equal('miss')
    expect(fake.count(stripe.path)).to.equal(2)
    expect(results).to.deep.equal(['vault:miss', 'vault:hit', 'vault:miss'])
  })

  it('serves a stale value while upstream is down, then the upstream error after stale_ttl', async () => {
    await cache.get(stripe, vault, policy)
    fake.sealed = true
    clock.advance(61_000)
    const stale = await cache.get(stripe, vault, policy)
    expect(stale.cache).to.equal('stale')
    expect(stale.value.toString()).to.equal(VALUE)
    expect(stale.version).to.equal('1')

    clock.advance(300_000) // 361 s since the fetch: past ttl + stale_ttl
    await rejectsWith(cache.get(stripe, vault, policy), 'ERR_UPSTREAM_UNAVAILABLE', ['sealed', 'stripe-key'])
    expect(results).to.deep.equal(['vault:miss', 'vault:stale', 'vault:error'])
  })

  it('does not paper over a refusal or a deleted secret with a stale value', async () => {
    await cache.get(stripe, vault, policy)
    clock.advance(61_000)
    fake.forced.set(stripe.path, { status: 404, errors: [] })
    await rejectsWith(cache.get(stripe, vault, policy), 'ERR_UPSTREAM_NOT_FOUND', ['not found'])
    fake.forced.clear()
    fake.sealed = true // even now, the dropped value must not come back
    await rejectsWith(cache.get(stripe, vault, policy), 'ERR_UPSTREAM_UNAVAILABLE', ['sealed'])
  })

  it('returns the new version after a refetch, and retires other names reading the same secret', async () => {
    const webhook = { name: 'stripe-webhook', path: stripe.path, field: 'webhook' }
    expect((await cache.get(stripe, vault, policy)).version).to.equal('1')
    clock.advance(30_000)
    expect((await cache.get(webhook, vault, policy)).version).to.equal('1') // fresh until t=90 s

    fake.putKv(stripe.path, { api_key: 'rotated', webhook: 'whsec_2' })
    clock.advance(31_000) // t=61 s: stripe-key expired, stripe-webhook not
    const rotated = await cache.get(stripe, vault, policy)
    expect(rotated.version).to.equal('2')

    const hook = await cache.get(webhook, vault, policy)
    expect(hook.cache).to.equal('miss')
    expect(hook.value.toString()).to.equal('whsec_2')
    expect(hook.version).to.equal('2')
  })

  it('never keeps a leased value past its lease', async () => {
    fake.leased.set('database/creds/app', { data: { password: 'pw' }, leaseDuration: 10 })
    const db = { name: 'db', path: 'database/creds/app', field: 'password' }
    const first = await cache.get(db, vault, policy)
    expect(first.expiresAt).to.equal(Math.floor(clock.now() / 1000) + 10)
    clock.advance(9_000)
    expect((await cache.get(db, vault, policy)).cache).to.equal('hit')
    clock.advance(2_000)
    fake.sealed = true // and not as a stale value either
    await rejectsWith(cache.get(db, vault, policy), 'ERR_UPSTREAM_UNAVAILABLE', ['sealed'])
  })

  it('refuses a value above maxBytes, naming sizes but not the value', async () => {
    fake.putKv('secret/data/big', { blob: 'x'.repeat(2048) })
    const err = await rejectsWith(
      cache.get({ name: 'big', path: 'secret/data/big', field: 'blob' }, vault, {
        ...policy,
        maxBytes: 1024,
      }),
      'ERR_FAILED_PRECONDITION',
      [],
    )
    expect(err.message).to.equal('secret big is 2048 bytes, above the configured max 1024')
    expect(cache.size).to.equal(0)
  })

  it('serves a value over 64 KiB when it is under the max', async () => {
    const big = Buffer.alloc(70_000, 'k').toString()
    fake.putKv('secret/data/big', { blob: big })
    const ref = { name: 'big', path: 'secret/data/big', field: 'blob' }
    const got = await cache.get(ref, vault, policy)
    expect(got.value.length).to.equal(70_000)
    expect(got.value.toString()).to.equal(big)
    expect((await cache.get(ref, vault, policy)).value.length).to.equal(70_000)
  })

  it('hands out copies, so a caller zeroing its buffer does not zero the cache', async () => {
    const first = await cache.get(stripe, vault, policy)
    first.value.fill(0)
    expect((await cache.get(stripe, vault, policy)).value.toString()).to.equal(VALUE)
  })

  it('treats a changed ref under the same name as a different secret', async () => {
    await cache.get(stripe, vault, policy)
    const moved = await cache.get({ ...stripe, field: 'webhook' }, vault, policy)
    expect(moved.cache).to.equal('miss')
    expect(moved.value.toString()).to.equal('whsec_1')
  })

  it('lets one caller give up without cancelling the shared fetch', async () => {
    const controller = new AbortController()
    const quitter = cache.get(stripe, vault, policy, controller.signal)
    const stayer = cache.get(stripe, vault, policy)
    controller.abort()
    await rejectsWith(quitter, 'ERR_UPSTREAM_TIMEOUT', ['cancelled', 'stripe-key'])
    expect((await stayer).value.toString()).to.equal(VALUE)
    expect(fake.count(stripe.path)).to.equal(1)
  })
})
