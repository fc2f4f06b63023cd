/**
 * Build step: the installable `@keybroker/client` package, from `src/client` (and the shared,
 * dependency-free `src/errors/codes.ts`), into its own folder with a generated package.json.
 *
 * - ESM with type declarations, compiled by tsc from the sources as they are;
 * - a CommonJS entry (`index.cjs`) bundled by esbuild from that ESM, for `require()`;
 * - runtime dependencies read from what the output really imports, and refused unless they are
 *   in {@link ALLOWED_DEPENDENCIES} (so a stray import of server code or pino fails the build);
 * - an exports map with no source/`development` condition: consumers get the built files only.
 *
 * Usage: node --import tsx src/build/client_package.ts [outDir]   (default dist/client; make build)
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

export const PACKAGE_NAME = '@keybroker/client'
/** The only packages the SDK may need at run time (DESIGN.md "Packages"). */
export const ALLOWED_DEPENDENCIES = ['@grpc/grpc-js', 'jose']

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface BuiltClientPackage {
  dir: string
  dependencies: Record<string, string>
}

/** Build the package into `outDir` (emptied first). */
export async function buildClientPackage(outDirGiven: string): Promise<BuiltClientPackage> {
  // absolute: esbuild would take a bare relative entry (dist/client/...) for a package name
  const outDir = resolve(outDirGiven)
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  compileEsm(outDir)
  checkOnlyClientCode(outDir)
  const rootPackage = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'))
  const imported = [
    ...new Set([
      ...(await importedPackages(join(outDir, 'client/index.js'))),
      ...(await importedPackages(join(outDir, 'verifier/index.js'))),
    ]),
  ].sort()
  const dependencies: Record<string, string> = {}
  for (const name of imported) {
    if (!ALLOWED_DEPENDENCIES.includes(name)) {
      throw new Error(
        `${PACKAGE_NAME} must not depend on ${name} (allowed: ${ALLOWED_DEPENDENCIES.join(', ')})`,
      )
    }
    dependencies[name] = rootPackage.dependencies[name]
  }
  for (const [entry, outfile] of [
    ['client/index.js', 'index.cjs'],
    ['verifier/index.js', 'verifier.cjs'],
  ] as const) {
    await build({
      entryPoints: [join(outDir, entry)],
      outfile: join(outDir, outfile),
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      external: ALLOWED_DEPENDENCIES,
      logLevel: 'error',
    })
  }
  writeFileSync(
    join(outDir, 'package.json'),
    `${JSON.stringify(manifest(rootPackage, dependencies), null, 2)}\n`,
  )
  writeFileSync(join(outDir, 'README.md'), README)
  return { dir: outDir, dependencies }
}

function manifest(rootPackage: { version: string; engines: unknown }, dependencies: Record<string, string>) {
  return {
    name: PACKAGE_NAME,
    version: rootPackage.version,
    description: 'keybroker client SDK: short-lived tokens and secrets for workloads, over gRPC with mTLS.',
    type: 'module',
    engines: rootPackage.engines,
    main: './index.cjs',
    types: './client/index.d.ts',
    exports: {
      '.': {
        types: './client/index.d.ts',
        import: './client/index.js',
        require: './index.cjs',
      },
      // for resource servers: verify broker tokens and follow the revocation feed
      './verifier': {
        types: './verifier/index.d.ts',
        import: './verifier/index.js',
        require: './verifier.cjs',
      },
      './package.json': './package.json',
    },
    files: ['client/', 'verifier/', 'errors/', 'index.cjs', 'verifier.cjs', 'README.md'],
    sideEffects: false,
    dependencies,
  }
}

/** tsc over the SDK's entry point only: it follows imports, so what it emits is what the SDK uses. */
function compileEsm(outDir: string): void {
  const configDir = mkdtempSync(join(tmpdir(), 'kb-client-build-'))
  try {
    const config = {
      extends: join(REPO_ROOT, 'tsconfig.json'),
      compilerOptions: {
        rootDir: join(REPO_ROOT, 'src'),
        outDir,
        noEmit: false,
        declaration: true,
        sourceMap: false,
        types: ['node'],
        // the config lives in a temp dir: look for @types next to the sources, not next to it
        typeRoots: [join(REPO_ROOT, 'node_modules/@types')],
      },
      files: [join(REPO_ROOT, 'src/client/index.ts'), join(REPO_ROOT, 'src/verifier/index.ts')],
      include: [],
    }
    const configFile = join(configDir, 'tsconfig.json')
    writeFileSync(configFile, JSON.stringify(config))
    execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', configFile], { stdio: 'inherit' })
  } finally {
    rmSync(configDir, { recursive: true, force: true })
  }
}

/** Everything emitted must come from src/client or the shared code list: nothing of the server. */
function checkOnlyClientCode(outDir: string): void {
  const files = readdirSync(outDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(outDir, join(e.parentPath, e.name)))
  const stray = files.filter(
    (f) => !f.startsWith('client/') && !f.startsWith('verifier/') && !f.startsWith('errors/codes.'),
  )
  if (stray.length > 0) throw new Error(`the SDK pulled in code outside src/client: ${stray.join(', ')}`)
}

/** Bare package names the ESM output imports (node: builtins excluded), found by esbuild. */
async function importedPackages(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    metafile: true,
    logLevel: 'error',
    // every bare import stays external, so it shows up in the metafile as an import of the output
    plugins: [
      {
        name: 'externals',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) => ({ path: args.path, external: true }))
        },
      },
    ],
  })
  const names = new Set<string>()
  for (const output of Object.values(result.metafile.outputs)) {
    for (const imp of output.imports) {
      if (!imp.external || imp.path.startsWith('node:')) continue
      const parts = imp.path.split('/')
      names.add(imp.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!)
    }
  }
  return [...names].sort()
}

const README = `# @keybroker/client

The keybroker client SDK: a workload proves who it is (mTLS certificate or a workload JWT) and gets
short-lived, scoped tokens and secrets from the broker, over gRPC. Tokens are cached and refreshed
ahead of expiry; a broker that does not answer is an \`ERR_UNREACHABLE\` error, never a hang.

\`\`\`js
import { BrokerClient } from '@keybroker/client'

const broker = new BrokerClient({
  address: 'keybroker.internal:7443',
  tls: { caFile: '/etc/keybroker/ca.pem', certFile: '/run/svid.pem', keyFile: '/run/svid-key.pem' },
})
const { token } = await broker.token({ audience: 'payments-api', scopes: ['payments:read'] })
\`\`\`

Resource servers verify broker tokens with \`@keybroker/client/verifier\` (\`createVerifier\`, a gRPC
interceptor and an HTTP middleware, and the revocation feed).

ESM and CommonJS (\`require('@keybroker/client')\`); types included; the runtime dependencies are
\`@grpc/grpc-js\` and \`jose\` (the verifier). It reads no \`.proto\` file at run time, so it bundles with esbuild and friends.
`

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outDir = process.argv[2] ?? join(REPO_ROOT, 'dist/client')
  const built = await buildClientPackage(outDir)
  const deps = Object.keys(built.dependencies).join(', ') || 'none'
  process.stdout.write(
    `${PACKAGE_NAME} built in ${relative(process.cwd(), built.dir) || '.'} (dependencies: ${deps})\n`,
  )
  if (!existsSync(join(outDir, 'index.cjs'))) process.exit(1)
}
