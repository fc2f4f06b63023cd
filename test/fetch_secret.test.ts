import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type * as grpc from '@grpc/grpc-js'
import { status } from '@grpc/grpc-js'
import { expect } from 'chai'
import type { StoredExchange } from '../src/audit/index.js'
import { ManualClock } from '../src/clock.js'
import type { FetchSecretRequest } from '../src/generated/keybroker/v1/FetchSecretRequest.js'
import type { FetchSecretResponse__Output } from '../src/generated/keybroker/v1/FetchSecretResponse.js'
import { type FakeSecretsManager, startFakeSecretsManager } from './fixtures/aws_server.js'
import { AGENT, BILLING, type Call, expectGrpcError, TestBroker, unary } from './fixtures/broker.js'
import { type FakeVault, startFakeVault } from './fixtures/vault_server.js'

/* Distinctive values, so the final scan of audit rows and logs can look for every one of them. */
const STRIPE = 'sk_live_fetch_e2e_never_logged_4242'
const DB_PASSWORD = 'db-password-leased-never-logged-77'
const OPENAI_RAW = 'sk-openai-raw-string-never-logged-99'
const OPENAI_JSON_KEY = 'sk-openai-json-key-never-logged-31'
const BLOB = Buffer.concat([Buffer.from([0, 255, 1, 254]), randomBytes(60)])
const BIG = `BIGVALUE-never-logged-${'x'.repeat(100 * 1024 - 22)}`
const ROLE_ID = 'role-fetch-e2e'
const SECRET_ID = 'secret-id-fetch-e2e-never-logged'
const AWS_SECRET_KEY = 'fake/aws/secret/access/key/never/logged'
const ALL_VALUES = [
  STRIPE,
  DB_PASSWORD,
  OPENAI_RAW,
  OPENAI_JSON_KEY,
  'BIGVALUE-never-logged',
  SECRET_ID,
  AWS_SECRET_KEY,
  BLOB.toString('base64'),
  BLOB.toString('hex'),
  BLOB.toString('base64url'),
]

const AWS_ENV = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']

function configYaml(vault: FakeVault, aws: FakeSecretsManager, credsDir: string): string {
  const vaultAuth = `{ method: approle, role_id_file: ${join(credsDir, 'role_id')}, secret_id_file: ${join(credsDir, 'secret_id')} }`
  const secrets: Record<string, string> = {
    'stripe-key': '{ provider: vault, path: secret/data/payments/stripe, field: api_key }',
    'db-password': '{ provider: vault, path: database/creds/app, field: password }',
    'cold-key': '{ provider: vault, path: secret/data/cold, field: api_key }',
    'stale-key': '{ provider: vault, path: secret/data/stale, field: api_key }',
    'uncached-key': '{ provider: vault, path: secret/data/uncached, field: api_key, cache_ttl: 0s }',
    'reauth-key': '{ provider: vault, path: secret/data/reauth, field: api_key, cache_ttl: 0s }',
    'forbidden-key': '{ provider: vault, path: secret/data/forbidden, field: api_key }',
    'vault-missing': '{ provider: vault, path: secret/data/missing, field: api_key }',
    'vault-broken': '{ provider: vault, path: secret/data/broken, field: api_key }',
    'sealed-key': '{ provider: vault, path: secret/data/sealed, field: api_key }',
    'slow-key': '{ provider: vault, path: secret/data/slow, field: api_key }',
    'big-key': '{ provider: vault, path: secret/data/big, field: blob }',
    'big-capped': '{ provider: vault, path: secret/data/big, field: blob, max_bytes: 65536 }',
    'agent-key': '{ provider: vault, path: secret/data/agent, field: api_key }',
    'openai-raw': '{ provider: aws, secret_id: prod/openai-raw }',
    'openai-key': '{ provider: aws, secret_id: prod/openai, json_key: api_key }',
    'signing-blob': '{ provider: aws, secret_id: prod/blob }',
    'aws-missing': '{ provider: aws, secret_id: prod/missing }',
    'aws-denied': '{ provider: aws, secret_id: prod/denied }',
    'aws-throttled': '{ provider: aws, secret_id: prod/throttled }',
    'aws-json-missing': '{ provider: aws, secret_id: prod/openai, json_key: nope }',
    'aws-slow': '{ provider: aws-short, secret_id: prod/slow }',
  }
  const lines = Object.entries(secrets).map(([name, body]) => `  ${name}: ${body}`)
  return `cache: { ttl: 60s, stale_ttl: 5m }
providers:
  vault: { type: vault, address: "${vault.url}", timeout: 1s, auth: ${vaultAuth} }
  aws: { type: aws-secrets-manager, region: eu-west-1, endpoint: "${aws.url}", timeout: 10s, max_attempts: 2 }
  aws-short: { type: aws-secrets-manager, region: eu-west-1, endpoint: "${aws.url}", timeout: 1s, max_attempts: 1 }
secrets:
${lines.join('\n')}
`
}

