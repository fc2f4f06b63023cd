import type { IncomingMessage } from 'node:http'
import { BrokerError } from '../../errors.js'
import { OAuthRefusal } from './errors.js'

/** Largest token request body read; a real one is a few KiB (three JWTs at most). */
export const MAX_FORM_BYTES = 64 * 1024

const FORM_TYPE = 'application/x-www-form-urlencoded'

/**
 * Read an RFC 6749 §3.2 request body: `application/x-www-form-urlencoded`, at most 64 KiB, each
 * parameter at most once. A parameter sent without a value counts as omitted (§3.1). Throws an
 * OAuthRefusal (`invalid_request`, 400 or 413) naming what to fix.
 */
export async function readForm(req: IncomingMessage): Promise<Map<string, string>> {
  checkContentType(req.headers['content-type'])
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > MAX_FORM_BYTES) throw tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    // stop reading at once: the rest of an oversized body is never buffered
    if (size > MAX_FORM_BYTES) throw tooLarge()
    chunks.push(chunk)
  }
  return parseForm(Buffer.concat(chunks).toString('utf8'))
}

/** `a=1&b=2` → its parameters; refuses a parameter given twice (§3.2: "MUST NOT be included more than once"). */
export function parseForm(body: string): Map<string, string> {
  const form = new Map<string, string>()
  const seen = new Set<string>()
  for (const [name, value] of new URLSearchParams(body)) {
    if (seen.has(name)) {
      throw invalidRequest(
        `parameter "${printable(name)}" is given more than once; send each parameter once (RFC 6749 section 3.2)`,
      )
    }
    seen.add(name)
    if (value !== '') form.set(name, value)
  }
  return form
}

function checkContentType(header: string | undefined): void {
  const type = (header ?? '').split(';')[0]!.trim().toLowerCase()
  if (type === FORM_TYPE) return
  const sent =
    type === '' ? 'no content-type' : type.includes('json') ? 'JSON' : `content-type ${printable(type)}`
  throw invalidRequest(
    `send the token request as ${FORM_TYPE} form parameters (RFC 6749 section 3.2), not ${sent}`,
  )
}

function tooLarge(): OAuthRefusal {
  return new OAuthRefusal(
    { status: 413, error: 'invalid_request' },
    new BrokerError(
      'ERR_REQUEST_TOO_LARGE',
      `token request body is larger than ${MAX_FORM_BYTES / 1024} KiB`,
    ),
    // the unread rest of the body is not drained just to keep the connection
    { connection: 'close' },
  )
}

function invalidRequest(message: string): OAuthRefusal {
  return new OAuthRefusal(
    { status: 400, error: 'invalid_request' },
    new BrokerError('ERR_INVALID_ARGUMENT', message),
  )
}

/** For echoing a caller-chosen name in a message: short and printable. */
export function printable(text: string): string {
  return text.slice(0, 64).replace(/[^\x20-\x7e]/g, '?')
}
