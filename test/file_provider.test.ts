import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { status } from '@grpc/grpc-js'
import { expect } from 'chai'
import { parseConfig } from '../src/config/index.js'
import type { FetchSecretRequest } from '../src/generated/keybroker/v1/FetchSecretRequest.js'
import type { FetchSecretResponse__Output } from '../src/generated/keybroker/v1/FetchSecretResponse.js'
import { FileProvider, SecretResolver } from '../src/providers/index.js'
import {
  BILLING,
  type Call,
  expectBrokerError,
  expectGrpcError,
  TestBroker,
  unary,
} from './fixtures/broker.js'

const KEY = 'sk_file_provider_never_logged_5150'
const OTHER = 'sk_file_provider_other_never_logged_8080'

describe('file provider', () => {
  let dir: string
  let file: string
  let provider: FileProvider

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kb-file-provider-'))
    file = join(dir, 'secrets.json')
    writeFileSync(file, JSON.stringify({ api_key: KEY, other: OTHER }), { mode: 0o600 })
    provider = new FileProvider({ name: 'local', path: file })
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('returns one field, with a short content hash as version', async () => {
    const got = await provider.get({ name: 'demo-key', field: 'api_key' })
    expect(got.value.toString()).to.equal(KEY)
    expect(got.version).to.match(/^[0-9a-f]{12}$/)
    expect(provider.type).to.equal('file')
  })

  it('returns the whole object as JSON when no field is set', async () => {
    const got = await provider.get({ name: 'all' })
    expect(JSON.parse(got.value.toString())).to.deep.equal({ api_key: KEY, other: OTHER })
  })

  it('reads the file again on each call: a new content means a new value and version', async () => {
    const first = await provider.get({ name: 'demo-key', field: 'api_key' })
    writeFileSync(file, JSON.stringify({ api_key: OTHER }))
    const second = await provider.get({ name: 'demo-key', field: 'api_key' })
    expect(second.value.toString()).to.equal(OTHER)
    expect(second.version).to.not.equal(first.version)
  })

  for (const mode of [0o640, 0o604, 0o644]) {
    it(`refuses a file with mode ${mode.toString(8)}, with a chmod hint`, async () => {
      chmodSync(file, mode)
      const err = await expectBrokerError(provider.get({ name: 'demo-key', field: 'api_key' }))
      expect(err.code).to.equal('ERR_FAILED_PRECONDITION')
      expect(err.message).to.equal(
        `file provider 'local' refuses ${file}: mode ${mode.toString(8)} lets other users read it; run \`chmod 600 ${file}\``,
      )
    })
  }

  it('accepts mode 0400 (a read-only mount)', async () => {
    chmodSync(file, 0o400)
    expect((await provider.get({ name: 'demo-key', field: 'api_key' })).value.toString()).to.equal(KEY)
  })

  it('a missing field names the field, not a value', async () => {
    const err = await expectBrokerError(provider.get({ name: 'demo-key', field: 'nope' }))
    expect(err.code).to.equal('ERR_FAILED_PRECONDITION')
    expect(err.message).to.equal(`secret demo-key in file provider 'local' has no field 'nope'`)
  })

  it('a missing file says so', async () => {
    rmSync(file)
    const err = await expectBrokerError(provider.get({ name: 'demo-key', field: 'api_key' }))
    expect(err.code).to.equal('ERR_FAILED_PRECONDITION')
    expect(err.message).to.equal(`file provider 'local' cannot read secret demo-key: ${file} does not exist`)
  })

  it('invalid JSON is refused without quoting the content', async () => {
    writeFileSync(file, `api_key=${KEY}\n`)
    const err = await expectBrokerError(provider.get({ name: 'demo-key', field: 'api_key' }))
    expect(err.code).to.equal('ERR_FAILED_PRECONDITION')
    expect(err.message).to.equal(
      `secret demo-key in file provider 'local': ${file} is not valid JSON (expected an object of name → string value)`,
    )
    expect(err.message).to.not.include(KEY)
  })

  it('a JSON array is not an object', async () => {
    writeFileSync(file, JSON.stringify([KEY]))
    const err = await expectBrokerError(provider.get({ name: 'demo-key', field: 'api_key' }))
    expect(err.message).to.equal(
      `secret demo-key in file provider 'local' is not a JSON object, so field cannot apply`,
    )
  })

  it('a directory is not a regular file', async () => {
    const sub = join(dir, 'mount')
    mkdirSync(sub, { mode: 0o700 })
    const err = await expectBrokerError(
      new FileProvider({ name: 'local', path: sub }).get({ name: 'demo-key' }),
    )
    expect(err.message).to.equal(
      `file provider 'local' cannot read secret demo-key: ${sub} is not a regular file`,
    )
  })

  it('through the SecretResolver: cached until the TTL, then re-read', async () => {
    let now = 1_000_000
    const resolver = new SecretResolver({
      providers: { local: { type: 'file', name: 'local', path: file } },
      secrets: { 'demo-key': { provider: 'local', ref: { field: 'api_key' } } },
      cache: { ttlMs: 60_000 },
      clock: { now: () => now },
    })
    const first = await resolver.get('demo-key')
    expect(first).to.include({ cache: 'miss', provider: 'local', providerType: 'file' })
    writeFileSync(file, JSON.stringify({ api_key: OTHER }))
    expect((await resolver.get('demo-key')).value.toString()).to.equal(KEY)
    now += 61_000
    const third = await resolver.get('demo-key')
    expect(third.cache).to.equal('miss')
    expect(third.value.toString()).to.equal(OTHER)
  })
})

