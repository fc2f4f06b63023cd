import { randomBytes } from 'node:crypto'
import { userInfo } from 'node:os'
import * as grpc from '@grpc/grpc-js'
import { type Command, Option } from 'commander'
import {
  AuditQuery,
  type ExchangeFilter,
  parseFilter,
  type RawExchangeFilter,
  type StoredExchange,
  type VerifyChainResult,
  verifyChain,
} from '../audit/index.js'
import { MAX_STATS_BUCKETS, parseStatsQuery } from '../audit/stats_query.js'
import { systemClock } from '../clock.js'
import { BrokerError } from '../errors.js'
import { findRevocationTargets, type RevokeInput } from '../exchange/admin.js'
import type { AdminClient } from '../generated/keybroker/v1/Admin.js'
import type { Exchange__Output } from '../generated/keybroker/v1/Exchange.js'
import type { ExchangeBatch__Output } from '../generated/keybroker/v1/ExchangeBatch.js'
import type { GetExchangeStatsResponse__Output } from '../generated/keybroker/v1/GetExchangeStatsResponse.js'
import { RevocationList } from '../issuer/revocations.js'
import { loadBrokerProto } from '../proto/load.js'
import { exchangeFromWire } from '../server/exchange_wire.js'
import type { ChainCursor, ExchangeStatsResult, Storage } from '../storage/ports.js'
import {
  brokerChannelCredentials,
  callFailed,
  DEFAULT_TIMEOUT_SECONDS,
  whenConnected,
} from './admin_channel.js'
import { CliExit, duration } from './common.js'
import { openCliChain, openCliStorage } from './storage_access.js'

/** Where operator commands read the log: the database file, or a running broker's Admin service. */
export interface AuditSource {
  /** One page, newest first. */
  list(
    filter: RawExchangeFilter,
    limit: number,
    pageToken?: string,
  ): Promise<{ rows: StoredExchange[]; next?: string }>
  /**
   * Rows oldest first within each chain: from the beginning of the log (or from `since` when the
   * filter has one), or from now. Without `follow` it stops at the end of the log; with it, it
   * keeps streaming new rows (a remote stream reconnects from the last row seen).
   */
  stream(
    filter: RawExchangeFilter,
    start: 'beginning' | 'now',
    onRow: (row: StoredExchange) => void,
    options: { follow: boolean },
  ): Promise<void>
  /** Every matching row oldest first (per chain), to the end of the log as it is now. */
  export(filter: RawExchangeFilter, onRow: (row: StoredExchange) => void): Promise<void>
  /** One row by exchange id, every field. */
  show(id: string): Promise<StoredExchange | undefined>
  /** Aggregates computed by the store (GetExchangeStats over --address). `bucket` is a duration (1h). */
  stats(filter: RawExchangeFilter, bucket: string, top: number): Promise<ExchangeStatsResult>
  /** How many rows match (for progress totals). */
  count(filter: RawExchangeFilter): Promise<number>
  verify(onProgress?: (rowsChecked: number) => void): Promise<VerifyChainResult>
  /** Rows in the log, for verify's progress total (undefined when the source cannot tell cheaply). */
  totalRows(): Promise<number | undefined>
  revoke(input: RevokeInput): Promise<{ revoked: number; tokenIds: string[]; exchangeId: string }>
  /** Lift a `revoke --block`; `unblocked` is false when the subject was not blocked. */
  unblock(subject: string, reason?: string): Promise<{ unblocked: boolean; exchangeId: string }>
  close(): void | Promise<void>
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
    .option('-c, --config <file>', 'keybroker.yaml (reads storage:)')
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

export async function openAuditSource(opts: SourceOptions): Promise<AuditSource> {
  if (opts.address) {
    if (!opts.ca) throw new CliExit('--address needs --ca (and an admin --cert/--key or --token-file)')
    return new RemoteSource(opts)
  }
  if (!opts.config && !opts.db)
    throw new CliExit('give --db <file> or --config <file>, or --address for a running broker')
  return new LocalSource(await openCliStorage(opts))
}

const POLL_MS = 500
const SCAN_ROWS = 1000

class LocalSource implements AuditSource {
  // pages are followed within this process only, so a per-process key is enough
  readonly #query: AuditQuery

  constructor(private readonly storage: Storage) {
    this.#query = new AuditQuery(storage.reader, randomBytes(32))
  }

  async list(raw: RawExchangeFilter, limit: number, pageToken?: string) {
    const page = await this.#query.list(parse(raw), limit, pageToken)
    return { rows: page.rows, next: page.nextPageToken }
  }

