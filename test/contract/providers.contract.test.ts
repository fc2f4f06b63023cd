import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { BrokerError } from '../../src/errors.js'
import { AwsSecretsManagerProvider, VaultProvider } from '../../src/providers/index.js'

/**
 * The same basic reads as test/providers.test.ts, against a real Vault / AWS account.
 * They check that the fakes speak the real protocol; they skip (pending) unless configured:
 *
 *   VAULT_ADDR, VAULT_TOKEN                 a token that can read the path below
 *   KEYBROKER_VAULT_CONTRACT_PATH           KV v2 API path, default secret/data/keybroker-contract
 *   KEYBROKER_VAULT_CONTRACT_FIELD          a field that exists there, default value
 *   VAULT_NAMESPACE, VAULT_CACERT           optional
 *
 *   KEYBROKER_AWS_CONTRACT=1                plus credentials in the SDK default chain and AWS_REGION
 *   KEYBROKER_AWS_CONTRACT_SECRET_ID        default keybroker-contract
 *   KEYBROKER_AWS_CONTRACT_JSON_KEY         optional: a key of the JSON SecretString
 */
const env = process.env

describe('contract: real Vault', () => {
  let dir: string
  let vault: VaultProvider
  const path = env['KEYBROKER_VAULT_CONTRACT_PATH'] ?? 'secret/data/keybroker-contract'
  const field = env['KEYBROKER_VAULT_CONTRACT_FIELD'] ?? 'value'

  before(function () {
    if (!env['VAULT_ADDR'] || !env['VAULT_TOKEN']) return this.skip()
    dir = mkdtempSync(join(tmpdir(), 'kb-contract-'))
    writeFileSync(join(dir, 'token'), env['VAULT_TOKEN'], { mode: 0o600 })
    vault = new VaultProvider({
      name: 'vault-contract',
      address: env['VAULT_ADDR'],
      timeoutMs: 10_000,
      auth: { method: 'token', tokenFile: join(dir, 'token') },
      ...(env['VAULT_NAMESPACE'] ? { namespace: env['VAULT_NAMESPACE'] } : {}),
      ...(env['VAULT_CACERT'] ? { caPem: readFileSync(env['VAULT_CACERT'], 'utf8') } : {}),
    })
  })
  after(async () => {
    await vault?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('reads a KV v2 field with its version', async () => {
    const got = await vault.get({ name: 'contract', path, field })
    expect(got.value.length).to.be.greaterThan(0)
    expect(got.version).to.match(/^\d+$/)
  })

  it('reads the whole KV v2 data object as JSON', async () => {
    const got = await vault.get({ name: 'contract', path })
    expect(JSON.parse(got.value.toString())).to.have.property(field)
  })

  it('maps a missing path to ERR_UPSTREAM_NOT_FOUND', async () => {
    const err = await vault
      .get({ name: 'contract', path: `${path}-absent-${Date.now()}` })
      .catch((e: unknown) => e)
    expect(err).to.be.instanceOf(BrokerError)
    expect((err as BrokerError).code).to.equal('ERR_UPSTREAM_NOT_FOUND')
  })

  it('names a missing field', async () => {
    const err = await vault.get({ name: 'contract', path, field: 'no-such-field' }).catch((e: unknown) => e)
    expect((err as BrokerError).code).to.equal('ERR_FAILED_PRECONDITION')
    expect((err as BrokerError).message).to.include("no field 'no-such-field'")
  })
})

describe('contract: real AWS Secrets Manager', () => {
  let aws: AwsSecretsManagerProvider
  const secretId = env['KEYBROKER_AWS_CONTRACT_SECRET_ID'] ?? 'keybroker-contract'
  const jsonKey = env['KEYBROKER_AWS_CONTRACT_JSON_KEY']

  before(function () {
    if (env['KEYBROKER_AWS_CONTRACT'] !== '1') return this.skip()
    aws = new AwsSecretsManagerProvider({
      name: 'aws-contract',
      region: env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
      timeoutMs: 10_000,
    })
  })
  after(async () => {
    await aws?.close()
  })

  it('reads a secret with its VersionId', async () => {
    const got = await aws.get({ name: 'contract', secretId, ...(jsonKey ? { jsonKey } : {}) })
    expect(got.value.length).to.be.greaterThan(0)
    expect(got.version).to.be.a('string')
  })

  it('passes VersionStage AWSCURRENT', async () => {
    const got = await aws.get({ name: 'contract', secretId, versionStage: 'AWSCURRENT' })
    expect(got.value.length).to.be.greaterThan(0)
  })

  it('maps a missing secret to ERR_UPSTREAM_NOT_FOUND', async () => {
    const err = await aws
      .get({ name: 'contract', secretId: `${secretId}-absent-${Date.now()}` })
      .catch((e: unknown) => e)
    expect(err).to.be.instanceOf(BrokerError)
    // an identity without secretsmanager:GetSecretValue on the absent ARN gets AccessDenied instead
    expect((err as BrokerError).code).to.be.oneOf(['ERR_UPSTREAM_NOT_FOUND', 'ERR_UPSTREAM_REFUSED'])
  })
})
