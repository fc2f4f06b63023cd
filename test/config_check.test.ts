import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { parseAllDocuments } from 'yaml'
import { BILLING, baseConfigYaml, REPO_ROOT, runCli } from './fixtures/broker.js'
import { TestPki } from './fixtures/pki.js'

/** Every keybroker config shipped as an example: files in deploy/, the ConfigMap, and yaml blocks in READMEs. */
function exampleConfigs(): Array<{ name: string; text: string }> {
  const found: Array<{ name: string; text: string }> = []
  const deploy = join(REPO_ROOT, 'deploy')
  for (const file of readdirSync(deploy).filter((f) => f.endsWith('.yaml')))
    found.push({ name: `deploy/${file}`, text: readFileSync(join(deploy, file), 'utf8') })
  for (const file of readdirSync(join(deploy, 'kubernetes'))) {
    for (const doc of parseAllDocuments(readFileSync(join(deploy, 'kubernetes', file), 'utf8'))) {
      const m = doc.toJS() as { kind?: string; data?: Record<string, string> }
      if (m?.kind !== 'ConfigMap') continue
      // A broker config names its issuer; other YAML (the sidecar's agent.yaml) is checked by its own test.
      for (const [key, text] of Object.entries(m.data ?? {}))
        if (key.endsWith('.yaml') && /^issuer:/m.test(text)) found.push({ name: `deploy/kubernetes/${file} data.${key}`, text })
    }
  }
  for (const readme of ['README.md', 'deploy/README.md']) {
    const path = join(REPO_ROOT, readme)
    if (!existsSync(path)) continue
    const blocks = [...readFileSync(path, 'utf8').matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((m) => m[1]!)
    // A full config names its issuer at the top level; fragments (one grant, one section) are not checked.
    for (const [i, text] of blocks.filter((b) => /^issuer:/m.test(b)).entries())
      found.push({ name: `${readme} yaml block ${i + 1}`, text })
  }
  return found
}

describe('keybroker config check', () => {
  let dir: string
  let pki: TestPki
  let valid: string
  const write = (name: string, text: string) => {
    const file = join(dir, name)
    writeFileSync(file, text)
    return file
  }
  const check = (...args: string[]) => runCli(['config', 'check', ...args])

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-check-'))
    pki = await TestPki.create(join(dir, 'pki'))
    valid = baseConfigYaml(dir, pki)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('accepts a valid config', async () => {
    const file = write('valid.yaml', valid)
    const res = await check(file)
    expect(res.stdout).to.equal(`${file}: OK (2 grants)\n`)
    expect(res.code).to.equal(0)
  })

  it('accepts every example config shipped in deploy/ and the READMEs', async () => {
    const examples = exampleConfigs()
    expect(examples.map((e) => e.name)).to.include.members([
      'deploy/keybroker.example.yaml',
      'deploy/kubernetes/configmap.yaml data.keybroker.yaml',
    ])
    for (const [i, example] of examples.entries()) {
      // Their TLS and token files exist only where they are deployed: schema and references are checked here.
      const res = await check('--no-files', write(`example-${i}.yaml`, example.text))
      expect(res.stderr, example.name).to.equal('')
      expect(res.code, example.name).to.equal(0)
    }
  })

  it('reports a grant naming an undefined secret', async () => {
    const res = await check(write('undefined-secret.yaml', `${valid}    secrets: [stripe-key]\n`))
    expect(res.code).to.equal(1)
    expect(res.stderr).to.include('grants[1].secrets[0]: secret "stripe-key" is not defined under secrets')
  })

  it('reports a route whose secret is undefined', async () => {
    const routes = 'routes:\n  stripe: { upstream: "https://api.stripe.com", secret: stripe-key }\n'
    const res = await check(write('route.yaml', `${routes}${valid}`))
    expect(res.code).to.equal(1)
    expect(res.stderr).to.include('routes.stripe.secret: secret "stripe-key" is not defined under secrets')
  })

  it('reports a duplicate grant name', async () => {
    const dup = `  - name: billing\n    match: { spiffe_id: "spiffe://example.org/other" }\n`
    const res = await check(write('dup.yaml', `${valid}${dup}`))
    expect(res.code).to.equal(1)
    expect(res.stderr).to.include('grants[2].name: duplicate grant name "billing"')
  })

  it('reports a glob in the middle of a SPIFFE ID', async () => {
    const glob = `  - name: middle\n    match: { spiffe_id: "spiffe://example.org/ns/*/sa/billing" }\n`
    const res = await check(write('glob.yaml', `${valid}${glob}`))
    expect(res.code).to.equal(1)
    expect(res.stderr).to.include(
      'grants[2].match.spiffe_id: expected a SPIFFE ID (spiffe://trust-domain/path), optionally ending in /* ; a * anywhere else is not allowed',
    )
  })

  it('reports an unreadable TLS file', async () => {
    const unreadable = join(dir, 'unreadable-key.pem')
    writeFileSync(unreadable, 'x', { mode: 0o000 })
    const missing = join(dir, 'missing.pem')
    const text = valid.replace(pki.server.key, unreadable).replace(pki.server.cert, missing)
    const res = await check(write('tls.yaml', text))
    expect(res.code).to.equal(1)
    expect(res.stderr).to.include(`tls.cert_file: cannot read ${missing}: file not found`)
    // root reads a mode-000 file anyway; the problem only exists for an ordinary user.
    if (process.getuid?.() !== 0)
      expect(res.stderr).to.include(`tls.key_file: cannot read ${unreadable}: permission denied`)
  })

  it('prints every problem at once, schema and references together, each with its key path', async () => {
    const text = `${valid.replace('write_timeout', 'write_timeoutz')}  - name: billing
    match: { spiffe_id: "spiffe://example.org/a/*/b" }
    secrets: [nowhere]
    tokens: [{ audience: x, max_ttl: 15 minutes }]
`
    const res = await check(write('many.yaml', text))
    expect(res.code).to.equal(1)
    expect(res.stderr.split('\n').filter((l) => l.startsWith('  '))).to.deep.equal([
      '  audit: unknown key "write_timeoutz" (check the spelling; see deploy/keybroker.example.yaml)',
      '  grants[2].match.spiffe_id: expected a SPIFFE ID (spiffe://trust-domain/path), optionally ending in /* ; a * anywhere else is not allowed',
      '  grants[2].tokens[0].max_ttl: "15 minutes" is not a duration (use e.g. 30s, 5m, 1h, 24h, 7d)',
      '  grants[2].name: duplicate grant name "billing"',
      '  grants[2].secrets[0]: secret "nowhere" is not defined under secrets',
    ])
    expect(res.stderr).to.match(/many\.yaml: 5 problems\n/)
  })

  describe('--explain', () => {
    let file: string
    before(() => {
      const oidc = `trust:
  oidc:
    - { name: k8s, preset: kubernetes, issuer: "https://kubernetes.default.svc", audience: keybroker }
`
      const grant = `  - name: agents-k8s
    match: { issuer: k8s, attributes: { namespace: agents } }
    tokens: [{ audience: search-api, scopes: ["search:read"] }]
`
      file = write('explain.yaml', `${oidc}${valid}${grant}`)
    })

    it('shows the matching grant and what it allows for an mTLS identity', async () => {
      const res = await check(file, '--explain', '--spiffe-id', BILLING, '--audience', 'payments-api')
      expect(res.code).to.equal(0)
      expect(res.stdout).to.equal(
        [
          `identity: mtls ${BILLING}`,
          'grant "billing" (grants[0]) allows:',
          '  token  audience=payments-api scopes=[payments:read payments:write] default_ttl=5m max_ttl=15m',
          'token for audience=payments-api scopes=[]: ALLOWED by grant "billing": scopes=[payments:read payments:write] ttl=5m',
          '',
        ].join('\n'),
      )
    })

    it('says REFUSED with the rule that failed, and exits 1', async () => {
      const res = await check(file, '--explain', '--spiffe-id', BILLING, '--audience', 'search-api')
      expect(res.code).to.equal(1)
      expect(res.stdout).to.include(
        `token for audience=search-api scopes=[]: REFUSED (ERR_AUDIENCE_NOT_GRANTED) audience "search-api" is not granted to ${BILLING}`,
      )
    })

    it('says when no grant matches (default deny)', async () => {
      const res = await check(file, '--explain', '--spiffe-id', 'spiffe://example.org/nobody')
      expect(res.code).to.equal(1)
      expect(res.stdout).to.include(
        'no grant matches: every request from this identity is refused (default deny)',
      )
    })

    it('explains a workload-token identity by issuer and attributes', async () => {
      const res = await check(
        file,
        '--explain',
        '--subject',
        'system:serviceaccount:agents:research',
        '--issuer',
        'k8s',
        '--attribute',
        'namespace=agents',
        '--audience',
        'search-api',
        '--scope',
        'search:read',
      )
      expect(res.code).to.equal(0)
      expect(res.stdout).to.include('grant "agents-k8s" (grants[2]) allows:')
      expect(res.stdout).to.include('ALLOWED by grant "agents-k8s": scopes=[search:read] ttl=5m')
    })

    it('refuses an identity argument that is not a SPIFFE ID', async () => {
      const res = await check(file, '--explain', '--spiffe-id', 'spiffe://example.org/a/*')
      expect(res.code).to.equal(2)
      expect(res.stderr).to.include('--spiffe-id: "spiffe://example.org/a/*" is not a SPIFFE ID')
    })
  })
})
