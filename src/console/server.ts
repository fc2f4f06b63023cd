import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ConnectOptions } from '../cli/commands/client.js'
import { AdminApi, AdminCallError, firstAddress } from './admin_api.js'
import { isApiWrite, serveApi } from './api_routes.js'
import { loadWebAssets, type WebAssets } from './assets.js'
import { hostAllowed, originAllowed, sendJson, sendText, setSecurityHeaders } from './http_guard.js'
import { ConsoleSessions } from './session.js'

export interface ConsoleOptions extends ConnectOptions {
  /** 0 = any free port. */
  port?: number
  /** Deadline of each Admin call (default 30 s). */
  deadlineMs?: number
  /** Where the built front end is (default dist/console-web). */
  assetsDir?: string
  onUnexpected?: (err: unknown) => void
}

export interface RunningConsole {
  port: number
  /** The URL to open once: it carries the one-time token. */
  url: string
  close(): Promise<void>
}

/** Why the console refused to start (bad credentials, broker unreachable, no front end): exit 1. */
export class ConsoleStartError extends Error {
  override name = 'ConsoleStartError'
}

/**
 * Check that the credentials are an admin's before serving anything: one ListExchanges (limit 1).
 */
async function checkAdmin(api: AdminApi, address: string): Promise<void> {
  try {
    await api.call('ListExchanges', { limit: 1 })
  } catch (err) {
    if (!(err instanceof AdminCallError)) throw err
    if (err.httpStatus === 403)
      throw new ConsoleStartError(
        `these credentials are not an admin's on the broker at ${address}: ${err.message}. ` +
          'Start the console with a certificate (or token) listed in the broker config `admins`.',
      )
    throw new ConsoleStartError(`cannot use the broker at ${address}: ${err.message}`)
  }
}

/**
 * `keybroker console`: a local web server on 127.0.0.1 that shows the exchange log and runs
 * operator actions through the broker's Admin API with the operator's own credentials. The browser
 * holds only a session cookie for this local server.
 */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const assets = (() => {
    try {
      return loadWebAssets(options.assetsDir)
    } catch (err) {
      throw new ConsoleStartError((err as Error).message)
    }
  })()
  const api = new AdminApi(options)
  try {
    await checkAdmin(api, firstAddress(options.address))
  } catch (err) {
    api.close()
    throw err
  }
  const sessions = new ConsoleSessions()
  const onUnexpected = options.onUnexpected ?? ((err) => process.stderr.write(`keybroker console: ${err}\n`))
  let port = 0
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      onUnexpected(err)
      if (!res.headersSent) sendText(res, 500, 'the console failed unexpectedly (see its terminal)')
      else res.destroy()
    })
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setSecurityHeaders(res)
    if (!hostAllowed(req, port))
      return sendText(res, 403, 'unexpected Host header (open the console by 127.0.0.1)')
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`)
    if (req.method === 'GET' && url.pathname === '/' && url.searchParams.has('token')) {
      return redeem(res, url.searchParams.get('token') ?? '')
    }
    const session = sessions.fromRequest(req)
    if (!session) {
      if (url.pathname.startsWith('/api/')) return sendJson(res, 401, { error: 'no console session' })
      return sendText(
        res,
        401,
        'No console session. Open the URL that `keybroker console` printed (it works once), or restart it for a new one.',
      )
    }
    if (url.pathname.startsWith('/api/')) {
      if (isApiWrite(req.method ?? '', url.pathname)) {
        if (!originAllowed(req, port) || !sessions.csrfValid(req, session))
          return sendJson(res, 403, { error: 'missing or wrong CSRF token: reload the page' })
      }
      if (await serveApi(req, res, url, api, onUnexpected)) return
      return sendJson(res, 404, { error: `no API route ${url.pathname}` })
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed')
    return serveAsset(res, url.pathname, assets, session.csrf)
  }

  function redeem(res: ServerResponse, token: string): void {
    const cookie = sessions.redeem(token)
    if (!cookie) {
      sendText(
        res,
        401,
        'This console link was already used or is wrong. Restart `keybroker console` for a new one.',
      )
      return
    }
    // the token leaves the address bar (and history) at once
    res.writeHead(303, { 'Set-Cookie': cookie, Location: '/' })
    res.end()
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  }).catch((err: Error) => {
    api.close()
    throw new ConsoleStartError(`cannot listen on 127.0.0.1:${options.port ?? 0}: ${err.message}`)
  })
  port = (server.address() as AddressInfo).port
  sessions.bindPort(port)

  return {
    port,
    url: `http://127.0.0.1:${port}/?token=${sessions.oneTimeToken}`,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        // live tails are long requests: end them so close() does not wait for the browser
        server.closeAllConnections()
      })
      api.close()
    },
  }
}

function serveAsset(res: ServerResponse, path: string, assets: WebAssets, csrf: string): void {
  if (path === '/' || path === '/index.html') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
    res.end(assets.page(csrf))
    return
  }
  const file = assets.file(path)
  if (!file) {
    sendText(res, 404, 'not found')
    return
  }
  res.writeHead(200, { 'Content-Type': file.type })
  res.end(file.body)
}
