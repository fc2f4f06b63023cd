import { execFile } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'chai'
import { build } from 'esbuild'
import { decodeJwt } from 'jose'
import { ALLOWED_DEPENDENCIES, buildClientPackage, PACKAGE_NAME } from '../src/build/client_package.js'
import { BILLING, REPO_ROOT, TestBroker } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

const run = promisify(execFile)

/** What a package must never drag into a client's install (the broker's server-side dependencies). */
const SERVER_ONLY = [
  'better-sqlite3',
  'pino',
  'prom-client',
  'node-vault',
  'pg',
  'commander',
  'yaml',
  'zod',
  'undici',
]

/** `npm pack` in `dir` into `dest`; returns the tarball path and the packed file list. */
async function pack(dir: string, dest: string): Promise<{ tarball: string; files: string[] }> {
  // --ignore-scripts: the broker's prepack runs the build, which this test has done already.
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], {
    cwd: dir,
  })
  const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[]
  return { tarball: join(dest, info!.filename), files: info!.files.map((f) => f.path) }
}

/**
 * The consumer's lock file, pinned to the versions (and npm cache entries) of the broker's own lock.
 * With it, `npm install --offline` resolves the SDK's dependencies from the npm cache alone: this
 * machine has no registry, and npm's cache holds tarballs but not the registry's version lists.
 */
function seedLockFile(consumer: string, roots: string[]): void {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8'))
  const packages: Record<string, object> = { '': { name: 'consumer', version: '1.0.0' } }
  const todo = [...roots]
  while (todo.length > 0) {
    const key = `node_modules/${todo.pop()}`
    if (packages[key]) continue
    const entry = lock.packages[key]
    if (!entry) throw new Error(`${key} is not in the broker's package-lock.json`)
    const { version, resolved, integrity, license, dependencies, engines, bin } = entry
    packages[key] = { version, resolved, integrity, license, dependencies, engines, bin, extraneous: true }
    todo.push(...Object.keys(dependencies ?? {}))
  }
  writeFileSync(
    join(consumer, 'package-lock.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }),
  )
}

/** Every installed package (name → its package.json), from node_modules. */
function installedPackages(nodeModules: string): Map<string, { dependencies?: Record<string, string> }> {
  const found = new Map<string, { dependencies?: Record<string, string> }>()
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue
      const path = join(dir, entry.name)
      if (entry.name.startsWith('@')) visit(path)
      else if (existsSync(join(path, 'package.json'))) {
        const manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'))
        found.set(manifest.name, manifest)
        if (existsSync(join(path, 'node_modules'))) visit(join(path, 'node_modules'))
      }
    }
  }
  visit(nodeModules)
  return found
}

function sizeOf(path: string): number {
  const s = statSync(path)
  if (!s.isDirectory()) return s.size
  return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0)
}

/** The consumer program, as a user would write it: token, whoami, and a refusal with its typed code. */
function consumerProgram(style: 'esm' | 'cjs'): string {
  const body = `
  const broker = new BrokerClient({
    address: process.env.KB_ADDRESS,
    tls: { caFile: process.env.KB_CA, certFile: process.env.KB_CERT, keyFile: process.env.KB_KEY, serverName: 'localhost' },
    deadlineMs: 10000,
  })
  try {
    const issued = await broker.token({ audience: 'payments-api', scopes: ['payments:read'] })
    const me = await broker.whoami()
    let refusal = 'none'
    try {
      await broker.token({ audience: 'not-granted-api' })
    } catch (err) {
      refusal = err instanceof BrokerError ? err.code : 'not a BrokerError'
    }
    // a resource server's side, from the subpath: verify the token against the broker's JWKS
    const verifier = createVerifier({
      issuer: 'https://keybroker.test',
      audience: 'payments-api',
      jwksUri: process.env.KB_JWKS,
      ca: readFileSync(process.env.KB_CA),
    })
    const claims = await verifier.verify(issued.token, { scopes: ['payments:read'] })
    verifier.close()
    process.stdout.write(JSON.stringify({ token: issued.token, subject: me.subject, refusal, codes: BROKER_ERROR_CODES.length, verified: claims.subject }))
  } finally {
    broker.close()
  }`
  return style === 'esm'
    ? `import { readFileSync } from 'node:fs'\nimport { BrokerClient, BrokerError, BROKER_ERROR_CODES } from '@keybroker/client'\nimport { createVerifier } from '@keybroker/client/verifier'\nasync function main() {${body}\n}\nmain().catch((err) => { console.error(err); process.exitCode = 1 })\n`
    : `const { readFileSync } = require('node:fs')\nconst { BrokerClient, BrokerError, BROKER_ERROR_CODES } = require('@keybroker/client')\nconst { createVerifier } = require('@keybroker/client/verifier')\nasync function main() {${body}\n}\nmain().catch((err) => { console.error(err); process.exitCode = 1 })\n`
}

