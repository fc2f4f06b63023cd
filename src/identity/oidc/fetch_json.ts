import { rootCertificates } from 'node:tls'
import { Agent, request } from 'undici'
import { BrokerError } from '../../errors.js'

/** A JWKS or discovery document is a few KiB; anything far larger is a misconfigured or hostile endpoint. */
const MAX_BODY_BYTES = 1024 * 1024

/**
 * GETs JSON from one issuer over HTTPS, with the issuer's extra CA and a hard deadline.
 * Every failure becomes ERR_ISSUER_UNAVAILABLE naming the trust entry, never a raw network error.
 */
export class IssuerHttpClient {
  readonly #name: string
  readonly #timeoutMs: number
  readonly #agent: Agent

  constructor(name: string, opts: { caPem?: string; timeoutMs: number }) {
    this.#name = name
    this.#timeoutMs = opts.timeoutMs
    this.#agent = new Agent({
      // An extra CA adds to the public roots rather than replacing them.
      connect: {
        ca: opts.caPem === undefined ? undefined : [...rootCertificates, opts.caPem],
        timeout: opts.timeoutMs,
      },
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    })
  }

  async getJson(url: string, what: string): Promise<unknown> {
    // One deadline for connect + headers + body, so a slow drip cannot stretch it.
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs)
    let text: string
    try {
      const res = await request(url, {
        method: 'GET',
        headers: { accept: 'application/json' },
        dispatcher: this.#agent,
        signal: controller.signal,
      })
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => {})
        throw this.unavailable(`${what} ${url} returned HTTP ${res.statusCode}`)
      }
      text = await readCapped(res.body, MAX_BODY_BYTES)
    } catch (err) {
      if (err instanceof BrokerError) throw err
      if (controller.signal.aborted || isTimeout(err)) {
        throw this.unavailable(`${what} ${url} timed out after ${this.#timeoutMs} ms`, err)
      }
      if (err instanceof BodyTooLarge) {
        throw this.unavailable(`${what} ${url} is larger than ${MAX_BODY_BYTES} bytes`)
      }
      throw this.unavailable(`${what} ${url} failed: ${describe(err)}`, err)
    } finally {
      clearTimeout(timer)
    }
    try {
      return JSON.parse(text)
    } catch {
      throw this.unavailable(`${what} ${url} did not return JSON`)
    }
  }

  unavailable(detail: string, cause?: unknown): BrokerError {
    return new BrokerError('ERR_ISSUER_UNAVAILABLE', `OIDC issuer ${this.#name} unreachable: ${detail}`, {
      cause,
    })
  }

  close(): Promise<void> {
    return this.#agent.close()
  }
}

class BodyTooLarge extends Error {}

async function readCapped(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
  max: number,
): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > max) {
      body.destroy()
      throw new BodyTooLarge()
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  )
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  // undici wraps socket errors; the innermost cause names the real problem (ECONNREFUSED, a TLS failure…).
  const cause = err.cause instanceof Error ? err.cause : undefined
  const code = (cause as { code?: string } | undefined)?.code ?? (err as { code?: string }).code
  const message = cause?.message ?? err.message
  return code && !message.includes(code) ? `${code}: ${message}` : message
}
