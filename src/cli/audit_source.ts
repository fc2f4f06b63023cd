import { randomBytes } from 'node:crypto'
import { userInfo } from 'node:os'
import * as grpc from '@grpc/grpc-js'
import { type Command, Option } from 'commander'
import {
  AuditQuery,
  type ExchangeFilter,
  parseFilter,
  type RawExchangeFilter,
  SqliteAuditStore,
  type StoredExchange,
  type VerifyChainResult,
  verifyChain,
} from '../audit/index.js'
import { systemClock } from '../clock.js'
import { BrokerError } from '../errors.js'
import { findRevocationTargets, type RevokeInput } from '../exchange/admin.js'
import type { AdminClient } from '../generated/keybroker/v1/Admin.js'
import type { Exchange__Output } from '../generated/keybroker/v1/Exchange.js'
import { SqliteRevocationStore } from '../issuer/revocations.js'
import { loadBrokerProto } from '../proto/load.js'
import { exchangeFromWire } from '../server/exchange_wire.js'
import type { SqliteDatabase } from '../storage/database.js'
import {
  brokerChannelCredentials,
  callFailed,
  DEFAULT_TIMEOUT_SECONDS,
  whenConnected,
} from './admin_channel.js'
import { CliExit, duration, openStateDb } from './common.js'

/** Where operator commands read the log: the database file, or a running broker's Admin service. */
export interface AuditSource {
  /** One page, newest first. */
  list(
    filter: RawExchangeFilter,
    limit: number,
    pageToken?: string,
  ): Promise<{ rows: StoredExchange[]; next?: string }>
  /**
   * Rows after `afterSeq` (0 with a `since`: from then; 0 without: from the start), oldest first.
   * Without `follow` it stops at the end of the log; with it, it keeps streaming new rows.
   */
  stream(
    filter: RawExchangeFilter,
    afterSeq: number,
    onRow: (row: StoredExchange) => void,
    options: { follow: boolean },
  ): Promise<void>
  verify(): Promise<VerifyChainResult>
  revoke(input: RevokeInput): Promise<{ revoked: number; tokenIds: string[]; exchangeId: string }>
  close(): void
}

export interface SourceOptions {
  config?: string
  db?: string
  address?: string
  ca?: string
  cert?: string
  key?: string
  tokenFile?: string
  /** Seconds to wait for a connection to the broker (--address only). */
  timeout?: number
  serverName?: string
}

/** --config/--db for the file, or --address with --ca and an admin --cert/--key for a running broker. */
export function withSourceOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'keybroker.yaml (reads audit.path)')
    .option('--db <file>', 'the broker database file')
    .addOption(
      new Option('--address <host:port>', 'a running broker (Admin service) instead of the file').env(
        'KEYBROKER_ADDRESS',
      ),
    )
    .addOption(new Option('--ca <file>', 'CA bundle that signed the broker certificate').env('KEYBROKER_CA'))
    .addOption(new Option('--cert <file>', 'admin client certificate').env('KEYBROKER_CERT'))
    .addOption(new Option('--key <file>', 'admin client private key').env('KEYBROKER_KEY'))
    .addOption(new Option('--token-file <file>', 'admin workload JWT').env('KEYBROKER_TOKEN_FILE'))
    .addOption(
      new Option(
        '--server-name <name>',
        "name to verify in the broker's certificate (when --address is an IP or another name)",
      ).env('KEYBROKER_SERVER_NAME'),
    )
    .addOption(
      new Option('--timeout <duration>', 'with --address: how long to wait for the broker to answer')
        .argParser(duration)
        .default(DEFAULT_TIMEOUT_SECONDS, `${DEFAULT_TIMEOUT_SECONDS}s`),
    )
}

export function openAuditSource(opts: SourceOptions, access: 'read' | 'write' = 'read'): AuditSource {
  if (opts.address) {
    if (!opts.ca) throw new CliExit('--address needs --ca (and an admin --cert/--key or --token-file)')
    return new RemoteSource(opts)
  }
  if (!opts.config && !opts.db)
    throw new CliExit('give --db <file> or --config <file>, or --address for a running broker')
  return new LocalSource(openStateDb(opts, access === 'read'))
}

const POLL_MS = 500
const SCAN_ROWS = 1000

class LocalSource implements AuditSource {
  // pages are followed within this process only, so a per-process key is enough
  readonly #query: AuditQuery

  constructor(private readonly db: SqliteDatabase) {
    this.#query = new AuditQuery(db, randomBytes(32))
  }

  async list(raw: RawExchangeFilter, limit: number, pageToken?: string) {
    const page = this.#query.list(parse(raw), limit, pageToken)
    return { rows: page.rows, next: page.nextPageToken }
  }

