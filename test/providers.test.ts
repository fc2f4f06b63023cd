import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { ManualClock } from '../src/clock.js'
import { BrokerError, type BrokerErrorCode } from '../src/errors.js'
import {
  AwsSecretsManagerProvider,
  type AwsSecretsManagerProviderOptions,
  createProvider,
  VaultProvider,
  type VaultProviderOptions,
} from '../src/providers/index.js'
import { type FakeSecretsManager, startFakeSecretsManager } from './fixtures/aws_server.js'
import { selfSignedServerCert } from './fixtures/self_signed.js'
import { type FakeVault, startFakeVault } from './fixtures/vault_server.js'

const STRIPE = 'sk_live_never_in_messages_123'
const ROLE_ID = 'role-1234'
const SECRET_ID = 'secret-id-must-stay-private'
const K8S_JWT = 'eyJ.k8s-projected-token.sig'

/** Assert a BrokerError with `code`, whose message says each of `says` and leaks none of `never`. */
async function rejectsWith(p: Promise<unknown>, code: BrokerErrorCode, says: string[], never: string[] = []) {
  let caught: unknown
  try {
    await p
  } catch (err) {
    caught = err
  }
  expect(caught, 'expected a rejection').to.be.instanceOf(BrokerError)
  const err = caught as BrokerError
  expect(err.code, err.message).to.equal(code)
  for (const s of says) expect(err.message).to.include(s)
  for (const s of [STRIPE, SECRET_ID, K8S_JWT, ...never]) {
    expect(err.message).not.to.include(s)
    expect(String((err.cause as Error | undefined)?.message ?? '')).not.to.include(s)
  }
  return err
}

