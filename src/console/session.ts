import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

/** Constant-time comparison of two secrets of any length (hashed first so lengths do not leak). */
function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest()
  const hb = createHash('sha256').update(b).digest()
  return timingSafeEqual(ha, hb)
}

function secret(): string {
  return randomBytes(32).toString('base64url')
}

export interface Session {
  /** Sent back by the page (header `x-csrf-token`) on every state-changing request. */
  csrf: string
}

/**
 * The console's login, Jupyter style: a one-time token printed on the terminal is exchanged once
 * for a session cookie (HttpOnly, SameSite=Strict). Cookies are shared by every port of a host, so
 * the cookie name carries the port: two consoles on one machine never read each other's session.
 */
export class ConsoleSessions {
  #oneTime: string | undefined = secret()
  readonly #sessions = new Map<string, Session>()
  #cookieName = 'kb_console'

  /** The token for the URL printed at start (valid until first used). */
  get oneTimeToken(): string | undefined {
    return this.#oneTime
  }

  /** Called once the port is known. */
  bindPort(port: number): void {
    this.#cookieName = `kb_console_${port}`
  }

  /**
   * Trade the one-time token for a new session; returns its Set-Cookie value, or undefined when the
   * token is wrong or already used.
   */
  redeem(token: string): string | undefined {
    if (this.#oneTime === undefined || !sameSecret(token, this.#oneTime)) return undefined
    this.#oneTime = undefined
    const id = secret()
    this.#sessions.set(id, { csrf: secret() })
    return `${this.#cookieName}=${id}; HttpOnly; SameSite=Strict; Path=/`
  }

  /** The request's session, from its cookie, or undefined. */
  fromRequest(req: IncomingMessage): Session | undefined {
    const header = req.headers.cookie
    if (!header) return undefined
    for (const part of header.split(';')) {
      const eq = part.indexOf('=')
      if (eq < 0 || part.slice(0, eq).trim() !== this.#cookieName) continue
      const value = part.slice(eq + 1).trim()
      for (const [id, session] of this.#sessions) if (sameSecret(value, id)) return session
    }
    return undefined
  }

  /** A state-changing request must echo the session's CSRF token in `x-csrf-token`. */
  csrfValid(req: IncomingMessage, session: Session): boolean {
    const sent = req.headers['x-csrf-token']
    return typeof sent === 'string' && sameSecret(sent, session.csrf)
  }
}