  async stream(
    raw: RawExchangeFilter,
    afterSeq: number,
    onRow: (row: StoredExchange) => void,
    options: { follow: boolean },
  ): Promise<void> {
    const filter = parse(raw)
    let cursor =
      afterSeq === 0 && filter.sinceMs !== undefined ? this.#query.seqBefore(filter.sinceMs) : afterSeq
    for (;;) {
      const { rows, cursor: next } = this.#query.scan(filter, cursor, SCAN_ROWS)
      for (const row of rows) onRow(row)
      cursor = next
      if (rows.length === SCAN_ROWS) continue
      if (!options.follow) return
      // the broker writes from another process; WAL lets us read without blocking it
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
  }

  async verify() {
    return verifyChain(this.db)
  }

  /** Revoke straight in the file (broker down, or no admin cert at hand); the broker picks it up within seconds. */
  async revoke(input: RevokeInput) {
    const clock = systemClock
    const targets = findRevocationTargets(this.#query, input, Math.floor(clock.now() / 1000))
    const revocations = new SqliteRevocationStore(this.db, clock)
    const audit = new SqliteAuditStore(this.db, { clock })
    const revoked = revocations.revoke(
      targets.map((t) => ({
        jti: t.tokenId,
        expiresAt: t.expiresAt,
        subject: t.subject ?? undefined,
        reason: input.reason,
      })),
    )
    const base = {
      kind: 'revoke' as const,
      decision: 'allow' as const,
      subject: `local:${userInfo().username}`,
      auth_method: 'local',
      reason: input.reason || undefined,
      detail: { method: 'keybroker revoke', ...(input.subject ? { target_subject: input.subject } : {}) },
    }
    const rows = await Promise.all(
      targets.length === 0
        ? [audit.append(base)]
        : targets.map((t) =>
            audit.append({
              ...base,
              token_id: t.tokenId,
              expires_at: t.expiresAt,
              detail: { ...base.detail, token_subject: t.subject ?? '' },
            }),
          ),
    )
    await audit.close()
    return { revoked, tokenIds: targets.map((t) => t.tokenId), exchangeId: rows[0]!.id }
  }

  close() {
    this.db.close()
  }
}

const RECONNECT_MS = 1000

class RemoteSource implements AuditSource {
  readonly #client: AdminClient
  readonly #address: string
  /** No call is made before the channel is up, so a broker that never answers fails within --timeout. */
  readonly #ready: () => Promise<void>
  #connected?: Promise<void>

  constructor(opts: SourceOptions) {
    const proto = loadBrokerProto()
    this.#address = opts.address!
    this.#client = new proto.keybroker.v1.Admin(
      this.#address,
      brokerChannelCredentials({ ...opts, address: this.#address, ca: opts.ca! }),
      opts.serverName ? { 'grpc.ssl_target_name_override': opts.serverName } : {},
    )
    const timeout = opts.timeout ?? DEFAULT_TIMEOUT_SECONDS
    this.#ready = () => {
      this.#connected ??= whenConnected(this.#client, this.#address, timeout)
      return this.#connected
    }
  }

  async list(raw: RawExchangeFilter, limit: number, pageToken?: string) {
    const res = await this.#unary<{ exchanges: Exchange__Output[]; next_page_token: string }>(
      'ListExchanges',
      {
        ...raw,
        limit,
        page_token: pageToken ?? '',
      },
    )
    return { rows: res.exchanges.map(exchangeFromWire), next: res.next_page_token || undefined }
  }

  /**
   * WatchExchanges. Without `follow` the window is closed at "now" (`until`), so the broker ends the
   * stream after the backfill. With it, a dropped or restarted stream reconnects from the last row seen.
   */
  async stream(
    raw: RawExchangeFilter,
    afterSeq: number,
    onRow: (row: StoredExchange) => void,
    options: { follow: boolean },
  ): Promise<void> {
    const request = { ...raw }
    // after_seq 0 means "from now" on the wire; a bounded read wants the whole log
    if (afterSeq === 0 && !raw.since && !options.follow) request.since = '0'
    if (!options.follow && !raw.until) request.until = new Date().toISOString()
    let cursor = afterSeq
    await this.#ready()
    for (;;) {
      try {
        await new Promise<void>((resolve, reject) => {
          const call = this.#client.WatchExchanges({ ...request, after_seq: cursor })
          call.on('data', (message: Exchange__Output) => {
            const row = exchangeFromWire(message)
            cursor = row.seq
            onRow(row)
          })
          call.on('end', resolve)
          call.on('error', reject)
        })
        return
      } catch (err) {
        const e = err as grpc.ServiceError
        const retriable = e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.RESOURCE_EXHAUSTED
        if (!options.follow || !retriable) throw callFailed(e, this.#address)
        process.stderr.write(`keybroker: watch interrupted (${e.details}); resuming after seq ${cursor}\n`)
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS))
      }
    }
  }

  async verify(): Promise<VerifyChainResult> {
    const res = await this.#unary<{
      ok: boolean
      rows_checked: number
      first_bad_seq: number
      first_bad_id: string
      problem: string
    }>('VerifyAuditLog', {})
    return {
      ok: res.ok,
      rowsChecked: Number(res.rows_checked),
      firstBadSeq: res.first_bad_seq ? Number(res.first_bad_seq) : undefined,
      firstBadId: res.first_bad_id || undefined,
      problem: res.problem || undefined,
    }
  }

  async revoke(input: RevokeInput) {
    const res = await this.#unary<{ revoked: number; token_ids: string[]; exchange_id: string }>(
      'RevokeTokens',
      {
        token_id: input.tokenId ?? '',
        subject: input.subject ?? '',
        reason: input.reason ?? '',
      },
    )
    return { revoked: res.revoked, tokenIds: res.token_ids, exchangeId: res.exchange_id }
  }

  close() {
    this.#client.close()
  }

  async #unary<Res>(method: string, request: object): Promise<Res> {
    await this.#ready()
    return new Promise((resolve, reject) => {
      const fn = (this.#client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!.bind(
        this.#client,
      )
      fn(request, { deadline: Date.now() + 60_000 }, (err: grpc.ServiceError | null, res: Res) =>
        err ? reject(callFailed(err, this.#address)) : resolve(res),
      )
    })
  }
}

function parse(raw: RawExchangeFilter): ExchangeFilter {
  try {
    return parseFilter(raw)
  } catch (err) {
    if (err instanceof BrokerError) throw new CliExit(`keybroker: ${err.message}`)
    throw err
  }
}