function grantsYaml(): string {
  return `  - name: billing-secrets
    match: { spiffe_id: "${BILLING}" }
    secrets: [stripe-key, db-password, cold-key, stale-key, uncached-key, reauth-key, forbidden-key,
      vault-missing, vault-broken, sealed-key, slow-key, big-key, big-capped, openai-raw, openai-key,
      signing-blob, aws-missing, aws-denied, aws-throttled, aws-json-missing, aws-slow]
  - name: agent-secrets
    match: { spiffe_id: "${AGENT}" }
    secrets: [agent-key]
`
}

describe('FetchSecret over gRPC (Vault and AWS fakes, real clients)', () => {
  let t: TestBroker
  let vault: FakeVault
  let aws: FakeSecretsManager
  let credsDir: string
  let clock: ManualClock
  let fetch: Call<FetchSecretRequest, FetchSecretResponse__Output>
  let fetchAsAgent: Call<FetchSecretRequest, FetchSecretResponse__Output>
  const savedEnv: Record<string, string | undefined> = {}

  before(async () => {
    for (const k of AWS_ENV) savedEnv[k] = process.env[k]
    // the SDK's default chain, as on a host with env credentials
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAFETCHE2EFAKE'
    process.env['AWS_SECRET_ACCESS_KEY'] = AWS_SECRET_KEY
    delete process.env['AWS_SESSION_TOKEN']
    delete process.env['AWS_PROFILE']

    credsDir = mkdtempSync(join(tmpdir(), 'kb-fetch-creds-'))
    writeFileSync(join(credsDir, 'role_id'), `${ROLE_ID}\n`)
    writeFileSync(join(credsDir, 'secret_id'), `${SECRET_ID}\n`, { mode: 0o600 })

    vault = await startFakeVault({ approle: { roleId: ROLE_ID, secretId: SECRET_ID }, tokenTtl: 3600 })
    for (const path of [
      'payments/stripe',
      'cold',
      'stale',
      'uncached',
      'reauth',
      'forbidden',
      'broken',
      'sealed',
      'slow',
      'agent',
    ]) {
      vault.putKv(`secret/data/${path}`, { api_key: STRIPE })
    }
    vault.putKv('secret/data/big', { blob: BIG })
    vault.leased.set('database/creds/app', {
      data: { username: 'v-app-1', password: DB_PASSWORD },
      leaseDuration: 600,
    })

    aws = await startFakeSecretsManager('eu-west-1')
    aws.put('prod/openai-raw', { string: OPENAI_RAW })
    aws.put('prod/openai', { string: JSON.stringify({ api_key: OPENAI_JSON_KEY, org: 'org-1' }) })
    aws.put('prod/blob', { binary: BLOB })

    clock = new ManualClock(Date.now())
    t = await TestBroker.start({
      clock,
      extraYaml: configYaml(vault, aws, credsDir),
      grantsYaml: grantsYaml(),
    })
    fetch = unary(t.brokerClient(await t.pki.spiffe('billing', BILLING)), 'FetchSecret')
    fetchAsAgent = unary(t.brokerClient(await t.pki.spiffe('agent', AGENT)), 'FetchSecret')
  })

  after(async () => {
    await t?.close()
    await vault?.close()
    await aws?.close()
    rmSync(credsDir, { recursive: true, force: true })
    for (const k of AWS_ENV) {
      if (savedEnv[k] === undefined) delete process.env[k]
      else process.env[k] = savedEnv[k]
    }
  })

  async function row(id: string): Promise<StoredExchange & { detailJson: Record<string, unknown> }> {
    const stored = (await t.broker.storage.reader.byId(id)) as unknown as
      | (StoredExchange & { detail: string | null })
      | undefined
    expect(stored, `audit row ${id}`).to.not.equal(undefined)
    return { ...stored!, detailJson: stored!.detail ? JSON.parse(stored!.detail) : {} }
  }

  async function errorRow(err: grpc.ServiceError) {
    const id = err.metadata.get('keybroker-exchange-id')[0]
    expect(id, 'exchange id in trailing metadata').to.be.a('string')
    return await row(String(id))
  }

  /** Refusal/fault: status, exact message, its audit row; then the broker still serves. */
  async function expectRefused(
    name: string,
    code: status,
    message: string,
    decision: 'deny' | 'error',
    as = fetch,
  ) {
    const err = await expectGrpcError(as({ name }))
    expect(err.code, err.details).to.equal(code)
    expect(err.details).to.equal(message)
    const audited = await errorRow(err)
    expect(audited.kind).to.equal('fetch')
    expect(audited.secret_name).to.equal(name)
    expect(audited.decision).to.equal(decision)
    expect(audited.reason).to.equal(message)
    // an upstream fault names the provider it came from; a refusal never reveals which one would have served
    if (decision === 'error') expect(audited.detailJson['provider']).to.be.a('string')
    else expect(audited.detailJson).to.not.have.property('provider')
    await stillServing()
    return { err, audited }
  }

  async function stillServing() {
    const ok = await fetch({ name: 'stripe-key' })
    expect(ok.value.toString()).to.equal(STRIPE)
  }

  describe('serves', () => {
    it('a KV v2 field with its version; the audit row names secret, provider, version and cache', async () => {
      const res = await fetch({ name: 'stripe-key' })
      expect(res.value.toString()).to.equal(STRIPE)
      expect(res.version).to.equal('1')
      expect(res.expires_at).to.equal(0)
      expect(res.exchange_id).to.match(/^[0-9A-HJKMNP-TV-Z]{26}$/)
      const audited = await row(res.exchange_id)
      expect(audited).to.include({
        kind: 'fetch',
        decision: 'allow',
        subject: BILLING,
        secret_name: 'stripe-key',
      })
      expect(audited.detailJson).to.deep.equal({
        grant: 'billing-secrets',
        provider: 'vault',
        provider_type: 'vault',
        cache: 'miss',
        version: '1',
      })
      const again = await fetch({ name: 'stripe-key' })
      expect((await row(again.exchange_id)).detailJson['cache']).to.equal('hit')
    })

    it('a leased Vault secret with expires_at from lease_duration', async () => {
      const res = await fetch({ name: 'db-password' })
      expect(res.value.toString()).to.equal(DB_PASSWORD)
      expect(res.expires_at).to.equal(Math.floor(clock.now() / 1000) + 600)
      expect((await row(res.exchange_id)).expires_at).to.equal(res.expires_at)
    })

    it('an AWS SecretString whole, with its VersionId', async () => {
      const res = await fetch({ name: 'openai-raw' })
      expect(res.value.toString()).to.equal(OPENAI_RAW)
      expect(res.version).to.equal(aws.secrets.get('prod/openai-raw')![0]!.versionId)
      expect((await row(res.exchange_id)).detailJson).to.include({
        provider: 'aws',
        provider_type: 'aws-secrets-manager',
      })
      const req = aws.requests.find((r) => r.body['SecretId'] === 'prod/openai-raw')!
      expect(req.target).to.equal('secretsmanager.GetSecretValue')
      expect(req.authorization).to.match(/^AWS4-HMAC-SHA256 Credential=AKIAFETCHE2EFAKE\//)
    })

    it('an AWS SecretBinary byte for byte', async () => {
      const res = await fetch({ name: 'signing-blob' })
      expect(Buffer.compare(res.value, BLOB)).to.equal(0)
    })

    it('one key of an AWS JSON SecretString (json_key)', async () => {
      const res = await fetch({ name: 'openai-key' })
      expect(res.value.toString()).to.equal(OPENAI_JSON_KEY)
    })

    it('a value larger than 64 KiB', async () => {
      const res = await fetch({ name: 'big-key' })
      expect(res.value.length).to.equal(100 * 1024)
      expect(res.value.toString()).to.equal(BIG)
    })
  })

  describe('refuses callers the same way for unknown and not-granted names', () => {
    it('unknown name → PERMISSION_DENIED, no upstream call', async () => {
      const before = vault.requests.length + aws.requests.length
      await expectRefused(
        'no-such-secret',
        status.PERMISSION_DENIED,
        `secret "no-such-secret" is not granted to ${BILLING}`,
        'deny',
      )
      expect(vault.requests.length + aws.requests.length).to.equal(before)
    })

    it('a name granted to another identity → the same refusal, no upstream call', async () => {
      const unknown = await expectGrpcError(fetch({ name: 'no-such-secret' }))
      const { err } = await expectRefused(
        'agent-key',
        status.PERMISSION_DENIED,
        `secret "agent-key" is not granted to ${BILLING}`,
        'deny',
      )
      expect(err.details.replace('agent-key', 'no-such-secret')).to.equal(unknown.details)
      expect(vault.count('secret/data/agent')).to.equal(0)
      // the identity it is granted to gets it
      expect((await fetchAsAgent({ name: 'agent-key' })).value.toString()).to.equal(STRIPE)
    })

    it('an empty name → INVALID_ARGUMENT', async () => {
      await expectRefused('', status.INVALID_ARGUMENT, 'name is required', 'deny')
    })
  })

  describe('upstream faults', () => {
    it('Vault 403: logs in again, retries once, then UNAVAILABLE naming secret and provider', async () => {
      await fetch({ name: 'stripe-key' }) // a session exists
      vault.forced.set('secret/data/forbidden', { status: 403, errors: ['permission denied'] })
      const logins = vault.count('auth/approle/login', 'POST')
      await expectRefused(
        'forbidden-key',
        status.UNAVAILABLE,
        "vault provider 'vault' refused access to secret forbidden-key (HTTP 403, after logging in again)",
        'error',
      )
      expect(vault.count('secret/data/forbidden', 'GET')).to.equal(2)
      expect(vault.count('auth/approle/login', 'POST')).to.equal(logins + 1)
    })

    it('Vault 404 → NOT_FOUND with code ERR_UPSTREAM_NOT_FOUND (not a misconfiguration)', async () => {
      const { err } = await expectRefused(
        'vault-missing',
        status.NOT_FOUND,
        "secret vault-missing not found in vault provider 'vault' at its configured path",
        'error',
      )
      expect(err.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_UPSTREAM_NOT_FOUND'])
    })

    it('Vault 500 → UNAVAILABLE', async () => {
      vault.forced.set('secret/data/broken', { status: 500, errors: ['internal error'] })
      await expectRefused(
        'vault-broken',
        status.UNAVAILABLE,
        "vault provider 'vault' is unavailable (HTTP 500) reading secret vault-broken",
        'error',
      )
    })

    it('Vault sealed (503) → UNAVAILABLE', async () => {
      await fetch({ name: 'stripe-key' })
      vault.sealed = true
      try {
        const err = await expectGrpcError(fetch({ name: 'sealed-key' }))
        expect(err.code).to.equal(status.UNAVAILABLE)
        expect(err.details).to.equal("vault provider 'vault' is sealed (HTTP 503) reading secret sealed-key")
        expect(await errorRow(err)).to.include({
          decision: 'error',
          secret_name: 'sealed-key',
          reason: err.details,
        })
      } finally {
        vault.sealed = false
      }
      await stillServing()
    })

    it('Vault hangs → UNAVAILABLE after the provider timeout, well inside the caller deadline', async () => {
      vault.hanging.add('secret/data/slow')
      try {
        await expectRefused(
          'slow-key',
          status.UNAVAILABLE,
          "vault provider 'vault' reading secret slow-key did not answer within 1000 ms",
          'error',
        )
      } finally {
        vault.hanging.delete('secret/data/slow')
      }
    })

    it('AWS hangs → UNAVAILABLE after the provider timeout', async () => {
      aws.hanging.add('prod/slow')
      try {
        await expectRefused(
          'aws-slow',
          status.UNAVAILABLE,
          "aws-secrets-manager provider 'aws-short' reading secret aws-slow did not answer within 1000 ms",
          'error',
        )
      } finally {
        aws.hanging.delete('prod/slow')
      }
    })

    it('AWS ResourceNotFoundException → NOT_FOUND with code ERR_UPSTREAM_NOT_FOUND', async () => {
      const { err } = await expectRefused(
        'aws-missing',
        status.NOT_FOUND,
        "secret aws-missing not found in aws-secrets-manager provider 'aws' at its configured secret_id",
        'error',
      )
      expect(err.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_UPSTREAM_NOT_FOUND'])
    })

    it('AWS AccessDeniedException → UNAVAILABLE (the broker’s access, not the caller’s)', async () => {
      aws.errors.set('prod/denied', {
        status: 400,
        type: 'AccessDeniedException',
        message: 'User: arn:aws:iam::123456789012:user/keybroker is not authorized',
      })
      await expectRefused(
        'aws-denied',
        status.UNAVAILABLE,
        "aws-secrets-manager provider 'aws' refused access to secret aws-denied (AccessDeniedException)",
        'error',
      )
    })

    it('AWS throttling → retried by the SDK, then UNAVAILABLE', async () => {
      aws.errors.set('prod/throttled', { status: 400, type: 'ThrottlingException', message: 'Rate exceeded' })
      await expectRefused(
        'aws-throttled',
        status.UNAVAILABLE,
        "aws-secrets-manager provider 'aws' is unavailable (ThrottlingException after 2 attempts) reading secret aws-throttled",
        'error',
      )
      expect(aws.count('prod/throttled')).to.equal(2)
    })

    it('json_key missing from the secret → FAILED_PRECONDITION', async () => {
      await expectRefused(
        'aws-json-missing',
        status.FAILED_PRECONDITION,
        "secret aws-json-missing in aws-secrets-manager provider 'aws' has no json_key 'nope'",
        'error',
      )
    })

    it('a value above the secret’s max_bytes → FAILED_PRECONDITION', async () => {
      await expectRefused(
        'big-capped',
        status.FAILED_PRECONDITION,
        'secret big-capped is 102400 bytes, above the configured max 65536',
        'error',
      )
    })
  })

  describe('cache', () => {
    it('100 concurrent cold fetches make exactly one upstream request', async () => {
      expect(vault.count('secret/data/cold', 'GET')).to.equal(0)
      const all = await Promise.all(Array.from({ length: 100 }, () => fetch({ name: 'cold-key' })))
      for (const res of all) expect(res.value.toString()).to.equal(STRIPE)
      expect(new Set(all.map((r) => r.exchange_id)).size).to.equal(100)
      expect(vault.count('secret/data/cold', 'GET')).to.equal(1)
      // they really overlapped: several callers waited on that one request rather than a cached value
      const rows = await Promise.all(all.map((r) => row(r.exchange_id)))
      const misses = rows.filter((r) => r.detailJson['cache'] === 'miss').length
      expect(misses).to.be.greaterThan(1)
    })

    it('a per-secret cache_ttl overrides the top-level ttl', async () => {
      await fetch({ name: 'uncached-key' })
      await fetch({ name: 'uncached-key' })
      expect(vault.count('secret/data/uncached', 'GET')).to.equal(2)
    })

    it('serves a stale value while the upstream is down (audited as stale), refuses after stale_ttl', async () => {
      const first = await fetch({ name: 'stale-key' })
      expect((await row(first.exchange_id)).detailJson['cache']).to.equal('miss')
      vault.forced.set('secret/data/stale', { status: 500, errors: ['internal error'] })
      try {
        clock.advance(61_000) // past ttl (60s), inside stale_ttl (5m)
        const stale = await fetch({ name: 'stale-key' })
        expect(stale.value.toString()).to.equal(STRIPE)
        const audited = await row(stale.exchange_id)
        expect(audited.decision).to.equal('allow')
        expect(audited.detailJson).to.include({ cache: 'stale', stale: true, provider: 'vault' })
        expect(audited.reason).to.equal("served a cached value: provider 'vault' is unavailable")

        clock.advance(300_000) // past ttl + stale_ttl
        await expectRefused(
          'stale-key',
          status.UNAVAILABLE,
          "vault provider 'vault' is unavailable (HTTP 500) reading secret stale-key",
          'error',
        )
      } finally {
        vault.forced.delete('secret/data/stale')
      }
      expect((await fetch({ name: 'stale-key' })).value.toString()).to.equal(STRIPE)
    })
  })

  describe('vault session', () => {
    it('re-authenticates to Vault after its token is revoked upstream, without a restart', async () => {
      const first = await fetch({ name: 'reauth-key' })
      expect(first.value.toString()).to.equal(STRIPE)
      const logins = vault.count('auth/approle/login', 'POST')
      vault.revokeAll()
      const res = await fetch({ name: 'reauth-key' })
      expect(res.value.toString()).to.equal(STRIPE)
      expect(await row(res.exchange_id)).to.include({ decision: 'allow', secret_name: 'reauth-key' })
      expect(vault.count('auth/approle/login', 'POST')).to.equal(logins + 1)
      // the new token is the one used from now on
      const tokens = vault.requests
        .filter((r) => r.path === 'secret/data/reauth')
        .map((r) => r.headers['x-vault-token'])
      expect(tokens.at(-1)).to.not.equal(tokens[0])
      expect((await fetch({ name: 'reauth-key' })).value.toString()).to.equal(STRIPE)
      expect(vault.count('auth/approle/login', 'POST')).to.equal(logins + 1)
    })
  })

  // mocha runs a suite's own tests before its nested suites: this one comes last on purpose
  describe('afterwards', () => {
    it('leaves no secret value in any audit column or log line', async () => {
      const rows = (await t.broker.storage.reader.listPage({}, 1_000_000)) as unknown as Array<
        Record<string, unknown>
      >
      expect(rows.filter((r) => r['kind'] === 'fetch').length).to.be.greaterThan(100)
      const logs = t.logs.join('')
      expect(logs.length).to.be.greaterThan(0)
      for (const value of ALL_VALUES) {
        for (const r of rows) {
          for (const [column, cell] of Object.entries(r)) {
            expect(String(cell), `exchanges.${column} of ${String(r['id'])}`).not.to.include(value)
          }
        }
        expect(logs, 'captured logs').not.to.include(value)
      }
    })
  })
})

describe('FetchSecret config', () => {
  it('a secret naming an undefined provider is a startup error naming it', async () => {
    let caught: unknown
    try {
      await TestBroker.start({
        extraYaml: 'secrets:\n  orphan: { provider: nowhere, path: secret/data/x }\n',
      })
    } catch (err) {
      caught = err
    }
    expect(caught).to.be.instanceOf(Error)
    expect((caught as Error).message).to.include(
      'secrets.orphan.provider: provider "nowhere" is not defined under providers',
    )
  })

  it('an unreadable Vault credential file is a startup error naming its key', async () => {
    let caught: unknown
    try {
      await TestBroker.start({
        extraYaml: `providers:
  vault: { type: vault, address: "http://127.0.0.1:1", auth: { method: token, token_file: /nonexistent/kb-token } }
`,
      })
    } catch (err) {
      caught = err
    }
    expect((caught as Error).message).to.match(
      /providers\.vault\.auth\.token_file: cannot read \/nonexistent\/kb-token \(ENOENT\)$/,
    )
  })
})
