import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay, setImmediate as yieldToLoop } from 'node:timers/promises'
import { status } from '@grpc/grpc-js'
import { expect } from 'chai'
import { ManualClock } from '../src/clock.js'
import { parseConfig } from '../src/config/index.js'
import { BrokerError } from '../src/errors.js'
import type { FetchSecretRequest } from '../src/generated/keybroker/v1/FetchSecretRequest.js'
import type { FetchSecretResponse__Output } from '../src/generated/keybroker/v1/FetchSecretResponse.js'
import {
  CircuitBreaker,
  CircuitOpenError,
  type CircuitPolicy,
  type CircuitState,
  SecretResolver,
  VaultProvider,
} from '../src/providers/index.js'
import { sample, scrapeMetrics } from './fixtures/admin.js'
import { BILLING, type Call, expectGrpcError, TestBroker, unary } from './fixtures/broker.js'
import { type FakeVault, startFakeVault } from './fixtures/vault_server.js'

const VALUE = 'sk_live_breaker_value_never_in_messages'
const START = 1_700_000_000_000

/** Time one promise's settling, in ms of real time. */
async function timed<T>(work: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now()
  try {
    const value = await work
    return { ms: performance.now() - started, value }
  } catch (error) {
    return { ms: performance.now() - started, error }
  }
}

function expectUnavailable(error: unknown, message: RegExp): BrokerError {
  expect(error).to.be.instanceOf(BrokerError)
  const err = error as BrokerError
  expect(err.code, err.message).to.equal('ERR_UPSTREAM_UNAVAILABLE')
  expect(err.message).to.match(message)
  expect(err.message).not.to.include(VALUE)
  return err
}

