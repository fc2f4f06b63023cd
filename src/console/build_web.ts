import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { WEB_DIST } from './assets.js'

const WEB_SRC = fileURLToPath(new URL('./web/', import.meta.url))

/**
 * Bundle the console front end (src/console/web) into dist/console-web: one ES module, one
 * stylesheet, the page. Run by `make build` (and by the browser tests before they start).
 */
export async function buildConsoleWeb(outDir = WEB_DIST): Promise<void> {
  mkdirSync(outDir, { recursive: true })
  await build({
    entryPoints: [join(WEB_SRC, 'main.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    outfile: join(outDir, 'app.js'),
    logLevel: 'warning',
    legalComments: 'none',
  })
  for (const file of ['index.html', 'style.css', 'favicon.svg'])
    copyFileSync(join(WEB_SRC, file), join(outDir, file))
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildConsoleWeb().then(
    () => process.stdout.write(`console front end built into ${WEB_DIST}\n`),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`)
      process.exit(1)
    },
  )
}
