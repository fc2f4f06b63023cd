import { Transform, type TransformCallback } from 'node:stream'

/** The byte every redacted byte becomes: outside the base64, hex and URL-safe alphabets. */
const MASK = 0x2a // '*'

/**
 * Derived forms shorter than this are not searched: a short base64 or hex fragment matches
 * ordinary text too often to be worth masking (real API keys are far longer).
 */
const MIN_DERIVED_LENGTH = 8

/**
 * Every spelling under which an upstream might hand `needle` back: raw (and ASCII upper/lower
 * case), URL-encoded (%XX in either case, `+` for space), JSON-escaped, base64 and base64url at
 * each of the three alignments it can take inside a larger base64 stream, and hex in either case.
 *
 * Alignment: when the needle starts at byte offset 0, 1 or 2 (mod 3) of an encoded stream, its
 * encoding differs. We encode it behind 0/1/2 prefix bytes and keep only the characters whose six
 * bits all come from the needle, so the prefix and whatever follows the needle do not matter.
 */
export function leakForms(needle: Buffer): Buffer[] {
  if (needle.length === 0) return []
  const text = needle.toString('utf8')
  const forms = new Set<string>()
  const derived = new Set<string>()
  forms.add(text)
  derived.add(text.toUpperCase())
  derived.add(text.toLowerCase())
  try {
    const url = encodeURIComponent(text)
    derived.add(url)
    derived.add(url.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()))
    derived.add(url.replaceAll('%20', '+'))
  } catch {
    // lone surrogates cannot be URL-encoded; the byte forms below still apply
  }
  derived.add(JSON.stringify(text).slice(1, -1))
  for (const prefix of [0, 1, 2]) {
    const padded = Buffer.concat([Buffer.alloc(prefix), needle])
    const first = Math.ceil((8 * prefix) / 6)
    const end = Math.floor((8 * padded.length) / 6)
    const b64 = padded.toString('base64').slice(first, end)
    derived.add(b64)
    derived.add(b64.replaceAll('+', '-').replaceAll('/', '_'))
  }
  const hex = needle.toString('hex')
  derived.add(hex)
  derived.add(hex.toUpperCase())
  const out = [needle]
  for (const form of derived) {
    if (forms.has(form) || form.length < MIN_DERIVED_LENGTH) continue
    forms.add(form)
    out.push(Buffer.from(form, 'utf8'))
  }
  return out
}

/**
 * Finds and masks copies of injected credentials in bytes, in place, one same-length mask per
 * occurrence (so a `Content-Length` stays true). Best effort: it knows the forms `leakForms`
 * lists, not every transformation an upstream could apply.
 */
export class LeakScanner {
  /** Longest first, so a whole `Bearer <key>` is masked rather than only the key inside it. */
  readonly #patterns: Buffer[]

  /**
   * @param needles what must not come back: the key, and the full header value it was injected as.
   */
  constructor(needles: Buffer[]) {
    const unique = new Map<string, Buffer>()
    for (const needle of needles)
      for (const form of leakForms(needle)) unique.set(form.toString('latin1'), form)
    this.#patterns = [...unique.values()].sort((a, b) => b.length - a.length)
  }

  /** Mask every occurrence in `bytes` (modified in place); returns how many were masked. */
  redact(bytes: Buffer): number {
    let count = 0
    for (const pattern of this.#patterns) {
      for (let at = bytes.indexOf(pattern); at >= 0; at = bytes.indexOf(pattern, at + pattern.length)) {
        bytes.fill(MASK, at, at + pattern.length)
        count++
      }
    }
    return count
  }

  /**
   * Length of the longest tail of `bytes` that is the start of some pattern: bytes a pattern
   * completed by the next chunk would cover, so they must not be released yet.
   */
  pendingTail(bytes: Buffer): number {
    let longest = 0
    for (const pattern of this.#patterns) {
      for (let k = Math.min(pattern.length - 1, bytes.length); k > longest; k--) {
        const from = bytes.length - k
        if (bytes[from] === pattern[0] && bytes.compare(pattern, 0, k, from) === 0) {
          longest = k
          break
        }
      }
    }
    return longest
  }

  /** A stream that passes bytes through with every occurrence masked, even one split across chunks. */
  stream(): LeakRedactingStream {
    return new LeakRedactingStream(this)
  }
}

/**
 * Streaming redaction with an overlap window. Only a tail that could still become a match is
 * held back (usually nothing), so a server-sent event stream is not delayed by the scan.
 */
export class LeakRedactingStream extends Transform {
  /** Occurrences masked so far. */
  redacted = 0
  #held: Buffer = Buffer.alloc(0)

  constructor(private readonly scanner: LeakScanner) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    // Our own copy: the mask is written in place, and the source's buffer is not ours to change.
    const bytes = Buffer.concat([this.#held, chunk])
    this.redacted += this.scanner.redact(bytes)
    const keep = this.scanner.pendingTail(bytes)
    // Copy the small tail so it does not pin the whole chunk in memory.
    this.#held = Buffer.from(bytes.subarray(bytes.length - keep))
    if (bytes.length > keep) this.push(bytes.subarray(0, bytes.length - keep))
    done()
  }

  override _flush(done: TransformCallback): void {
    if (this.#held.length > 0) this.push(this.#held)
    this.#held = Buffer.alloc(0)
    done()
  }
}