describe('providers: vault', () => {
  let fake: FakeVault
  let dir: string
  let clock: ManualClock
  const providers: VaultProvider[] = []

  const files = () => ({
    roleIdFile: join(dir, 'role_id'),
    secretIdFile: join(dir, 'secret_id'),
    k8sFile: join(dir, 'k8s_token'),
    tokenFile: join(dir, 'vault_token'),
  })

  function vault(extra: Partial<VaultProviderOptions> = {}): VaultProvider {
    const f = files()
    const p = new VaultProvider({
      name: 'vault',
      address: fake.url,
      timeoutMs: 2000,
      auth: { method: 'approle', roleIdFile: f.roleIdFile, secretIdFile: f.secretIdFile },
      clock,
      ...extra,
    })
    providers.push(p)
    return p
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kb-vault-'))
    const f = files()
    writeFileSync(f.roleIdFile, `${ROLE_ID}\n`)
    writeFileSync(f.secretIdFile, `${SECRET_ID}\n`)
    writeFileSync(f.k8sFile, K8S_JWT)
    writeFileSync(f.tokenFile, 's.operator-token\n')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  beforeEach(async () => {
    clock = new ManualClock(1_700_000_000_000)
    fake = await startFakeVault({
      approle: { roleId: ROLE_ID, secretId: SECRET_ID },
      kubernetes: { role: 'keybroker', jwt: K8S_JWT },
      tokenTtl: 30,
    })
    fake.putKv('secret/data/payments/stripe', { api_key: STRIPE, webhook: 'whsec_1' })
  })
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()))
    await fake.close()
  })

  const stripe = { name: 'stripe-key', path: 'secret/data/payments/stripe', field: 'api_key' }

  it('reads one field of a KV v2 secret with its version, after an AppRole login', async () => {
    const got = await vault().get(stripe)
    expect(got.value.toString()).to.equal(STRIPE)
    expect(got.version).to.equal('1')
    expect(got.expiresAt).to.equal(undefined)
    expect(fake.count('auth/approle/login', 'POST')).to.equal(1)
    const read = fake.requests.find((r) => r.path === stripe.path)!
    expect(read.headers['x-vault-token']).to.match(/^hvs\./)
  })

  it('returns the whole KV v2 data object as JSON when no field is configured', async () => {
    const got = await vault().get({ name: 'stripe-all', path: 'secret/data/payments/stripe' })
    expect(JSON.parse(got.value.toString())).to.deep.equal({ api_key: STRIPE, webhook: 'whsec_1' })
  })

  it('reports a leased secret’s expiry from lease_duration', async () => {
    fake.leased.set('database/creds/app', {
      data: { username: 'v-app-1', password: 'pw-1' },
      leaseDuration: 600,
    })
    const got = await vault().get({ name: 'db', path: 'database/creds/app', field: 'username' })
    expect(got.value.toString()).to.equal('v-app-1')
    expect(got.expiresAt).to.equal(Math.floor(clock.now() / 1000) + 600)
  })

  it('uses a token from token_file (looked up for its ttl)', async () => {
    fake.addToken('s.operator-token', 0, false)
    const got = await vault({ auth: { method: 'token', tokenFile: files().tokenFile } }).get(stripe)
    expect(got.value.toString()).to.equal(STRIPE)
    expect(fake.count('auth/token/lookup-self')).to.equal(1)
    expect(fake.requests.find((r) => r.path === stripe.path)!.headers['x-vault-token']).to.equal(
      's.operator-token',
    )
  })

  it('logs in with Kubernetes auth on the default mount and on a custom one', async () => {
    const got = await vault({
      auth: { method: 'kubernetes', role: 'keybroker', tokenFile: files().k8sFile },
    }).get(stripe)
    expect(got.value.toString()).to.equal(STRIPE)
    expect(fake.requests.find((r) => r.path === 'auth/kubernetes/login')?.body).to.deep.equal({
      role: 'keybroker',
      jwt: K8S_JWT,
    })

    await fake.close()
    fake = await startFakeVault({ kubernetes: { role: 'keybroker', jwt: K8S_JWT, mount: 'k8s-prod' } })
    fake.putKv(stripe.path, { api_key: STRIPE })
    const custom = vault({
      auth: { method: 'kubernetes', role: 'keybroker', tokenFile: files().k8sFile, mount: 'k8s-prod' },
    })
    expect((await custom.get(stripe)).value.toString()).to.equal(STRIPE)
    expect(fake.count('auth/k8s-prod/login')).to.equal(1)
  })

  it('sends X-Vault-Namespace on logins and reads', async () => {
    await vault({ namespace: 'team-payments' }).get(stripe)
    expect(fake.requests.length).to.equal(2)
    for (const r of fake.requests) expect(r.headers['x-vault-namespace']).to.equal('team-payments')
  })

  it('ignores VAULT_TOKEN / VAULT_NAMESPACE from the environment', async () => {
    process.env['VAULT_TOKEN'] = 's.from-env'
    process.env['VAULT_NAMESPACE'] = 'env-ns'
    try {
      await vault().get(stripe)
    } finally {
      delete process.env['VAULT_TOKEN']
      delete process.env['VAULT_NAMESPACE']
    }
    const login = fake.requests.find((r) => r.path === 'auth/approle/login')!
    expect(login.headers['x-vault-token']).to.equal(undefined)
    expect(login.headers['x-vault-namespace']).to.equal(undefined)
  })

  it('trusts a custom CA over HTTPS, and refuses the same server without it', async () => {
    const tls = selfSignedServerCert()
    await fake.close()
    fake = await startFakeVault({ tls, approle: { roleId: ROLE_ID, secretId: SECRET_ID } })
    fake.putKv(stripe.path, { api_key: STRIPE })
    expect((await vault({ caPem: tls.certPem }).get(stripe)).value.toString()).to.equal(STRIPE)
    await rejectsWith(vault().get(stripe), 'ERR_UPSTREAM_UNAVAILABLE', [
      "vault provider 'vault'",
      'stripe-key',
    ])
  })

  it('renews its token with renew-self at 2/3 of its ttl, and logs in again when renewal fails', async () => {
    const p = vault()
    await p.get(stripe)
    clock.advance(15_000) // half the 30 s ttl: nothing to do
    await p.get(stripe)
    expect(fake.count('auth/token/renew-self')).to.equal(0)

    clock.advance(6_000) // 21 s > 20 s
    await p.get(stripe)
    expect(fake.count('auth/token/renew-self')).to.equal(1)
    expect(fake.count('auth/approle/login')).to.equal(1)

    fake.failRenewals = true
    clock.advance(21_000)
    expect((await p.get(stripe)).value.toString()).to.equal(STRIPE)
    expect(fake.count('auth/token/renew-self')).to.equal(2)
    expect(fake.count('auth/approle/login')).to.equal(2)
  })

  it('logs in again and retries once when its token was revoked upstream', async () => {
    const p = vault()
    await p.get(stripe)
    fake.revokeAll()
    expect((await p.get(stripe)).value.toString()).to.equal(STRIPE)
    expect(fake.count('auth/approle/login')).to.equal(2)
    expect(fake.count(stripe.path)).to.equal(3) // ok, 403, retried ok
  })

  it('logs in once for 100 concurrent cold reads', async () => {
    const p = vault()
    const all = await Promise.all(Array.from({ length: 100 }, () => p.get(stripe)))
    expect(all.every((v) => v.value.toString() === STRIPE)).to.equal(true)
    expect(fake.count('auth/approle/login')).to.equal(1)
  })

  it('refuses with ERR_UPSTREAM_REFUSED when a read is still forbidden after logging in again', async () => {
    fake.forced.set(stripe.path, { status: 403, errors: ['1 error occurred:\n\t* permission denied\n\n'] })
    const err = await rejectsWith(vault().get(stripe), 'ERR_UPSTREAM_REFUSED', [
      "vault provider 'vault'",
      'stripe-key',
      'after logging in again',
    ])
    expect(err.message).not.to.match(/hvs\./)
    expect(fake.count('auth/approle/login')).to.equal(2)
    expect(fake.count(stripe.path)).to.equal(2)
  })

  it('refuses with ERR_UPSTREAM_REFUSED when its AppRole login is rejected', async () => {
    writeFileSync(join(dir, 'wrong_secret_id'), 'nope')
    const p = vault({
      auth: { method: 'approle', roleIdFile: files().roleIdFile, secretIdFile: join(dir, 'wrong_secret_id') },
    })
    await rejectsWith(p.get(stripe), 'ERR_UPSTREAM_REFUSED', [
      "vault provider 'vault'",
      'approle login',
      'stripe-key',
    ])
  })

  it('reports a missing auth file as a failed precondition naming the option, not its content', async () => {
    const p = vault({ auth: { method: 'token', tokenFile: join(dir, 'absent') } })
    await rejectsWith(p.get(stripe), 'ERR_FAILED_PRECONDITION', ['token_file', 'ENOENT', 'stripe-key'])
  })

  it('maps 404 to ERR_UPSTREAM_NOT_FOUND (not a misconfiguration code) without echoing the path', async () => {
    const err = await rejectsWith(
      vault().get({ name: 'stripe-key', path: 'secret/data/payments/missing', field: 'api_key' }),
      'ERR_UPSTREAM_NOT_FOUND',
      [],
    )
    expect(err.message).to.equal(
      "secret stripe-key not found in vault provider 'vault' at its configured path",
    )
  })

  it('maps 500 to ERR_UPSTREAM_UNAVAILABLE', async () => {
    fake.forced.set(stripe.path, { status: 500, errors: ['internal error'] })
    await rejectsWith(vault().get(stripe), 'ERR_UPSTREAM_UNAVAILABLE', [
      "vault provider 'vault'",
      'HTTP 500',
      'stripe-key',
    ])
  })

  it('maps a sealed Vault (503) to ERR_UPSTREAM_UNAVAILABLE and says so', async () => {
    fake.sealed = true
    await rejectsWith(vault().get(stripe), 'ERR_UPSTREAM_UNAVAILABLE', [
      "vault provider 'vault' is sealed",
      'stripe-key',
    ])
  })

  it('maps a hanging Vault to ERR_UPSTREAM_TIMEOUT', async () => {
    const p = vault({ timeoutMs: 300 })
    await p.get(stripe) // logged in
    fake.hanging.add(stripe.path)
    await rejectsWith(p.get(stripe), 'ERR_UPSTREAM_TIMEOUT', [
      "vault provider 'vault'",
      '300 ms',
      'stripe-key',
    ])
  })

  it('stops waiting when the caller aborts', async () => {
    fake.hanging.add('*')
    const controller = new AbortController()
    const pending = vault({ timeoutMs: 10_000 }).get(stripe, controller.signal)
    controller.abort()
    await rejectsWith(pending, 'ERR_UPSTREAM_TIMEOUT', ['cancelled', 'stripe-key'])
  })

  it('names a missing field without revealing the data', async () => {
    await rejectsWith(
      vault().get({ ...stripe, field: 'api_secret' }),
      'ERR_FAILED_PRECONDITION',
      ["secret stripe-key in vault provider 'vault' has no field 'api_secret'"],
      ['whsec_1'],
    )
  })
})

