import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The package root: the nearest folder above this module with a package.json (src/ or dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('keybroker console: cannot find the package root')
    dir = up
  }
  return dir
}

/** Where `make build` (src/console/build_web.ts) writes the front end. */
export const WEB_DIST = join(packageRoot(), 'dist', 'console-web')

const FILES: Record<string, { file: string; type: string }> = {
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
}

/** The built front end, read once at start (it is small) so a rebuild never serves half a file. */
export interface WebAssets {
  /** The page, with the session's CSRF token in a meta tag (scripts read it; no inline script). */
  page(csrf: string): string
  file(path: string): { body: Buffer; type: string } | undefined
}

/** Load the built assets, or explain how to build them. */
export function loadWebAssets(dir = WEB_DIST): WebAssets {
  const index = join(dir, 'index.html')
  if (!existsSync(index))
    throw new Error(
      `the console front end is not built (no ${index}); run make build in the keybroker folder`,
    )
  const html = readFileSync(index, 'utf8')
  const files = new Map<string, { body: Buffer; type: string }>()
  for (const [path, { file, type }] of Object.entries(FILES)) {
    const full = join(dir, file)
    if (existsSync(full)) files.set(path, { body: readFileSync(full), type })
  }
  return {
    // the token is base64url: nothing in it needs escaping in an attribute
    page: (csrf) => html.replace('__CSRF_TOKEN__', csrf),
    file: (path) => files.get(path),
  }
}
