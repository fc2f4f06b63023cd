import * as http from 'node:http'
import * as https from 'node:https'

/** A discovery document or JWKS is a few KiB; anything far larger is a misconfigured or hostile endpoint. */
const MAX_BODY_BYTES = 1024 * 1024

export interface HttpsGetOptions {
  headers?: Record<string, string> | Headers
  signal?: AbortSignal
}

/** A fetch-shaped GET (what jose's `customFetch` expects). */
export type HttpsGet = (url: string, options: HttpsGetOptions) => Promise<Response>

/**
 * GET over node:https with the broker's CA, so a resource server needs no HTTP library (the verifier's
 * runtime dependencies are jose and grpc-js only). With `ca` only that CA is trusted: the broker is an
 * internal service and nothing else should be able to impersonate it. Redirects are not followed.
 */
export function httpsGetter(ca: string | Buffer | undefined): HttpsGet {
  return (url, options) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url)
      const headers: Record<string, string> = { accept: 'application/json' }
      new Headers(options.headers).forEach((value, name) => {
        headers[name] = value
      })
      const onResponse = (res: http.IncomingMessage) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_BODY_BYTES) {
            res.destroy()
            reject(new Error(`${target.origin}${target.pathname} sent more than ${MAX_BODY_BYTES} bytes`))
          } else chunks.push(chunk)
        })
        res.on('error', reject)
        res.on('end', () => {
          const responseHeaders = new Headers()
          for (const [name, value] of Object.entries(res.headers))
            if (typeof value === 'string') responseHeaders.set(name, value)
          resolve(
            new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: responseHeaders }),
          )
        })
      }
      const req =
        target.protocol === 'https:'
          ? https.request(target, { method: 'GET', headers, ca, signal: options.signal }, onResponse)
          : http.request(target, { method: 'GET', headers, signal: options.signal }, onResponse)
      req.on('error', reject)
      req.end()
    })
}

/** GET a JSON document with a deadline; every failure is an Error whose message names the URL. */
export async function getJson(get: HttpsGet, url: string, timeoutMs: number): Promise<unknown> {
  const signal = AbortSignal.timeout(timeoutMs)
  let res: Response
  try {
    res = await get(url, { signal })
  } catch (err) {
    const reason = signal.aborted ? `timed out after ${timeoutMs} ms` : (err as Error).message
    throw new Error(`GET ${url} failed: ${reason}`, { cause: err })
  }
  if (res.status !== 200) throw new Error(`GET ${url} returned HTTP ${res.status}`)
  try {
    return await res.json()
  } catch (err) {
    throw new Error(`GET ${url} did not return JSON`, { cause: err })
  }
}
