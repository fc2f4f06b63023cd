import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { pino } from 'pino'
import { parse, stringify } from 'yaml'
import { checkConfig, loadConfig, parseConfig } from '../src/config/index.js'
import { Policy } from '../src/policy/policy.js'
import { startBroker } from '../src/server/app.js'
import { ADMIN, BILLING, baseConfigYaml, runCli, serverConfigYaml } from './fixtures/broker.js'
import { exampleConfigs } from './fixtures/example_configs.js'
import { TestPki } from './fixtures/pki.js'

type Yaml = Record<string, unknown>

/**
 * Issue 20, "one config validator": the zod schema decides what a config is, so `keybroker config
 * check` and `keybroker serve` accept exactly the same files. Every config shape the suite uses runs
 * through both paths here: `checkConfig` (what the CLI's `config check` calls) and
 * `startBroker(loadConfig(file))` (what `serve` calls).
 */
describe('config: config check and serve accept exactly the same configs', function () {
  this.timeout(120_000)
  let dir: string
  let pki: TestPki
  let n = 0

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-one-validator-'))
    pki = await TestPki.create(join(dir, 'pki'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  /** A fresh folder for one config (its own database and KEK). */
  function caseDir(): string {
    const d = join(dir, `case-${++n}`)
    mkdirSync(d, { mode: 0o700 })
    return d
  }

  function writeConfig(d: string, text: string): string {
    const file = join(d, 'keybroker.yaml')
    writeFileSync(file, text)
    return file
  }

  /** Both paths on one file: check's problems, and serve's refusal (or undefined when it served). */
  async function bothPaths(file: string): Promise<{ problems: string[]; serveError?: string }> {
    const { problems } = checkConfig(file)
    let serveError: string | undefined
    try {
      const broker = await startBroker(loadConfig(file), { logger: pino({ level: 'silent' }) })
      await broker.close()
    } catch (err) {
      serveError = (err as Error).message
    }
    return { problems, serveError }
  }

  /**
   * Assert agreement; a refusal must name the same key path on both sides, as the YAML spells it,
   * and (when given) say `problem`.
   */
  async function expectAgreement(
    name: string,
    file: string,
    expected: 'accepted' | 'refused',
    problem?: string,
  ) {
    const { problems, serveError } = await bothPaths(file)
    const checkSays = problems.length === 0 ? 'accepted' : 'refused'
    const serveSays = serveError === undefined ? 'accepted' : 'refused'
    expect(
      { check: checkSays, serve: serveSays },
      `${name}\ncheck: ${problems.join('; ')}\nserve: ${serveError}`,
    ).to.deep.equal({ check: expected, serve: expected })
    if (expected === 'refused') {
      if (problem !== undefined) {
        expect(problems.join('\n'), name).to.include(problem)
        expect(serveError, name).to.include(problem)
      }
      const keyPath = problems[0]!.slice(0, problems[0]!.indexOf(': '))
      expect(serveError, name).to.include(keyPath)
      // keys as they appear in YAML: never the verifier's camelCase option names, unless the YAML wrote one
      const written = readFileSync(file, 'utf8')
      for (const option of ['jwksUri', 'leewaySeconds', 'maxTokenAgeSeconds', 'fetchTimeoutMs', 'caPem'])
        if (!written.includes(option))
          expect(`${problems.join('\n')}\n${serveError}`, name).not.to.include(option)
    }
    return { problems, serveError }
  }

  /** An example config moved onto this machine: loopback listeners, the test PKI, files in `d`. */
  function relocate(text: string, d: string): string {
    const config = parse(text) as Yaml
    const file = (name: string, content: string) => {
      const path = join(d, name)
      writeFileSync(path, content, { mode: 0o600 })
      return path
    }
    config.listen = { grpc: '127.0.0.1:0', http: '127.0.0.1:0' }
    if (config.tls)
      config.tls = { cert_file: pki.server.cert, key_file: pki.server.key, client_ca_files: [pki.caFile] }
    // the database onto this machine: storage.path (or the deprecated audit.path an example may still use)
    // (a PostgreSQL example is moved onto this machine's SQLite: its server is not reachable here;
    // its password and CA files are checked in the "as shipped" case)
    const storage = config.storage as Yaml | undefined
    if (storage?.driver === 'postgres') config.storage = { path: join(d, 'keybroker.db') }
    else if (storage) config.storage = { ...storage, path: join(d, 'keybroker.db') }
    else config.audit = { ...(config.audit as Yaml), path: join(d, 'keybroker.db') }
    config.keys = { ...(config.keys as Yaml), kek_file: join(d, 'kek') }
    for (const issuer of ((config.trust as Yaml | undefined)?.oidc as Yaml[] | undefined) ?? [])
      if (issuer.ca_file) issuer.ca_file = pki.caFile
    for (const provider of Object.values((config.providers as Record<string, Yaml>) ?? {})) {
      if (provider.ca_file) provider.ca_file = pki.caFile
      if (provider.type === 'file') provider.path = file('secrets.json', '{"k":"v"}')
      const auth = provider.auth as Yaml | undefined
      if (auth?.method === 'token' || auth?.method === 'kubernetes')
        auth.token_file = file('vault-token', 't')
      if (auth?.method === 'approle') {
        auth.role_id_file = file('role-id', 'r')
        auth.secret_id_file = file('secret-id', 's')
      }
    }
    for (const route of Object.values((config.routes as Record<string, Yaml>) ?? {}))
      if (route.ca_file) route.ca_file = pki.caFile
    return stringify(config)
  }

  const trust = (entry: string) => `trust:\n  oidc:\n    - ${entry}\n`

  it('review: config check refuses an http:// issuer that serve refuses, naming trust.oidc[0].issuer', async () => {
    const d = caseDir()
    const file = writeConfig(
      d,
      baseConfigYaml(d, pki, {
        extraYaml: trust('{ name: k8s, issuer: "http://kubernetes.default.svc", audience: keybroker }'),
      }),
    )
    const line =
      'trust.oidc[0].issuer: "http://kubernetes.default.svc" must be an https:// URL when jwks_uri is not set (the keys are discovered from it)'
    const res = await runCli(['config', 'check', file])
    expect(res.code).to.equal(1)
    expect(res.stderr).to.include(line)
    const { serveError } = await expectAgreement('http issuer', file, 'refused')
    expect(serveError).to.include(line)
  })

  it('review: config check refuses an http:// jwks_uri that serve refuses, naming trust.oidc[0].jwks_uri', async () => {
    const d = caseDir()
    const entry =
      '{ name: k8s, issuer: "https://k8s.test", jwks_uri: "http://k8s.test/jwks", audience: keybroker }'
    const file = writeConfig(d, baseConfigYaml(d, pki, { extraYaml: trust(entry) }))
    const line =
      'trust.oidc[0].jwks_uri: "http://k8s.test/jwks" must be an https:// URL (keys fetched over plain http could be swapped by anyone on the path)'
    const res = await runCli(['config', 'check', file])
    expect(res.code).to.equal(1)
    expect(res.stderr).to.include(line)
    expect(res.stderr).not.to.include('jwksUri')
    const { serveError } = await expectAgreement('http jwks_uri', file, 'refused')
    expect(serveError).to.include(line)
  })

  const variants: Array<{
    name: string
    extraYaml?: string | ((p: TestPki) => string)
    grantsYaml?: string
    /** Applied to the whole text, for sections baseConfigYaml already has. */
    edit?: (yaml: string) => string
    expected: 'accepted' | 'refused'
    /** What both must say for a refusal. */
    problem?: string
  }> = [
    { name: 'baseConfigYaml as is', expected: 'accepted' },
    {
      name: 'OIDC issuers: discovery, jwks_uri, attribute mappings (dotted, pointer, typed), every algorithm',
      extraYaml: (p) => `trust:
  oidc:
    - { name: k8s, preset: kubernetes, issuer: "https://k8s.test", audience: keybroker, ca_file: ${p.caFile} }
    - name: corp
      issuer: "http://corp.test"
      jwks_uri: "https://corp.test/jwks"
      audience: keybroker
      algorithms: [RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519]
      leeway: 60s
      max_token_age: 1h
      attributes: { team.name: team, /kubernetes.io/namespace: ns, level: { name: level, types: [number, boolean] } }`,
      edit: (yaml) =>
        yaml.replace(`admins: ["${ADMIN}"]`, `admins: ["${ADMIN}", { issuer: corp, subject: ops }]`),
      grantsYaml: `  - name: corp-team
    match: { issuer: corp, attributes: { team: "*" } }
    tokens: [{ audience: corp-api, max_ttl: 2m }]`,
      expected: 'accepted',
    },
    {
      name: 'trust: HS256 in algorithms',
      extraYaml: trust('{ name: a, issuer: "https://a.test", audience: k, algorithms: [HS256] }'),
      expected: 'refused',
      problem: 'trust.oidc[0].algorithms[0]: "HS256" is not allowed',
    },
    {
      name: 'trust: alg none',
      extraYaml: trust('{ name: a, issuer: "https://a.test", audience: k, algorithms: [none] }'),
      expected: 'refused',
      problem: 'trust.oidc[0].algorithms[0]: "none" is not allowed',
    },
    {
      name: 'trust: leeway above 60s',
      extraYaml: trust('{ name: a, issuer: "https://a.test", audience: k, leeway: 61s }'),
      expected: 'refused',
      problem: 'trust.oidc[0].leeway: leeway must be at most 60s',
    },
    {
      name: 'trust: one issuer trusted twice',
      extraYaml: `trust:\n  oidc:\n    - { name: a, issuer: "https://a.test", audience: k }\n    - { name: b, issuer: "https://a.test", audience: k }\n`,
      expected: 'refused',
      problem: 'trust.oidc[1].issuer: "https://a.test" is trusted twice',
    },
    {
      name: 'trust: camelCase key',
      extraYaml: trust('{ name: a, issuer: "https://a.test", audience: k, jwksUri: "https://a.test/j" }'),
      expected: 'refused',
      problem: 'trust.oidc[0]: unknown key "jwksUri"',
    },
    {
      name: 'trust: attribute key not a claim path',
      extraYaml: trust('{ name: a, issuer: "https://a.test", audience: k, attributes: { "a..b": x } }'),
      expected: 'refused',
      problem: 'trust.oidc[0].attributes.a..b: is not a claim path',
    },
    {
      name: 'trust: ca_file that holds no certificate',
      extraYaml: (p) => trust(`{ name: a, issuer: "https://a.test", audience: k, ca_file: ${p.server.key} }`),
      expected: 'refused',
      problem: 'trust.oidc[0].ca_file:',
    },
    {
      name: 'admins: bare trust-domain SPIFFE ID',
      edit: (yaml) => yaml.replace(`admins: ["${ADMIN}"]`, 'admins: ["spiffe://example.org"]'),
      expected: 'refused',
      problem: 'admins[0]: expected a SPIFFE ID',
    },
    {
      name: 'grants: bare trust-domain SPIFFE ID',
      grantsYaml: '  - name: bare\n    match: { spiffe_id: "spiffe://example.org" }',
      expected: 'refused',
      problem: 'grants[2].match.spiffe_id: expected a SPIFFE ID',
    },
    {
      name: 'grants: max_ttl only (2m), below the 5m default_ttl',
      grantsYaml:
        '  - name: short\n    match: { spiffe_id: "spiffe://example.org/short" }\n    tokens: [{ audience: s, max_ttl: 2m }]',
      expected: 'accepted',
    },
    {
      name: 'grants: a written default_ttl above max_ttl',
      grantsYaml:
        '  - name: short\n    match: { spiffe_id: "spiffe://example.org/short" }\n    tokens: [{ audience: s, default_ttl: 5m, max_ttl: 2m }]',
      expected: 'refused',
      problem: 'grants[2].tokens[0].default_ttl: is longer than max_ttl',
    },
  ]

  for (const variant of variants) {
    it(`baseConfigYaml + ${variant.name}: ${variant.expected} by both`, async () => {
      const d = caseDir()
      const extraYaml = typeof variant.extraYaml === 'function' ? variant.extraYaml(pki) : variant.extraYaml
      const text = baseConfigYaml(d, pki, { extraYaml, grantsYaml: variant.grantsYaml })
      const file = writeConfig(d, variant.edit ? variant.edit(text) : text)
      await expectAgreement(variant.name, file, variant.expected, variant.problem)
    })
  }

  it('serverConfigYaml + a policy (the header every other test config uses): accepted by both', async () => {
    const d = caseDir()
    const file = writeConfig(
      d,
      `${serverConfigYaml(d, pki)}admins: ["${ADMIN}"]
secrets:
  k: { provider: files, field: k }
providers:
  files: { type: file, path: ${join(d, 'secrets.json')} }
  vault: { type: vault, address: "https://127.0.0.1:8200", auth: { method: token, token_file: ${join(d, 'vault-token')} } }
  aws: { type: aws-secrets-manager, region: eu-west-1, endpoint: "https://127.0.0.1:4566" }
routes:
  r: { upstream: "https://127.0.0.1:9", secret: k, ca_file: ${pki.caFile} }
grants:
  - name: billing
    match: { spiffe_id: "${BILLING}" }
    tokens: [{ audience: "proxy:r", scopes: ["GET /v1/*"] }]
    secrets: [k]
`,
    )
    writeFileSync(join(d, 'secrets.json'), '{"k":"v"}', { mode: 0o600 })
    writeFileSync(join(d, 'vault-token'), 't', { mode: 0o600 })
    await expectAgreement('serverConfigYaml with providers and routes', file, 'accepted')
  })

  it('every example config in deploy/ and the READMEs, moved onto this machine: accepted by both', async () => {
    const examples = exampleConfigs()
    expect(examples.map((e) => e.name)).to.include('deploy/keybroker.example.yaml')
    for (const example of examples) {
      const d = caseDir()
      await expectAgreement(example.name, writeConfig(d, relocate(example.text, d)), 'accepted')
    }
  })

  it('every example config as shipped (its files absent here): refused by both, naming the same key', async () => {
    for (const example of exampleConfigs()) {
      const d = caseDir()
      const config = parse(example.text) as Yaml
      // keep the shipped file paths, but do not bind the shipped ports
      config.listen = { grpc: '127.0.0.1:0', http: '127.0.0.1:0' }
      if (!config.tls) continue // nothing on disk to miss
      await expectAgreement(example.name, writeConfig(d, stringify(config)), 'refused')
    }
  })
})

describe('config: a token grant with only max_ttl', () => {
  const policyOf = (tokensYaml: string) =>
    new Policy(
      parseConfig(
        `issuer: https://keybroker.test
grants:
  - name: g
    match: { spiffe_id: "spiffe://example.org/w" }
    tokens: [${tokensYaml}]
`,
        '/test/keybroker.yaml',
      ),
    )
  const identity = {
    subject: 'spiffe://example.org/w',
    method: 'mtls' as const,
    issuer: 'spiffe://example.org',
    attributes: {},
  }
  const ttlFor = (tokensYaml: string) =>
    policyOf(tokensYaml).evaluateTokenRequest(identity, { audience: 'a', scopes: [], ttlSeconds: 0 })
      .ttlSeconds

  it('review: max_ttl: 2m alone is accepted, and a request for ttl 0 gets 2m', () => {
    expect(ttlFor('{ audience: a, max_ttl: 2m }')).to.equal(120)
  })

  it('without default_ttl the default is min(5m, max_ttl)', () => {
    expect(ttlFor('{ audience: a, max_ttl: 10m }')).to.equal(300)
    expect(ttlFor('{ audience: a }')).to.equal(300)
  })

  it('a default_ttl the operator wrote above max_ttl is refused, naming it', () => {
    expect(() => policyOf('{ audience: a, default_ttl: 5m, max_ttl: 2m }')).to.throw(
      'grants[0].tokens[0].default_ttl: is longer than max_ttl',
    )
  })
})