  async stream(
    raw: RawExchangeFilter,
    start: 'beginning' | 'now',
    onRow: (row: StoredExchange) => void,
    options: { follow: boolean },
  ): Promise<void> {
    const filter = parse(raw)
    let cursor: ChainCursor =
      filter.sinceMs !== undefined
        ? await this.#query.cursorAt(filter.sinceMs)
        : start === 'now'
          ? await this.#query.cursorAt()
          : {}
    for (;;) {
      const { rows, cursor: next } = await this.#query.scan(filter, cursor, SCAN_ROWS)
      for (const row of rows) onRow(row)
      cursor = next
      if (rows.length === SCAN_ROWS) continue
      if (!options.follow) return
      // the broker writes from another process; WAL lets us read without blocking it
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
  }

  export(raw: RawExchangeFilter, onRow: (row: StoredExchange) => void): Promise<void> {
    return this.stream(raw, 'beginning', onRow, { follow: false })
  }

  show(id: string) {
    return this.#query.byId(id)
  }

  async stats(raw: RawExchangeFilter, bucket: string, top: number) {
    const stats = await this.#query.stats(parse(raw), cliStatsQuery(bucket, top))
    if (stats.bucketsTruncated) throw tooManyBuckets(bucket)
    return stats
  }

  async count(raw: RawExchangeFilter) {
    const filter = parse(raw)
    if (Object.keys(filter).length === 0) return this.storage.reader.count()
    return (await this.#query.stats(filter, cliStatsQuery(WHOLE_WINDOW, 1))).total
  }

  async verify(onProgress?: (rowsChecked: number) => void) {
    return verifyChain(this.storage.reader, onProgress)
  }

  totalRows() {
    return this.storage.reader.count()
  }

  /** Revoke straight in the database (broker down, or no admin cert at hand); a running broker applies it within a second. */
  async revoke(input: RevokeInput) {
    const clock = systemClock
    const targets = await findRevocationTargets(this.#query, input, Math.floor(clock.now() / 1000))
    const revocations = new RevocationList(this.storage.revocations, clock)
    const chain = await openCliChain(this.storage)
    try {
      const revoked = await revocations.revoke(
        targets.map((t) => ({
          jti: t.tokenId,
          expiresAt: t.expiresAt,
          subject: t.subject ?? undefined,
          issuer: t.issuer ?? undefined,
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
          ? [chain.appender.append(base)]
          : targets.map((t) =>
              chain.appender.append({
                ...base,
                token_id: t.tokenId,
                expires_at: t.expiresAt,
                detail: { ...base.detail, token_subject: t.subject ?? '' },
              }),
            ),
      )
      if (input.block && input.subject) {
        await this.storage.blocks.add({
          subject: input.subject,
          reason: input.reason || null,
          blocked_by: base.subject,
          blocked_at: clock.now(),
        })
        await chain.appender.append({
          ...base,
          kind: 'block',
          detail: { method: 'keybroker revoke', action: 'block', target_subject: input.subject },
        })
      }
      return { revoked, tokenIds: targets.map((t) => t.tokenId), exchangeId: rows[0]!.id }
    } finally {
      await chain.close()
    }
  }

  /** Unblock straight in the database; a running broker picks it up within a second. */
  async unblock(subject: string, reason?: string) {
    const chain = await openCliChain(this.storage)
    try {
      const unblocked = await this.storage.blocks.remove(subject)
      const row = await chain.appender.append({
        kind: 'block',
        decision: 'allow',
        subject: `local:${userInfo().username}`,
        auth_method: 'local',
        reason: reason || undefined,
        detail: { method: 'keybroker unblock', action: 'unblock', target_subject: subject, unblocked },
      })
      return { unblocked, exchangeId: row.id }
    } finally {
      await chain.close()
    }
  }

  close() {
    return this.storage.close()
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
    start: 'beginning' | 'now',
    onRow: (row: StoredExchange) => void,
    options: { follow: boolean },
  ): Promise<void> {
    const request = { ...raw }
    // no cursor on the wire means "from now"; the beginning is `since: 0`
    if (start === 'beginning' && !raw.since) request.since = '0'
    if (!options.follow && !raw.until) request.until = new Date().toISOString()
    let cursor = ''
    await this.#ready()
    for (;;) {
      try {
        await new Promise<void>((resolve, reject) => {
          const call = this.#client.WatchExchanges({ ...request, cursor })
          call.on('data', (message: Exchange__Output) => {
            const row = exchangeFromWire(message)
            if (message.cursor) cursor = message.cursor
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
        process.stderr.write(
          `keybroker: watch interrupted (${e.details}); resuming from the last exchange seen\n`,
        )
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS))
      }
    }
  }

  /** ExportExchanges: batches of up to 1000 rows, oldest first, in one stream. */
  async export(raw: RawExchangeFilter, onRow: (row: StoredExchange) => void): Promise<void> {
    // no answer within --timeout: one line and exit 1, not a stream that waits forever
    await this.#ready()
    return new Promise<void>((resolve, reject) => {
      const call = this.#client.ExportExchanges({ ...raw })
      call.on('data', (batch: ExchangeBatch__Output) => {
        for (const message of batch.exchanges) onRow(exchangeFromWire(message))
      })
      call.on('end', resolve)
      call.on('error', (err: grpc.ServiceError) => reject(callFailed(err, this.#address)))
    })
  }

  /**
   * ListExchanges has no id filter: an exchange id is a ULID that carries the time it was
   * allocated, so the row is looked up in a window around that time and matched by id.
   */
  async show(id: string): Promise<StoredExchange | undefined> {
    const at = ulidTime(id)
    if (at === undefined)
      throw new CliExit(`keybroker: "${id.slice(0, 40)}" is not an exchange id (26 characters, e.g. 01J…)`)
    const window = {
      since: String(Math.floor((at - SHOW_WINDOW_MS) / 1000)),
      until: String(Math.ceil((at + SHOW_WINDOW_MS) / 1000)),
    }
    let token: string | undefined
    do {
      const page = await this.list(window, 1000, token)
      const row = page.rows.find((r) => r.id === id)
      if (row) return row
      token = page.next
    } while (token)
    return undefined
  }

  async stats(raw: RawExchangeFilter, bucket: string, top: number): Promise<ExchangeStatsResult> {
    const res = await this.#unary<GetExchangeStatsResponse__Output>('GetExchangeStats', {
      filter: raw,
      bucket,
      top,
    })
    const counts = (rows: Array<{ key: string; count: number | string }>) =>
      rows.map((r) => ({ key: r.key, count: Number(r.count) }))
    return {
      total: Number(res.total),
      buckets: res.buckets.map((b) => ({
        startMs: Number(b.start) * 1000,
        allow: Number(b.allow),
        deny: Number(b.deny),
        error: Number(b.error),
        pending: Number(b.pending),
        p50Us: Number(b.latency_p50_us),
        p99Us: Number(b.latency_p99_us),
      })),
      bucketsTruncated: false,
      topSubjects: counts(res.top_subjects),
      topAudiences: counts(res.top_audiences),
      denialsByReason: counts(res.denials_by_reason),
      byKind: counts(res.by_kind),
    }
  }

  async count(raw: RawExchangeFilter) {
    return (await this.stats(raw, WHOLE_WINDOW, 1)).total
  }

  async totalRows() {
    return undefined // VerifyAuditLog runs in the broker: no progress to show
  }

  async verify(): Promise<VerifyChainResult> {
    const res = await this.#unary<{
      ok: boolean
      rows_checked: number
      first_bad_seq: number
      first_bad_id: string
      problem: string
      first_bad_node_id: string
    }>('VerifyAuditLog', {})
    return {
      ok: res.ok,
      rowsChecked: Number(res.rows_checked),
      firstBadSeq: res.first_bad_seq ? Number(res.first_bad_seq) : undefined,
      firstBadId: res.first_bad_id || undefined,
      problem: res.problem || undefined,
      firstBadNodeId: res.first_bad_node_id || undefined,
    }
  }

  async revoke(input: RevokeInput) {
    const res = await this.#unary<{ revoked: number; token_ids: string[]; exchange_id: string }>(
      'RevokeTokens',
      {
        token_id: input.tokenId ?? '',
        subject: input.subject ?? '',
        reason: input.reason ?? '',
        block: input.block ?? false,
      },
    )
    return { revoked: res.revoked, tokenIds: res.token_ids, exchangeId: res.exchange_id }
  }

  async unblock(subject: string, reason?: string) {
    const res = await this.#unary<{ unblocked: boolean; exchange_id: string }>('UnblockSubject', {
      subject,
      reason: reason ?? '',
    })
    return { unblocked: res.unblocked, exchangeId: res.exchange_id }
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

/** A bucket so large that the whole window is one (a total count). */
const WHOLE_WINDOW = '36500d'
/** `audit show --address`: how far from its id's time a row is looked for (ids allocated ahead, clock steps). */
const SHOW_WINDOW_MS = 10 * 60_000
const ULID_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** The millisecond time in a ULID's first 10 characters; undefined when `id` is not a ULID. */
export function ulidTime(id: string): number | undefined {
  if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id)) return undefined
  let ms = 0
  for (const c of id.slice(0, 10)) ms = ms * 32 + ULID_ALPHABET.indexOf(c)
  return ms
}

function cliStatsQuery(bucket: string, top: number) {
  try {
    return parseStatsQuery(bucket, top)
  } catch (err) {
    if (err instanceof BrokerError) throw new CliExit(`keybroker: ${err.message}`)
    throw err
  }
}

function tooManyBuckets(bucket: string): CliExit {
  return new CliExit(
    `keybroker: more than ${MAX_STATS_BUCKETS} buckets of ${bucket} hold rows in this window; use a larger --bucket or a shorter window (--since/--until)`,
  )
}

function parse(raw: RawExchangeFilter): ExchangeFilter {
  try {
    return parseFilter(raw)
  } catch (err) {
    if (err instanceof BrokerError) throw new CliExit(`keybroker: ${err.message}`)
    throw err
  }
}