describe('@keybroker/client and keybroker as packages: pack, install from the tarball, import, bundle', function () {
  // npm pack/install and two builds on a shared machine.
  this.timeout(300_000)

  let dir: string
  let t: TestBroker
  let billing: CertFiles
  let client: { tarball: string; files: string[] }
  let broker: { tarball: string; files: string[] }
  let consumer: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kb-package-'))
    const built = await buildClientPackage(join(dir, 'client-package'))
    // DESIGN.md "Packages": @grpc/grpc-js and jose (the verifier subpath) only
    expect(Object.keys(built.dependencies)).to.deep.equal(['@grpc/grpc-js', 'jose'])
    // The broker package ships dist/: build it when `make build` has not (make test runs it first).
    if (!existsSync(join(REPO_ROOT, 'dist/src/cli/main.js'))) {
      await run(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: REPO_ROOT })
    }
    client = await pack(built.dir, dir)
    broker = await pack(REPO_ROOT, dir)

    consumer = join(dir, 'consumer')
    mkdirSync(consumer)
    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
    )
    seedLockFile(consumer, Object.keys(built.dependencies))
    const install = ['install', '--no-audit', '--no-fund', client.tarball]
    try {
      await run('npm', ['--offline', ...install], { cwd: consumer })
    } catch (err) {
      process.stderr.write(
        `npm install --offline failed, trying --prefer-offline: ${(err as Error).message}\n`,
      )
      await run('npm', ['--prefer-offline', ...install], { cwd: consumer })
    }

    t = await TestBroker.start()
    billing = await t.pki.spiffe('billing', BILLING)
  })
  after(async () => {
    await t?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const env = () => ({
    ...process.env,
    KB_ADDRESS: t.address,
    KB_CA: t.pki.caFile,
    KB_CERT: billing.cert,
    KB_KEY: billing.key,
    KB_JWKS: `${t.httpUrl}/.well-known/jwks.json`,
    // a consumer's process: none of the test runner's loaders or conditions
    NODE_OPTIONS: '',
  })

  async function runConsumer(file: string, cwd: string) {
    const { stdout } = await run(process.execPath, [file], { cwd, env: env() })
    const out = JSON.parse(stdout) as {
      token: string
      subject: string
      refusal: string
      codes: number
      verified: string
    }
    expect(out.verified, 'the token verified with @keybroker/client/verifier').to.equal(BILLING)
    expect(decodeJwt(out.token)).to.include({ sub: BILLING, aud: 'payments-api' })
    expect(out.subject).to.equal(BILLING)
    expect(out.refusal).to.equal('ERR_AUDIENCE_NOT_GRANTED')
    expect(out.codes).to.be.greaterThan(10)
  }

  it('the client tarball holds the built SDK only, with an exports map that has no source condition', () => {
    for (const file of client.files)
      expect(file).to.match(
        /^(client\/|verifier\/|errors\/codes\.|index\.cjs$|verifier\.cjs$|README\.md$|package\.json$)/,
      )
    expect(client.files).to.include.members([
      'client/index.js',
      'client/index.d.ts',
      'index.cjs',
      'errors/codes.js',
    ])
    expect(client.files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).to.equal(false)
    const manifest = JSON.parse(
      readFileSync(join(consumer, 'node_modules', PACKAGE_NAME, 'package.json'), 'utf8'),
    )
    expect(JSON.stringify(manifest.exports)).not.to.match(/development|(?<!\.d)\.ts"/)
    expect(Object.keys(manifest.dependencies)).to.satisfy((deps: string[]) =>
      deps.every((d) => ALLOWED_DEPENDENCIES.includes(d)),
    )
  })

  it('the broker tarball ships dist/, proto/ and bin/ (not test/, src/ or the dev files) and keeps keybroker/client', () => {
    expect(broker.files).to.include.members([
      'bin/keybroker.js',
      'proto/keybroker/v1/broker.proto',
      'dist/src/cli/main.js',
      'dist/src/client/index.js',
      'dist/src/client/index.d.ts',
      'package.json',
    ])
    for (const file of broker.files) {
      expect(file).to.match(/^(dist\/src\/|proto\/|bin\/|README\.md$|package\.json$)/, file)
    }
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'))
    const reexport = manifest.exports['./client']
    expect(Object.keys(reexport)).not.to.include('development')
    for (const target of Object.values(reexport) as string[])
      expect(broker.files).to.include(target.replace(/^\.\//, ''))
  })

  it('installs with nothing beyond @grpc/grpc-js, jose and their dependency trees; prints size and count', () => {
    const nodeModules = join(consumer, 'node_modules')
    const installed = installedPackages(nodeModules)
    // every installed package is the SDK or reachable from its declared dependencies
    const reachable = new Set<string>([PACKAGE_NAME])
    const todo = [PACKAGE_NAME]
    while (todo.length > 0) {
      for (const dep of Object.keys(installed.get(todo.pop()!)?.dependencies ?? {})) {
        if (!reachable.has(dep)) {
          reachable.add(dep)
          todo.push(dep)
        }
      }
    }
    expect([...installed.keys()].filter((name) => !reachable.has(name))).to.deep.equal([])
    for (const name of SERVER_ONLY) expect(installed.has(name), name).to.equal(false)
    expect([...installed.keys()].some((name) => name.startsWith('@aws-sdk/'))).to.equal(false)
    const bytes = sizeOf(nodeModules)
    process.stdout.write(
      `      ${PACKAGE_NAME}: ${installed.size - 1} transitive dependencies, ${(bytes / 1024 / 1024).toFixed(1)} MiB installed ` +
        `(the package itself ${(sizeOf(join(nodeModules, PACKAGE_NAME)) / 1024).toFixed(0)} KiB)\n`,
    )
    expect(installed.size - 1).to.be.lessThan(50)
  })

  it('imports from ESM and works against a real broker', async () => {
    writeFileSync(join(consumer, 'app.mjs'), consumerProgram('esm'))
    await runConsumer('app.mjs', consumer)
  })

  it('requires from CommonJS and works against a real broker', async () => {
    writeFileSync(join(consumer, 'app.cjs'), consumerProgram('cjs'))
    await runConsumer('app.cjs', consumer)
  })

  it('bundles with esbuild into one file that runs with no node_modules and no .proto next to it', async () => {
    writeFileSync(join(consumer, 'entry.mjs'), consumerProgram('esm'))
    const bundled = join(dir, 'bundled')
    mkdirSync(bundled)
    await build({
      entryPoints: [join(consumer, 'entry.mjs')],
      outfile: join(bundled, 'app.cjs'),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      logLevel: 'error',
    })
    expect(readdirSync(bundled)).to.deep.equal(['app.cjs'])
    await runConsumer('app.cjs', bundled)
  })
})
