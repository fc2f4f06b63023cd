import { StorageError, type StorageErrorCode } from '../ports.js'
import type { PgTarget } from './connection.js'

/** Our own client-side deadline (the network or the pool did not answer in time). */
export class DeadlineExceeded extends Error {
  constructor(readonly phase: 'connect' | 'query') {
    super(`deadline exceeded while waiting to ${phase}`)
  }
}

export interface FailureContext {
  target: PgTarget
  /** What we were doing, for the message: "commit to chain n1", "migration 2". */
  what: string
  /** 'connect': no statement was sent; 'query': one may have reached the server. */
  phase: 'connect' | 'query'
  /** The call was a write: losing the connection after sending leaves its outcome unknown. */
  write?: boolean
  timeoutMs?: number
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOENT',
  'ENOTFOUND',
  'EAI_AGAIN',
])
const CONNECTION_MESSAGES = [
  /^Connection terminated/,
  /not queryable/,
  /^timeout exceeded when trying to connect/,
  /^Query read timeout/,
  /does not support SSL/,
]

/** Did the connection itself fail (as opposed to the server refusing one statement)? */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof DeadlineExceeded) return true
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  if (
    typeof code === 'string' &&
    (CONNECTION_CODES.has(code) || /^(ERR_TLS|ERR_SSL|CERT_|.*_CERT)/.test(code))
  )
    return true
  if (typeof code === 'string' && /^(08|57P0)/.test(code)) return true
  return CONNECTION_MESSAGES.some((re) => re.test(err.message))
}

/** Replace every secret (the password) in `text`: a message never carries it. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text
  for (const s of secrets) if (s) out = out.split(s).join('***')
  return out
}

/**
 * Turn a pg / Node / deadline failure into a StorageError whose message names what failed
 * (host:port, user, database, the statement's purpose) and never the password.
 */
export function toStorageError(err: unknown, ctx: FailureContext): StorageError {
  if (err instanceof StorageError) return err
  const { code, message, outcomeUnknown } = classify(err, ctx)
  return new StorageError(code, redact(message, ctx.target.secrets), {
    cause: err,
    outcomeUnknown,
  })
}

interface Classified {
  code: StorageErrorCode
  message: string
  outcomeUnknown: boolean
}

function classify(err: unknown, ctx: FailureContext): Classified {
  const { target, what } = ctx
  const at = `PostgreSQL at ${target.endpoint}`
  const unknownIfSent = ctx.phase === 'query' && ctx.write === true
  const e: Error & { code?: string } = err instanceof Error ? err : new Error(String(err))
  const sqlstate = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined
  const result = (code: StorageErrorCode, message: string, unknown = false): Classified => ({
    code,
    message,
    outcomeUnknown: unknown,
  })

  if (err instanceof DeadlineExceeded) {
    return err.phase === 'connect'
      ? result(
          'TIMEOUT',
          `${what}: no connection from the pool to ${at} within ${ctx.timeoutMs ?? '?'} ms (every connection busy, or the server is not answering)`,
        )
      : result(
          'TIMEOUT',
          `${what}: ${at} did not answer within ${ctx.timeoutMs ?? '?'} ms${unknownIfSent ? '; the write may or may not have committed' : ''}`,
          unknownIfSent,
        )
  }
  if (sqlstate !== undefined) return classifySqlState(sqlstate, e.message, ctx, at, unknownIfSent)

  const lost = ctx.phase === 'query'
  switch (e.code) {
    case 'ECONNREFUSED':
      return result(
        'UNAVAILABLE',
        `${what}: cannot connect to ${at}: connection refused (is PostgreSQL running and listening on that host and port?)`,
      )
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return result(
        'UNAVAILABLE',
        `${what}: cannot resolve the PostgreSQL host "${target.host}" (${e.code}); check the host in storage.url`,
      )
    case 'ENOENT':
      return result('UNAVAILABLE', `${what}: no PostgreSQL socket at ${target.endpoint}`)
  }
  if (
    /^Connection terminated due to connection timeout|^timeout exceeded when trying to connect/.test(
      e.message,
    )
  )
    return result(
      'UNAVAILABLE',
      `${what}: cannot connect to ${at}: no answer within ${target.connectTimeoutMs} ms`,
    )
  if (/does not support SSL/.test(e.message))
    return result(
      'UNAVAILABLE',
      `${what}: ${at} does not accept TLS; enable ssl on the server (plaintext is allowed only on loopback or a Unix socket)`,
    )
  if (typeof e.code === 'string' && /^(ERR_TLS|ERR_SSL|CERT_|.*_CERT|UNABLE_TO)/.test(e.code))
    return result(
      'UNAVAILABLE',
      `${what}: TLS verification of ${at} failed (${e.code}: ${e.message}); storage.tls.ca_file must hold the CA that signed the server certificate, and the certificate must name ${target.host}`,
    )
  if (isConnectionFailure(e))
    return lost
      ? result(
          'UNAVAILABLE',
          `${what}: lost the connection to ${at} (${e.message})${unknownIfSent ? '; the write may or may not have committed' : ''}`,
          unknownIfSent,
        )
      : result('UNAVAILABLE', `${what}: cannot connect to ${at}: ${e.message}`)
  return result('UNAVAILABLE', `${what}: ${at} failed: ${e.message}`, unknownIfSent)
}

function classifySqlState(
  sqlstate: string,
  serverMessage: string,
  ctx: FailureContext,
  at: string,
  unknownIfSent: boolean,
): Classified {
  const { target, what } = ctx
  const plain = (code: StorageErrorCode, message: string): Classified => ({
    code,
    message,
    outcomeUnknown: false,
  })
  switch (sqlstate) {
    case '28P01':
      return plain(
        'AUTH_FAILED',
        `${what}: ${at} refused the password for user "${target.user}" (SQLSTATE 28P01); check storage.password_file`,
      )
    case '28000':
      return plain(
        'AUTH_FAILED',
        `${what}: ${at} refused user "${target.user}": ${serverMessage} (SQLSTATE 28000); check the role exists and pg_hba.conf lets it connect`,
      )
    case '3D000':
      return plain(
        'NOT_FOUND',
        `${what}: database "${target.database}" does not exist on ${at}; create it (createdb ${target.database}) or fix the database in storage.url`,
      )
    case '57014':
      return plain(
        'TIMEOUT',
        `${what}: the statement ran longer than statement_timeout (${target.statementTimeoutMs} ms) on ${at} and was cancelled`,
      )
    case '55P03':
      return plain('TIMEOUT', `${what}: could not take a lock on ${at} in time: ${serverMessage}`)
    case '53100':
      return plain('FULL', `${what}: ${at} is out of disk space (SQLSTATE 53100): ${serverMessage}`)
    case '42P01':
    case '42703':
      return plain(
        'INVALID',
        `${what}: the schema on ${at} is missing a table or column (${serverMessage}); run keybroker storage migrate`,
      )
    case 'XX001':
    case 'XX002':
      return plain(
        'CORRUPT',
        `${what}: ${at} reports corrupted data: ${serverMessage} (SQLSTATE ${sqlstate})`,
      )
  }
  if (/^(08|57P0|53)/.test(sqlstate))
    return {
      code: 'UNAVAILABLE',
      message: `${what}: ${at} is unavailable: ${serverMessage} (SQLSTATE ${sqlstate})`,
      outcomeUnknown: sqlstate.startsWith('08') && unknownIfSent,
    }
  return plain('UNAVAILABLE', `${what}: ${at} failed: ${serverMessage} (SQLSTATE ${sqlstate})`)
}
