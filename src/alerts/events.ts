import { createHmac, timingSafeEqual } from 'node:crypto'
import type { RaisedAlert } from './rules.js'

export const SIGNATURE_HEADER = 'X-Keybroker-Signature'

/** The facts every alert carries, in both formats. */
export interface AlertData {
  rule: string
  summary: string
  exchange_ids: string[]
  count: number
  [extra: string]: string | number | string[]
}

/**
 * The exact body POSTed to a sink (and stored in the outbox, so a retry sends the same bytes):
 * a CloudEvents 1.0 structured-mode event, or with `format: json` the bare alert object.
 *
 * @example
 * alertBody(alert, { id: '01J…', source: 'https://keybroker.example', format: 'cloudevents' })
 * // {"specversion":"1.0","id":"01J…","source":"https://keybroker.example","type":"dev.keybroker.alert.denial_burst",…}
 */
export function alertBody(
  alert: RaisedAlert,
  options: { id: string; source: string; format: 'cloudevents' | 'json' },
): string {
  const data: AlertData = {
    rule: alert.rule,
    summary: alert.summary,
    exchange_ids: alert.exchangeIds,
    count: alert.count,
    ...(alert.extra ?? {}),
  }
  const time = new Date(alert.at).toISOString()
  if (options.format === 'json')
    return JSON.stringify({ id: options.id, source: options.source, subject: alert.subject, time, ...data })
  return JSON.stringify({
    specversion: '1.0',
    id: options.id,
    source: options.source,
    type: `dev.keybroker.alert.${alert.rule}`,
    subject: alert.subject,
    time,
    datacontenttype: 'application/json',
    data,
  })
}

/** Read the alert facts back from a stored body of either format (for listing). */
export function alertDataOf(body: string): Partial<AlertData> {
  try {
    const parsed = JSON.parse(body) as {
      specversion?: string
      data?: Partial<AlertData>
    } & Partial<AlertData>
    return parsed.specversion ? (parsed.data ?? {}) : parsed
  } catch {
    return {}
  }
}

/** `sha256=<hex HMAC-SHA256 of the body>` under the sink's key. */
export function signBody(body: string, key: Buffer): string {
  return `sha256=${createHmac('sha256', key).update(body).digest('hex')}`
}

/**
 * What a receiver does: recompute the HMAC over the raw body and compare in constant time.
 *
 * @example
 * if (!verifySignature(rawBody, req.headers['x-keybroker-signature'], key)) res.writeHead(401).end()
 */
export function verifySignature(body: string | Buffer, header: string | undefined, key: Buffer): boolean {
  if (!header?.startsWith('sha256=')) return false
  const expected = Buffer.from(createHmac('sha256', key).update(body).digest('hex'))
  const given = Buffer.from(header.slice('sha256='.length))
  return given.length === expected.length && timingSafeEqual(given, expected)
}