describe('file provider in keybroker.yaml', () => {
  const base = (body: string) => `issuer: https://keybroker.test\n${body}`

  it('resolves path against the config folder', () => {
    const config = parseConfig(
      base(
        `providers:\n  local: { type: file, path: secrets.json }\nsecrets:\n  demo-key: { provider: local, field: api_key }\n`,
      ),
      '/etc/keybroker/keybroker.yaml',
    )
    expect(config.providers['local']).to.deep.equal({ type: 'file', path: '/etc/keybroker/secrets.json' })
  })

  it('requires path on the provider', () => {
    expect(() => parseConfig(base('providers:\n  local: { type: file }\n'), '/x/keybroker.yaml')).to.throw(
      'providers.local.path: is required',
    )
  })

  it('refuses per-secret locations that a file provider would ignore', () => {
    let message = ''
    try {
      parseConfig(
        base(
          'providers:\n  local: { type: file, path: s.json }\nsecrets:\n  k: { provider: local, path: other.json, json_key: a }\n',
        ),
        '/x/keybroker.yaml',
      )
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).to.include(
      'secrets.k.path: does not apply to a file provider (the file is providers.local.path; pick a key with field)',
    )
    expect(message).to.include('secrets.k.json_key: does not apply to a file provider')
  })
})

describe('FetchSecret from a file provider (e2e)', () => {
  let t: TestBroker
  let secretsDir: string
  let fetch: Call<FetchSecretRequest, FetchSecretResponse__Output>

  before(async () => {
    secretsDir = mkdtempSync(join(tmpdir(), 'kb-file-e2e-'))
    const file = join(secretsDir, 'secrets.json')
    writeFileSync(file, JSON.stringify({ api_key: KEY }), { mode: 0o600 })
    t = await TestBroker.start({
      extraYaml: `providers:\n  local: { type: file, path: ${file} }\nsecrets:\n  demo-key: { provider: local, field: api_key }\n  missing-field: { provider: local, field: nope }\n`,
      grantsYaml: `  - name: billing-files\n    match: { spiffe_id: "${BILLING}" }\n    secrets: [demo-key, missing-field]\n`,
    })
    fetch = unary(t.brokerClient(await t.pki.spiffe('billing', BILLING)), 'FetchSecret')
  })
  after(async () => {
    await t?.close()
    rmSync(secretsDir, { recursive: true, force: true })
  })

  it('serves the value with a content-hash version; the audit row names provider, never the value', async () => {
    const res = await fetch({ name: 'demo-key' })
    expect(res.value.toString()).to.equal(KEY)
    expect(res.version).to.match(/^[0-9a-f]{12}$/)
    const row = (await t.broker.storage.reader.byId(res.exchange_id)) as unknown as Record<string, unknown>
    expect(row['decision']).to.equal('allow')
    expect(row['secret_name']).to.equal('demo-key')
    expect(String(row['detail'])).to.include('"provider":"local"')
  })

  it('a missing field → FAILED_PRECONDITION naming the field', async () => {
    const err = await expectGrpcError(fetch({ name: 'missing-field' }))
    expect(err.code).to.equal(status.FAILED_PRECONDITION)
    expect(err.details).to.equal(`secret missing-field in file provider 'local' has no field 'nope'`)
  })

  it('never writes the value to the audit log or the logs', async () => {
    const rows = JSON.stringify(await t.broker.storage.reader.listPage({}, 1_000_000))
    expect(rows).to.not.include(KEY)
    expect(t.logs.join('')).to.not.include(KEY)
  })
})
