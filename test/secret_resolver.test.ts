import { expect } from 'chai'
import { BrokerError } from '../src/errors.js'
import { type Provider, type SecretRef, SecretResolver } from '../src/providers/index.js'

/** A provider that counts calls and answers from a map, so the resolver is tested without any server. */
function memoryProvider(name: string, values: Record<string, string>): Provider & { calls: SecretRef[] } {
  const calls: SecretRef[] = []
  return {
    name,
    type: 'vault',
    calls,
    async get(ref) {
      calls.push(ref)
      const value = values[ref.path ?? '']
      if (value === undefined)
        throw new BrokerError('ERR_FAILED_PRECONDITION', `secret ${ref.name} not found`)
      return { value: Buffer.from(value), version: '3' }
    },
  }
}

describe('SecretResolver', () => {
  it('resolves a name through its provider and reports provider, type and cache outcome', async () => {
    const vault = memoryProvider('vault', { 'secret/data/a': 'value-a' })
    const resolver = new SecretResolver({
      providers: { vault },
      secrets: { a: { provider: 'vault', ref: { path: 'secret/data/a' } } },
    })
    const first = await resolver.get('a')
    expect(first).to.deep.include({ version: '3', cache: 'miss', provider: 'vault', providerType: 'vault' })
    expect(first.value.toString()).to.equal('value-a')
    expect((await resolver.get('a')).cache).to.equal('hit')
    expect(vault.calls).to.deep.equal([{ name: 'a', path: 'secret/data/a' }])
    expect(resolver.describe('a')).to.deep.equal({ provider: 'vault', providerType: 'vault' })
    expect(resolver.describe('b')).to.equal(undefined)
  })

  it('applies a per-secret cache policy over the defaults', async () => {
    const vault = memoryProvider('vault', { 'secret/data/a': 'value-a' })
    const resolver = new SecretResolver({
      providers: { vault },
      cache: { ttlMs: 60_000 },
      secrets: {
        a: { provider: 'vault', ref: { path: 'secret/data/a' }, cache: { ttlMs: 0 } },
        capped: { provider: 'vault', ref: { path: 'secret/data/a' }, cache: { maxBytes: 3 } },
      },
    })
    await resolver.get('a')
    await resolver.get('a')
    expect(vault.calls).to.have.length(2)
    try {
      await resolver.get('capped')
      expect.fail('expected a rejection')
    } catch (err) {
      expect(err).to.be.instanceOf(BrokerError).with.property('code', 'ERR_FAILED_PRECONDITION')
      expect((err as Error).message).to.equal('secret capped is 7 bytes, above the configured max 3')
    }
  })

  it('rejects an unconfigured name with ERR_NOT_FOUND', async () => {
    const resolver = new SecretResolver({ providers: {}, secrets: {} })
    try {
      await resolver.get('nope')
      expect.fail('expected a rejection')
    } catch (err) {
      expect(err).to.be.instanceOf(BrokerError).with.property('code', 'ERR_NOT_FOUND')
      expect((err as Error).message).to.equal('secret nope is not configured')
    }
  })

  it('refuses to build when a secret names an undefined provider', () => {
    expect(
      () =>
        new SecretResolver({ providers: {}, secrets: { x: { provider: 'nowhere', ref: { path: 'p' } } } }),
    ).to.throw(BrokerError, "secret x names provider 'nowhere', which is not defined")
  })
})