describe('providers: aws-secrets-manager', () => {
  let fake: FakeSecretsManager
  const saved: Record<string, string | undefined> = {}
  const ENV = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']
  const OPENAI = 'sk-openai-never-in-messages'
  const providers: AwsSecretsManagerProvider[] = []

  function aws(extra: Partial<AwsSecretsManagerProviderOptions> = {}): AwsSecretsManagerProvider {
    const p = new AwsSecretsManagerProvider({
      name: 'aws',
      region: 'eu-west-1',
      endpoint: fake.url,
      timeoutMs: 3000,
      ...extra,
    })
    providers.push(p)
    return p
  }

  before(() => {
    for (const k of ENV) saved[k] = process.env[k]
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAFAKEFAKEFAKE'
    process.env['AWS_SECRET_ACCESS_KEY'] = 'fake/secret/key'
    delete process.env['AWS_SESSION_TOKEN']
    delete process.env['AWS_PROFILE']
  })
  after(() => {
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
  })
  beforeEach(async () => {
    fake = await startFakeSecretsManager('eu-west-1')
  })
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()))
    await fake.close()
  })

  it('reads a SecretString with its VersionId, signing with SigV4', async () => {
    const versionId = fake.put('prod/openai', { string: OPENAI })
    const got = await aws().get({ name: 'openai-key', secretId: 'prod/openai' })
    expect(got.value.toString()).to.equal(OPENAI)
    expect(got.version).to.equal(versionId)
    const req = fake.requests[0]!
    expect(req.target).to.equal('secretsmanager.GetSecretValue')
    expect(req.authorization).to.match(/^AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE\//)
    expect(req.body).to.deep.equal({ SecretId: 'prod/openai' })
  })

  it('reads a SecretBinary as bytes', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 251, 255])
    fake.put('prod/blob', { binary: bytes })
    expect((await aws().get({ name: 'blob', secretId: 'prod/blob' })).value.equals(bytes)).to.equal(true)
  })

  it('extracts json_key from a JSON SecretString', async () => {
    fake.put('prod/openai', { string: JSON.stringify({ api_key: OPENAI, org: 'org-1' }) })
    const got = await aws().get({ name: 'openai-key', secretId: 'prod/openai', jsonKey: 'api_key' })
    expect(got.value.toString()).to.equal(OPENAI)
  })

  it('passes VersionStage through', async () => {
    const previous = fake.put('prod/openai', { string: 'old-value' })
    fake.put('prod/openai', { string: OPENAI })
    const got = await aws().get({ name: 'openai-key', secretId: 'prod/openai', versionStage: 'AWSPREVIOUS' })
    expect(got.value.toString()).to.equal('old-value')
    expect(got.version).to.equal(previous)
    expect(fake.requests[0]!.body['VersionStage']).to.equal('AWSPREVIOUS')
  })

  it('names a missing json_key without revealing the value', async () => {
    fake.put('prod/openai', { string: JSON.stringify({ api_key: OPENAI }) })
    await rejectsWith(
      aws().get({ name: 'openai-key', secretId: 'prod/openai', jsonKey: 'apiKey' }),
      'ERR_FAILED_PRECONDITION',
      ["secret openai-key in aws-secrets-manager provider 'aws' has no json_key 'apiKey'"],
      [OPENAI],
    )
  })

  it('refuses json_key on a secret that is not JSON, without echoing it', async () => {
    fake.put('prod/openai', { string: OPENAI })
    await rejectsWith(
      aws().get({ name: 'openai-key', secretId: 'prod/openai', jsonKey: 'api_key' }),
      'ERR_FAILED_PRECONDITION',
      ['is not JSON', 'openai-key'],
      [OPENAI],
    )
  })

  it('maps ResourceNotFoundException to ERR_UPSTREAM_NOT_FOUND', async () => {
    await rejectsWith(aws().get({ name: 'openai-key', secretId: 'prod/absent' }), 'ERR_UPSTREAM_NOT_FOUND', [
      "secret openai-key not found in aws-secrets-manager provider 'aws'",
    ])
  })

  it('maps AccessDeniedException to ERR_UPSTREAM_REFUSED', async () => {
    fake.errors.set('prod/openai', {
      status: 400,
      type: 'AccessDeniedException',
      message:
        'User: arn:aws:iam::123456789012:role/kb is not authorized to perform: secretsmanager:GetSecretValue',
    })
    await rejectsWith(aws().get({ name: 'openai-key', secretId: 'prod/openai' }), 'ERR_UPSTREAM_REFUSED', [
      "aws-secrets-manager provider 'aws' refused access to secret openai-key",
    ])
  })

  it('retries ThrottlingException, then maps it to ERR_UPSTREAM_UNAVAILABLE', async () => {
    // the SDK backs off (500 ms base, jittered) between attempts; the deadline leaves room for that
    fake.errors.set('prod/openai', { status: 400, type: 'ThrottlingException', message: 'Rate exceeded' })
    await rejectsWith(
      aws({ maxAttempts: 3, timeoutMs: 15_000 }).get({ name: 'openai-key', secretId: 'prod/openai' }),
      'ERR_UPSTREAM_UNAVAILABLE',
      ['ThrottlingException', 'openai-key'],
    )
    expect(fake.count('prod/openai')).to.be.greaterThan(1)
  })

  it('maps a hanging endpoint to ERR_UPSTREAM_TIMEOUT', async () => {
    fake.hanging.add('prod/openai')
    await rejectsWith(
      aws({ timeoutMs: 300 }).get({ name: 'openai-key', secretId: 'prod/openai' }),
      'ERR_UPSTREAM_TIMEOUT',
      ["aws-secrets-manager provider 'aws'", 'openai-key'],
    )
  })

  it('maps an unreachable endpoint to ERR_UPSTREAM_UNAVAILABLE', async () => {
    const url = fake.url
    await fake.close()
    await rejectsWith(
      aws({ endpoint: url, maxAttempts: 1 }).get({ name: 'openai-key', secretId: 'prod/openai' }),
      'ERR_UPSTREAM_UNAVAILABLE',
      ['openai-key'],
    )
    fake = await startFakeSecretsManager() // for afterEach
  })

  it('createProvider builds either kind', () => {
    expect(
      createProvider({ type: 'aws-secrets-manager', name: 'a', region: 'eu-west-1', timeoutMs: 1000 }).type,
    ).to.equal('aws-secrets-manager')
    const v = createProvider({
      type: 'vault',
      name: 'v',
      address: 'http://127.0.0.1:1',
      timeoutMs: 1000,
      auth: { method: 'token', tokenFile: '/nonexistent' },
    })
    expect(v.type).to.equal('vault')
  })
})