describe('circuit breaker', () => {
  describe('CircuitBreaker (state machine on the injected clock)', () => {
    const unavailable = () => Promise.reject(new BrokerError('ERR_UPSTREAM_UNAVAILABLE', 'upstream down'))
    const refused = () => Promise.reject(new BrokerError('ERR_UPSTREAM_REFUSED', 'no'))
    const ok = () => Promise.resolve('ok')

    function breaker(policy: CircuitPolicy, random = () => 0) {
      const clock = new ManualClock(START)
      const states: CircuitState[] = []
      const b = new CircuitBreaker({
        ...policy,
        name: "vault provider 'v'",
        clock,
        random,
        onStateChange: (s) => states.push(s),
      })
      let calls = 0
      const run = (work: () => Promise<string>) =>
        b.run(() => {
          calls++
          return work()
        }, 'fetching secret s')
      return { b, clock, states, run, calls: () => calls }
    }

    it('opens after N consecutive failures and refuses without calling upstream, saying when it will probe', async () => {
      const { b, clock, states, run, calls } = breaker({ failures: 3, openMs: 5_000 })
      for (let i = 0; i < 3; i++) await run(unavailable).catch(() => {})
      expect(b.state).to.equal('open')
      expect(calls()).to.equal(3)
      clock.advance(1_500)
      const err = await run(ok).then(
        () => expect.fail('expected a refusal'),
        (e: unknown) => e,
      )
      expect(err).to.be.instanceOf(CircuitOpenError)
      expectUnavailable(
        err,
        /^vault provider 'v' failed 3 times in a row \(last: unavailable\): circuit breaker open, so it was not asked \(fetching secret s\); next probe in 3\.5 s, at 2023-11-14T22:13:25\.000Z$/,
      )
      expect((err as CircuitOpenError).probeAt).to.equal(START + 5_000)
      expect(calls()).to.equal(3)
      expect(states).to.deep.equal(['closed', 'open'])
    })

    it('a success between failures resets the count; refusals and not-found are answers, not failures', async () => {
      const { b, run } = breaker({ failures: 3 })
      await run(unavailable).catch(() => {})
      await run(unavailable).catch(() => {})
      await run(ok)
      await run(unavailable).catch(() => {})
      await run(unavailable).catch(() => {})
      for (let i = 0; i < 10; i++) await run(refused).catch(() => {})
      await run(unavailable).catch(() => {})
      await run(unavailable).catch(() => {})
      expect(b.state).to.equal('closed')
      await run(unavailable).catch(() => {})
      expect(b.state).to.equal('open')
    })

    it('lets exactly one probe through once the open period ends; success closes the circuit', async () => {
      const { b, clock, states, run, calls } = breaker({ failures: 1, openMs: 5_000 })
      await run(unavailable).catch(() => {})
      clock.advance(5_000)
      let release!: (v: string) => void
      const probe = run(() => new Promise<string>((r) => (release = r)))
      expect(b.state).to.equal('half-open')
      // while the probe is out, everyone else is refused at once
      const other = await run(ok).catch((e: unknown) => e)
      expectUnavailable(
        other,
        /circuit breaker open, so it was not asked \(fetching secret s\); a probe is in flight$/,
      )
      expect(calls()).to.equal(2)
      release('fine')
      expect(await probe).to.equal('fine')
      expect(b.state).to.equal('closed')
      expect(await run(ok)).to.equal('ok')
      expect(states).to.deep.equal(['closed', 'open', 'half-open', 'closed'])
    })

    it('a failed probe reopens it for twice as long, capped, with at most 20% jitter taken off', async () => {
      const { b, clock, run, calls } = breaker({ failures: 1, openMs: 1_000, maxOpenMs: 5_000 })
      await run(unavailable).catch(() => {})
      const periods: number[] = []
      for (let i = 0; i < 5; i++) {
        const err = (await run(ok).catch((e: unknown) => e)) as CircuitOpenError
        periods.push(err.probeAt! - clock.now())
        clock.advance(err.probeAt! - clock.now() - 1)
        expect(b.isOpen()).to.equal(true)
        clock.advance(1)
        const before = calls()
        await run(unavailable).catch(() => {}) // the probe, failing
        expect(calls()).to.equal(before + 1)
      }
      expect(periods).to.deep.equal([1_000, 2_000, 4_000, 5_000, 5_000])

      const jittered = breaker({ failures: 1, openMs: 10_000 }, () => 0.999)
      await jittered.run(unavailable).catch(() => {})
      const err = (await jittered.run(ok).catch((e: unknown) => e)) as CircuitOpenError
      expect(err.probeAt! - START).to.be.within(8_000, 8_010)
    })

    it('a probe whose caller gave up does not count: the next call probes', async () => {
      const { b, clock, run } = breaker({ failures: 1, openMs: 1_000 })
      await run(unavailable).catch(() => {})
      clock.advance(1_000)
      const controller = new AbortController()
      controller.abort()
      const cancelled = () =>
        Promise.reject(new BrokerError('ERR_UPSTREAM_TIMEOUT', 'cancelled by the caller'))
      await b.run(cancelled, 'fetching secret s', controller.signal).catch(() => {})
      expect(b.state).to.equal('half-open')
      expect(await run(ok)).to.equal('ok')
      expect(b.state).to.equal('closed')
    })
  })

  describe('over the real Vault provider and the fake Vault', () => {
    let fake: FakeVault
    let dir: string
    let clock: ManualClock
    let states: string[]
    let upstream: string[]
    const resolvers: SecretResolver[] = []

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'kb-breaker-'))
      writeFileSync(join(dir, 'role_id'), 'r')
      writeFileSync(join(dir, 'secret_id'), 's')
    })
    after(() => rmSync(dir, { recursive: true, force: true }))

    beforeEach(async () => {
      clock = new ManualClock(START)
      states = []
      upstream = []
      fake = await startFakeVault({ approle: { roleId: 'r', secretId: 's' }, tokenTtl: 86_400 })
      fake.putKv('secret/data/stripe', { api_key: VALUE })
      fake.putKv('secret/data/other', { api_key: VALUE })
    })
    afterEach(async () => {
      await Promise.all(resolvers.splice(0).map((r) => r.close()))
      await fake.close()
    })

    function resolver(circuit: CircuitPolicy, timeoutMs = 2_000): SecretResolver {
      const vault = new VaultProvider({
        name: 'vault',
        address: fake.url,
        timeoutMs,
        clock,
        auth: { method: 'approle', roleIdFile: join(dir, 'role_id'), secretIdFile: join(dir, 'secret_id') },
      })
      const r = new SecretResolver({
        providers: { vault },
        secrets: {
          stripe: { provider: 'vault', ref: { path: 'secret/data/stripe', field: 'api_key' } },
          other: { provider: 'vault', ref: { path: 'secret/data/other', field: 'api_key' } },
        },
        cache: { ttlMs: 60_000, staleTtlMs: 300_000 },
        clock,
        circuits: { vault: circuit },
        random: () => 0,
        onCircuitState: (provider, state) => states.push(`${provider}:${state}`),
        onUpstream: (provider, result) => upstream.push(`${provider}:${result}`),
      })
      resolvers.push(r)
      return r
    }

    it('a hung Vault with a stale value cached: once the breaker is open, stale answers come back at once', async () => {
      const secrets = resolver({ failures: 2, openMs: 10_000 })
      expect((await secrets.get('stripe')).cache).to.equal('miss')
      clock.advance(61_000) // past ttl, within stale_ttl
      fake.hanging.add('*')

      // before the breaker opens, each stale answer waits out the 2 s provider timeout
      for (let i = 0; i < 2; i++) {
        const slow = await timed(secrets.get('stripe'))
        expect(slow.value?.cache).to.equal('stale')
        expect(slow.ms).to.be.greaterThan(1_500)
      }
      expect(states).to.deep.equal(['vault:closed', 'vault:open'])
      const asked = fake.requests.length

      // open: 20 concurrent and 20 sequential stale answers, all at once and none upstream
      const burst = await timed(Promise.all(Array.from({ length: 20 }, () => secrets.get('stripe'))))
      expect(burst.value!.every((r) => r.cache === 'stale' && r.value.toString() === VALUE)).to.equal(true)
      expect(burst.ms).to.be.lessThan(1_000)
      for (let i = 0; i < 20; i++) {
        const one = await timed(secrets.get('stripe'))
        expect(one.value?.cache).to.equal('stale')
        expect(one.ms).to.be.lessThan(1_000)
      }

      // a secret with nothing cached fails fast, saying the breaker is open and when it will probe
      clock.advance(2_500)
      const cold = await timed(secrets.get('other'))
      expect(cold.ms).to.be.lessThan(1_000)
      expectUnavailable(
        cold.error,
        /^vault provider 'vault' failed 2 times in a row \(last: timed out\): circuit breaker open, so it was not asked \(fetching secret other\); next probe in 7\.5 s, at 2023-11-14T22:14:31\.000Z$/,
      )
      expect(fake.requests.length).to.equal(asked)
      // refusals by the breaker are not upstream requests
      expect(upstream).to.deep.equal(['vault:ok', 'vault:ERR_UPSTREAM_TIMEOUT', 'vault:ERR_UPSTREAM_TIMEOUT'])
    })

    it('while a probe hangs, stale values are served at once and cold fetches say a probe is in flight', async () => {
      const secrets = resolver({ failures: 1, openMs: 5_000 })
      await secrets.get('stripe')
      clock.advance(61_000)
      fake.hanging.add('*')
      await secrets.get('stripe') // times out: open
      clock.advance(5_000)
      const probe = secrets.get('stripe') // the probe, hanging for 2 s, served stale in the end
      const during = await timed(secrets.get('other'))
      expect(during.ms).to.be.lessThan(1_000)
      expectUnavailable(
        during.error,
        /circuit breaker open, so it was not asked \(fetching secret other\); a probe is in flight$/,
      )
      expect((await probe).cache).to.equal('stale')
      expect(states.slice(-2)).to.deep.equal(['vault:half-open', 'vault:open'])
    })

    it('a failing Vault is not hammered: 4 callers for 1 s cause at most `failures` requests', async () => {
      fake.forced.set('*', { status: 500, errors: ['internal error'] })
      const secrets = resolver({ failures: 5, openMs: 5_000 })
      const end = Date.now() + 1_000
      let calls = 0
      let refusedByBreaker = 0
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (Date.now() < end) {
            calls++
            const err = await secrets.get('stripe').then(
              () => expect.fail('Vault is failing'),
              (e: unknown) => e,
            )
            expectUnavailable(err, /vault provider 'vault'/)
            if (err instanceof CircuitOpenError) refusedByBreaker++
            await yieldToLoop() // let the fake Vault's sockets run between calls
          }
        }),
      )
      expect(fake.requests.length).to.equal(5)
      expect(calls).to.be.greaterThan(100)
      // only callers sharing one of those 5 real requests (4 callers at most each) saw an upstream error
      expect(calls - refusedByBreaker).to.be.at.most(20)

      // the injected clock has not moved: no probe yet. At the probe time, exactly one request.
      clock.advance(4_999)
      await secrets.get('other').catch(() => {})
      expect(fake.requests.length).to.equal(5)
      clock.advance(1)
      await Promise.all(Array.from({ length: 50 }, () => secrets.get('other').catch(() => {})))
      expect(fake.requests.length).to.equal(6)
      // the probe failed: open again for twice as long
      const err = await secrets.get('other').catch((e: unknown) => e)
      expectUnavailable(err, /failed 6 times in a row \(last: unavailable\).*next probe in 10\.0 s/)
    })

    it('recovers after the upstream returns: the half-open probe closes the circuit', async () => {
      fake.forced.set('*', { status: 503, errors: ['Vault is sealed'] })
      const secrets = resolver({ failures: 2, openMs: 5_000 })
      await secrets.get('stripe').catch(() => {})
      await secrets.get('stripe').catch(() => {})
      expectUnavailable(await secrets.get('stripe').catch((e: unknown) => e), /circuit breaker open/)
      fake.forced.clear()
      // the upstream is back, but the breaker only asks again at the probe time
      expectUnavailable(await secrets.get('stripe').catch((e: unknown) => e), /next probe in 5\.0 s/)
      clock.advance(5_000)
      const probe = await secrets.get('stripe')
      expect(probe.value.toString()).to.equal(VALUE)
      expect(probe.cache).to.equal('miss')
      expect((await secrets.get('other')).cache).to.equal('miss')
      expect(states).to.deep.equal(['vault:closed', 'vault:open', 'vault:half-open', 'vault:closed'])
    })

    it('background token renewal honours the breaker: no renew-self while it is open', async () => {
      await fake.close()
      fake = await startFakeVault({ approle: { roleId: 'r', secretId: 's' }, tokenTtl: 3 })
      fake.putKv('secret/data/stripe', { api_key: VALUE })
      const warnings: Array<{ obj: object; msg: string }> = []
      // built from options, as the broker does, so the provider is handed its breaker
      const build = (logger?: { warn(obj: object, msg: string): void }) => {
        const r = new SecretResolver({
          providers: {
            vault: {
              type: 'vault',
              name: 'vault',
              address: fake.url,
              timeoutMs: 2_000,
              clock,
              ...(logger ? { logger } : {}),
              auth: {
                method: 'approle',
                roleIdFile: join(dir, 'role_id'),
                secretIdFile: join(dir, 'secret_id'),
              },
            },
          },
          secrets: {
            stripe: { provider: 'vault', ref: { path: 'secret/data/stripe', field: 'api_key' } },
            other: { provider: 'vault', ref: { path: 'secret/data/other', field: 'api_key' } },
          },
          clock,
          circuits: { vault: { failures: 1, openMs: 60_000 } },
        })
        resolvers.push(r)
        return r
      }
      const open = build({ warn: (obj, msg) => warnings.push({ obj, msg }) })
      const closed = build()
      await open.get('stripe') // logged in: a 3 s token, renewal due at 2 s, background timer armed
      await closed.get('stripe')
      fake.forced.set('secret/data/other', { status: 500, errors: ['internal error'] })
      await open.get('other').catch(() => {}) // opens `open`'s breaker
      fake.forced.clear()
      clock.advance(2_500) // renewal due, token still valid
      const deadline = Date.now() + 5_000
      while (fake.count('auth/token/renew-self') < 1 && Date.now() < deadline) await delay(50)
      await delay(500) // room for a second renewal, which must not come
      expect(fake.count('auth/token/renew-self')).to.equal(1) // the closed one's only
      expect(warnings).to.deep.equal([
        { obj: { provider: 'vault', code: 'ERR_UPSTREAM_UNAVAILABLE' }, msg: 'vault token upkeep failed' },
      ])
    })

    it('refusals (403) and missing secrets never open it', async () => {
      const secrets = resolver({ failures: 2 })
      fake.kv.delete('secret/data/other')
      fake.forced.set('secret/data/stripe', { status: 403, errors: ['permission denied'] })
      for (let i = 0; i < 5; i++) {
        const refused = await secrets.get('stripe').catch((e: unknown) => e)
        expect((refused as BrokerError).code).to.equal('ERR_UPSTREAM_REFUSED')
        const missing = await secrets.get('other').catch((e: unknown) => e)
        expect((missing as BrokerError).code).to.equal('ERR_UPSTREAM_NOT_FOUND')
      }
      expect(states).to.deep.equal(['vault:closed'])
    })
  })

  describe('FetchSecret over gRPC, with the breaker state as a metric', () => {
    let t: TestBroker
    let fake: FakeVault
    let clock: ManualClock
    let fetch: Call<FetchSecretRequest, FetchSecretResponse__Output>
    let creds: string

    before(async () => {
      fake = await startFakeVault({ approle: { roleId: 'r', secretId: 's' }, tokenTtl: 86_400 })
      fake.putKv('secret/data/stripe', { api_key: VALUE })
      fake.putKv('secret/data/cold', { api_key: VALUE })
      creds = mkdtempSync(join(tmpdir(), 'kb-breaker-grpc-'))
      writeFileSync(join(creds, 'role_id'), 'r')
      writeFileSync(join(creds, 'secret_id'), 's')
      const auth = `{ method: approle, role_id_file: ${join(creds, 'role_id')}, secret_id_file: ${join(creds, 'secret_id')} }`
      clock = new ManualClock(Date.now())
      t = await TestBroker.start({
        clock,
        extraYaml: `cache: { ttl: 60s, stale_ttl: 5m }
providers:
  vault: { type: vault, address: "${fake.url}", timeout: 2s, auth: ${auth}, circuit: { failures: 2, open_for: 10s } }
secrets:
  stale-key: { provider: vault, path: secret/data/stripe, field: api_key }
  cold-key: { provider: vault, path: secret/data/cold, field: api_key }
`,
        grantsYaml: `  - name: billing-secrets
    match: { spiffe_id: "${BILLING}" }
    secrets: [stale-key, cold-key]
`,
      })
      fetch = unary(t.brokerClient(await t.pki.spiffe('billing', BILLING)), 'FetchSecret')
    })
    after(async () => {
      await t?.close()
      await fake?.close()
      rmSync(creds, { recursive: true, force: true })
    })

    const circuitState = async () => {
      const text = await scrapeMetrics(t)
      expect(text).to.match(/^keybroker_upstream_circuit_state\{provider="vault"\} \d$/m)
      return sample(text, 'keybroker_upstream_circuit_state', { provider: 'vault' })
    }

    it('hung Vault: stale answers at once once open, cold fetches UNAVAILABLE at once, closed again after a probe', async () => {
      expect((await fetch({ name: 'stale-key' })).value.toString()).to.equal(VALUE)
      expect(await circuitState()).to.equal(0)
      clock.advance(61_000)
      fake.hanging.add('*')
      for (let i = 0; i < 2; i++) {
        const slow = await timed(fetch({ name: 'stale-key' }))
        expect(slow.value?.value.toString()).to.equal(VALUE)
        expect(slow.ms).to.be.greaterThan(1_500)
      }
      expect(await circuitState()).to.equal(2)

      const fast = await timed(Promise.all(Array.from({ length: 8 }, () => fetch({ name: 'stale-key' }))))
      expect(fast.ms).to.be.lessThan(1_000)
      expect(fast.value!.every((r) => r.value.toString() === VALUE)).to.equal(true)

      const cold = await timed(expectGrpcError(fetch({ name: 'cold-key' })))
      expect(cold.ms).to.be.lessThan(1_000)
      expect(cold.value!.code).to.equal(status.UNAVAILABLE)
      expect(cold.value!.details).to.match(
        /^vault provider 'vault' failed 2 times in a row \(last: timed out\): circuit breaker open, so it was not asked \(fetching secret cold-key\); next probe in \d+\.\d s, at \d{4}-.*Z$/,
      )

      fake.hanging.clear()
      clock.advance(10_000)
      expect((await fetch({ name: 'cold-key' })).value.toString()).to.equal(VALUE)
      expect(await circuitState()).to.equal(0)
      const logs = t.logs.join('')
      expect(logs).to.include('upstream circuit breaker opened')
      expect(logs).to.include('upstream circuit breaker closed: the upstream answered a probe')
      expect(logs).not.to.include(VALUE)
    })
  })

  describe('config: providers.<name>.circuit', () => {
    const config = (providers: string) =>
      parseConfig(`issuer: https://kb.test\nproviders:\n${providers}`, '/etc/keybroker/keybroker.yaml')

    it('defaults to 5 failures, 5 s open, doubling up to 1 m', () => {
      const c = config('  aws: { type: aws-secrets-manager, region: eu-west-1 }\n')
      expect(c.providers['aws']).to.deep.include({ circuit: { failures: 5, open_for: 5, max_open_for: 60 } })
    })

    it('names every bad value by its path', () => {
      expect(() =>
        config(`  vault: { type: vault, address: "https://vault:8200", auth: { method: token, token_file: /t },
    circuit: { failures: 0, open_for: 0s, fails: 3 } }
  aws: { type: aws-secrets-manager, region: eu-west-1, circuit: { open_for: 2m, max_open_for: 1m } }
`),
      )
        .to.throw(BrokerError)
        .with.property('problems')
        .that.deep.equals([
          'providers.vault.circuit.failures: Too small: expected number to be >=1',
          'providers.vault.circuit.open_for: open_for must be at least 1s',
          'providers.vault.circuit: unknown key "fails" (check the spelling; see deploy/keybroker.example.yaml)',
          'providers.aws.circuit.max_open_for: max_open_for must be at least open_for',
        ])
    })
  })
})
