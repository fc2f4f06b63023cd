import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { DEV_SECRETS_FILE, DEV_UPSTREAM_PORT } from './dev_env.js'

export interface DevUpstreamOptions {
  /** The folder `dev-init` wrote (server certificate and secrets.json); default `.dev`. */
  dir?: string
  /** 0 picks a free port; default 9443 (the dev config's `demo` route). */
  port?: number
  host?: string
  /** Called once per request, e.g. to print a line in the terminal. */
  onRequest?(line: { method: string; path: string; keyOk: boolean; sawBrokerToken: boolean }): void
}

export interface DevUpstream {
  url: string
  port: number
  close(): Promise<void>
}

/** Three base64url segments starting with a JSON header: what a broker token looks like. */
const JWT_LIKE = /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/

/**
 * The demo API behind the dev config's `demo` route: HTTPS with the dev server certificate,
 * answering every request with `{path, key_ok, saw_broker_token}` — whether the injected key was
 * the one in secrets.json, and whether a broker token leaked through. It never echoes a header.
 *
 * @example
 * const upstream = await startDevUpstream({ dir: '.dev', port: 0 })
 */
export async function startDevUpstream(opts: DevUpstreamOptions = {}): Promise<DevUpstream> {
  const dir = resolve(opts.dir ?? '.dev')
  const pki = join(dir, 'pki')
  const demoKey = readDemoKey(join(dir, DEV_SECRETS_FILE))
  const expected = digest(`Bearer ${demoKey}`)
  const server: Server = createServer(
    { cert: readFileSync(join(pki, 'server.pem')), key: readFileSync(join(pki, 'server-key.pem')) },
    (req, res) => {
      const authorization = req.headers.authorization ?? ''
      // compare digests: equal length, constant time, and the key itself never sits in a comparison
      const keyOk = timingSafeEqual(digest(authorization), expected)
      const sawBrokerToken = Object.values(req.headers).some((v) => JWT_LIKE.test(String(v)))
      // a route switched to query_param injection would put the key in the URL: never echo it
      const path = (req.url ?? '/').replaceAll(demoKey, '[demo key]')
      opts.onRequest?.({ method: req.method ?? 'GET', path, keyOk, sawBrokerToken })
      req.resume()
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(`${JSON.stringify({ path, key_ok: keyOk, saw_broker_token: sawBrokerToken })}\n`)
    },
  )
  await new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen(opts.port ?? DEV_UPSTREAM_PORT, opts.host ?? '127.0.0.1', () => done())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

function readDemoKey(file: string): string {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new Error(
      code === 'ENOENT'
        ? `${file} does not exist: run \`keybroker dev-init\` (or \`make run\`) first`
        : `${file} is not readable JSON (${code ?? 'parse error'})`,
    )
  }
  const key = (parsed as { api_key?: unknown } | null)?.api_key
  if (typeof key !== 'string' || key === '') throw new Error(`${file} has no string "api_key"`)
  return key
}
