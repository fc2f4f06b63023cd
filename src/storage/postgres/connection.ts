import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import type { ClientConfig, CustomTypesConfig, PoolConfig } from 'pg'
import pg from 'pg'
import type { PostgresStorageOptions } from '../options.js'
import { StorageError } from '../ports.js'

/**
 * Where the driver connects and how, worked out once from `storage:` options: the pg pool
 * config, the TLS policy, and the names used in every message (never the password).
 */
export interface PgTarget {
  /** The URL without its password: the Storage's `location`. */
  location: string
  /** `host:port`, or the Unix socket directory. */
  endpoint: string
  host: string
  user: string
  database: string
  /** Texts that must never appear in a message (the password, raw and URL-encoded). */
  secrets: string[]
  statementTimeoutMs: number
  connectTimeoutMs: number
  /** Everything a pg Client needs (pool options excluded). */
  client: ClientConfig
  pool: PoolConfig
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000
const SUPPORTED_PARAMS = ['sslmode', 'host']
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']

/**
 * BIGINT (int8, oid 20) comes back as a JS number: every BIGINT here is a unix time in ms or a
 * position, far below 2^53. Set per pool, never on pg's global type registry.
 */
const INT8_OID = 20
export const PG_TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (text: string) => Number(text)
      : pg.types.getTypeParser(oid, format as 'text')) as CustomTypesConfig['getTypeParser'],
}

/** Loopback by its literal form only: 127.0.0.0/8, ::1, localhost. A name resolving to 127.x is not trusted. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase()
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  return isIP(h) === 4 && h.startsWith('127.')
}

function invalid(message: string): StorageError {
  return new StorageError('INVALID', `storage.url: ${message}`)
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw invalid(`the ${what} is not valid percent-encoding`)
  }
}

/**
 * Resolve `options` into a pg config under the TLS policy: TLS with full verification (CA from
 * tls.ca_file, certificate must name the host) for any host that is not loopback; plaintext only
 * on loopback or a Unix socket. Throws StorageError INVALID naming the option to fix.
 */
export function resolveTarget(options: PostgresStorageOptions): PgTarget {
  let url: URL
  try {
    url = new URL(options.url)
  } catch {
    throw invalid('not a URL; expected postgres://user@host:5432/database')
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw invalid(`scheme "${url.protocol}" is not postgres: or postgresql:`)
  for (const key of url.searchParams.keys())
    if (!SUPPORTED_PARAMS.includes(key))
      throw invalid(
        `query parameter "${key}" is not supported (only ${SUPPORTED_PARAMS.join(', ')}); pool size, statement timeout and TLS CA are storage options`,
      )
  const user = decode(url.username, 'user')
  if (!user) throw invalid('no user; expected postgres://user@host:5432/database')
  const urlPassword = url.password ? decode(url.password, 'password') : undefined
  const password = options.password ?? urlPassword
  const socketParam = url.searchParams.get('host') ?? undefined
  const hostPart = decode(url.hostname.replace(/^\[(.*)\]$/, '$1'), 'host')
  const host = socketParam ?? (hostPart || 'localhost')
  const socket = host.startsWith('/')
  const port = url.port ? Number(url.port) : 5432
  const database = decode(url.pathname.replace(/^\//, ''), 'database') || user
  if (database.includes('/')) throw invalid(`database name "${database}" contains "/"`)
  const sslmode = url.searchParams.get('sslmode') ?? undefined
  if (sslmode !== undefined && !SSL_MODES.includes(sslmode))
    throw invalid(`sslmode "${sslmode}" is not one of ${SSL_MODES.join(', ')}`)

  const endpoint = socket ? `${host} (Unix socket, port ${port})` : `${formatHost(host)}:${port}`
  const ssl = tlsPolicy({ host, socket, sslmode, caFile: options.tlsCaFile, endpoint })

  const clean = new URL(options.url)
  clean.password = ''
  const location = clean.toString()
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  const secrets = password ? [password, encodeURIComponent(password), url.password].filter(Boolean) : []

  const client: ClientConfig = {
    host,
    port,
    user,
    database,
    ...(password !== undefined ? { password } : {}),
    ssl,
    statement_timeout: options.statementTimeoutMs,
    application_name: 'keybroker',
    // A transaction left open by a stalled process would hold its locks (the revocation feed
    // lock) against every replica: the server ends such a session after a minute.
    idle_in_transaction_session_timeout: 60_000,
    connectionTimeoutMillis: connectTimeoutMs,
    // Probe idle connections after 10 s so a peer that vanished without a RST is noticed.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    types: PG_TYPES,
  }
  return {
    location,
    endpoint,
    host,
    user,
    database,
    secrets,
    statementTimeoutMs: options.statementTimeoutMs,
    connectTimeoutMs,
    client,
    pool: { ...client, max: options.poolSize, idleTimeoutMillis: 30_000 },
  }
}

function formatHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host
}

interface TlsInputs {
  host: string
  socket: boolean
  sslmode: string | undefined
  caFile: string | undefined
  endpoint: string
}

/** false (plaintext) or verify-full TLS options. */
function tlsPolicy({ host, socket, sslmode, caFile, endpoint }: TlsInputs): ClientConfig['ssl'] {
  if (socket) return false
  const loopback = isLoopbackHost(host)
  if (!loopback && sslmode === 'disable')
    throw invalid(
      `sslmode=disable for ${endpoint}: plaintext is allowed only on loopback or a Unix socket; remove sslmode and set storage.tls.ca_file`,
    )
  if (!loopback && caFile === undefined)
    throw new StorageError(
      'INVALID',
      `storage.tls.ca_file is required: PostgreSQL at ${endpoint} is not on this machine, so the connection uses TLS with full verification (plaintext only on loopback or a Unix socket); set it to the CA that signed the server certificate`,
    )
  if (loopback && (caFile === undefined || sslmode === 'disable')) {
    if (sslmode !== undefined && ['require', 'verify-ca', 'verify-full'].includes(sslmode))
      throw invalid(`sslmode=${sslmode} needs storage.tls.ca_file (TLS here always verifies the server)`)
    return false
  }
  let ca: string
  try {
    ca = readFileSync(caFile!, 'utf8')
  } catch (err) {
    throw new StorageError(
      'INVALID',
      `storage.tls.ca_file: cannot read ${caFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    )
  }
  // verify-full: the chain must lead to `ca` and the certificate must name `host` (Node checks
  // the name against servername, or the IP SANs for an address).
  return { ca, rejectUnauthorized: true, ...(isIP(host) ? {} : { servername: host }) }
}
