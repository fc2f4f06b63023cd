import type * as grpc from '@grpc/grpc-js'
import type { AuditQuery } from '../audit/index.js'
import type { AdminExchange } from '../exchange/index.js'
import type { AdminHandlers } from '../generated/keybroker/v1/Admin.js'
import type { ExchangeBatch } from '../generated/keybroker/v1/ExchangeBatch.js'
import type { ListExchangesRequest__Output } from '../generated/keybroker/v1/ListExchangesRequest.js'
import type { CallerCredentials } from '../identity/authenticate.js'
import { toServiceError, unary } from './broker_service.js'
import { exchangeToWire } from './exchange_wire.js'

/** Rows per ExportExchanges message: large enough that a 44k-row export is a few dozen messages. */
export const EXPORT_BATCH_ROWS = 1000

export type OperatorAdminHandlers = Pick<
  AdminHandlers,
  'ListSigningKeys' | 'RetireSigningKey' | 'ListRevocations' | 'GetExchangeStats' | 'ExportExchanges'
>

export interface OperatorServiceDeps {
  admin: AdminExchange
  query: AuditQuery
  creds: (
    call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  ) => CallerCredentials
  onUnexpected: (err: unknown) => void
}

const seconds = (ms: number | undefined) => (ms === undefined ? 0 : Math.floor(ms / 1000))

/** Keys, revocations, stats and export for operators: gRPC ⇄ AdminExchange (steps in src/exchange/admin.ts). */
export function operatorHandlers(deps: OperatorServiceDeps): OperatorAdminHandlers {
  const { admin, onUnexpected } = deps
  return {
    ListSigningKeys: unary(async (call) => {
      const { keys } = await admin.listSigningKeys(deps.creds(call))
      return {
        keys: keys.map((k) => ({
          kid: k.kid,
          alg: k.alg,
          created_at: seconds(k.createdAt),
          activates_at: seconds(k.activatesAt),
          retired_at: seconds(k.retiredAt),
          state: k.state,
        })),
      }
    }, onUnexpected),

    RetireSigningKey: unary(async (call) => {
      const result = await admin.retireSigningKey(deps.creds(call), {
        kid: call.request.kid,
        reason: call.request.reason,
      })
      return { kid: result.kid, exchange_id: result.exchangeId, published_kids: result.publishedKids }
    }, onUnexpected),

    ListRevocations: unary(async (call) => {
      const { revocations } = await admin.listRevocations(deps.creds(call), call.request.limit)
      return {
        revocations: revocations.map((r) => ({
          token_id: r.jti,
          subject: r.subject ?? '',
          issuer: r.issuer ?? '',
          kid: r.kid ?? '',
          reason: r.reason ?? '',
          not_after: r.not_after,
          revoked_at: seconds(r.revoked_at),
        })),
      }
    }, onUnexpected),

    GetExchangeStats: unary(async (call) => {
      const req = call.request
      const stats = await admin.exchangeStats(deps.creds(call), {
        ...(req.filter ?? {}),
        bucket: req.bucket,
        top: req.top,
      })
      const entries = (rows: Array<{ key: string; count: number }>) =>
        rows.map((r) => ({ key: r.key, count: r.count }))
      return {
        total: stats.total,
        buckets: stats.buckets.map((b) => ({
          start: seconds(b.startMs),
          allow: b.allow,
          deny: b.deny,
          error: b.error,
          pending: b.pending,
          latency_p50_us: b.p50Us,
          latency_p99_us: b.p99Us,
        })),
        top_subjects: entries(stats.topSubjects),
        top_audiences: entries(stats.topAudiences),
        denials_by_reason: entries(stats.denialsByReason),
        by_kind: entries(stats.byKind),
      }
    }, onUnexpected),

    ExportExchanges: (call: grpc.ServerWritableStream<ListExchangesRequest__Output, ExchangeBatch>) => {
      exportRows(deps, call).catch((err) => {
        if (!call.cancelled) call.emit('error', toServiceError(err, onUnexpected))
      })
    },
  }
}

/** Every matching row oldest first (per chain), EXPORT_BATCH_ROWS per message, honouring flow control. */
async function exportRows(
  deps: OperatorServiceDeps,
  call: grpc.ServerWritableStream<ListExchangesRequest__Output, ExchangeBatch>,
): Promise<void> {
  const { filter, cursor: start } = await deps.admin.openExport(deps.creds(call), call.request)
  let cursor = start
  while (!call.cancelled) {
    const { rows, cursor: next } = await deps.query.scan(filter, cursor, EXPORT_BATCH_ROWS)
    cursor = next
    if (rows.length > 0 && !call.write({ exchanges: rows.map((row) => exchangeToWire(row)) }))
      await new Promise<void>((resolve) => {
        const done = () => {
          call.off('drain', done)
          call.off('cancelled', done)
          resolve()
        }
        call.on('drain', done)
        call.on('cancelled', done)
      })
    if (rows.length < EXPORT_BATCH_ROWS) break
  }
  if (!call.cancelled) call.end()
}
