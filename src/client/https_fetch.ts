import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { Readable } from 'node:stream'
import { rootCertificates } from 'node:tls'

/** TLS material for outgoing HTTPS: the broker's CA (trusted besides the public roots) and, optionally, a client certificate. */
export interface HttpsMaterial {
  ca: Buffer
  cert?: Buffer
  key?: Buffer
  /** Changes whenever the files behind the material changed (a new agent is made then). */
  version: number
}

/**
 * `fetch` over node:https with the broker's CA added to the public roots (so the broker's HTTPS
 * endpoints and the injection proxy work without `NODE_EXTRA_CA_CERTS`) and, when given, the
 * client certificate (a certificate-bound token is only accepted on a connection presenting it).
 *
 * Built on node:https rather than an undici dispatcher so the SDK needs no dependency beyond grpc-js.
 * Differences from the global fetch: redirects are returned, not followed (a bearer token is never
 * carried to another URL), and `http:` URLs go to the global fetch unchanged.
 */
export class HttpsFetcher {
  private agents = new Map<string, { version: number; agent: HttpsAgent }>()

  async fetch(url: string | URL, init: RequestInit | undefined, material: HttpsMaterial, withCert: boolean) {
    const target = new URL(url)
    if (target.protocol !== 'https:') return globalThis.fetch(target, init)
    const request = new Request(target, init)
    const agent = this.agent(material, withCert)
    return new Promise<Response>((resolve, reject) => {
      const headers: Record<string, string> = {}
      request.headers.forEach((value, name) => {
        headers[name] = value
      })
      const req = httpsRequest(target, { method: request.method, headers, agent }, (res) => {
        const responseHeaders = new Headers()
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : [value ?? '']) responseHeaders.append(name, v)
        }
        const status = res.statusCode ?? 502
        const bodyless = request.method === 'HEAD' || status === 204 || status === 304
        if (bodyless) res.resume()
        resolve(
          new Response(bodyless ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
            status,
            statusText: res.statusMessage,
            headers: responseHeaders,
          }),
        )
      })
      req.on('error', reject)
      const signal = init?.signal
      if (signal) {
        const abort = () =>
          req.destroy(signal.reason ?? new DOMException('This operation was aborted', 'AbortError'))
        if (signal.aborted) abort()
        else signal.addEventListener('abort', abort, { once: true })
        req.on('close', () => signal.removeEventListener('abort', abort))
      }
      if (request.body) Readable.fromWeb(request.body as import('node:stream/web').ReadableStream).pipe(req)
      else req.end()
    })
  }

  /** Destroy the pooled connections. */
  close(): void {
    for (const { agent } of this.agents.values()) agent.destroy()
    this.agents.clear()
  }

  private agent(material: HttpsMaterial, withCert: boolean): HttpsAgent {
    const key = withCert && material.cert ? 'cert' : 'anonymous'
    const cached = this.agents.get(key)
    if (cached?.version === material.version) return cached.agent
    cached?.agent.destroy()
    const agent = new HttpsAgent({
      keepAlive: true,
      ca: [...rootCertificates, material.ca.toString('utf8')],
      ...(key === 'cert' ? { cert: material.cert, key: material.key } : {}),
    })
    this.agents.set(key, { version: material.version, agent })
    return agent
  }
}
