import * as grpc from '@grpc/grpc-js'
import { type AppendSource, type AuditQuery, ExchangeWatch, encodeCursor } from '../audit/index.js'
import type { Clock } from '../clock.js'
import { BrokerError } from '../errors.js'
import type { AdminExchange } from '../exchange/index.js'
import type { AdminHandlers } from '../generated/keybroker/v1/Admin.js'
import type { Identity } from '../identity/identity.js'
import { operatorHandlers } from './admin_operator_service.js'
import { callerCredentials, toServiceError, unary } from './broker_service.js'
import { exchangeToWire } from './exchange_wire.js'
import type { GrpcListener } from './grpc_listener.js'

export interface AdminServiceDeps {
  admin: AdminExchange
  query: AuditQuery
  log: AppendSource
  clock: Clock
  listener: () => GrpcListener | undefined
  /** A watcher that stops reading is dropped once the log runs this many rows ahead of it. */
  watchMaxLag: number
  onUnexpected: (err: unknown) => void
  onWatcherDropped: (info: { subject: string; cursor: string; lag: number }) => void
}

/** Approvals, usage and alerts are served by their own modules (approval_service.ts, …). */
type CoreAdminHandlers = Pick<
  AdminHandlers,
  | 'ListExchanges'
  | 'WatchExchanges'
  | 'RevokeTokens'
  | 'VerifyAuditLog'
  | 'RotateSigningKey'
  | 'UnblockSubject'
  | 'ListSigningKeys'
  | 'RetireSigningKey'
  | 'ListRevocations'
  | 'GetExchangeStats'
  | 'ExportExchanges'
>

export interface AdminService {
  handlers: CoreAdminHandlers
  /** End every open watch (UNAVAILABLE with its resume cursor), so shutdown is not held by streams. */
  closeWatches(): void
  /** End the watches of callers who are no longer admins (after a config reload). */
  closeWatchesOfFormerAdmins(): void
}

/** The Admin service (operators): gRPC ⇄ AdminExchange; the steps live in src/exchange/admin.ts. */
export function adminService(deps: AdminServiceDeps): AdminService {
  const { admin, onUnexpected } = deps
  const creds = (call: Parameters<typeof callerCredentials>[0]) => callerCredentials(call, deps.listener())
  const open = new Map<ExchangeWatch, (err: BrokerError) => void>()
  const watchers = new Map<ExchangeWatch, Identity>()

  const handlers: CoreAdminHandlers = {
    ...operatorHandlers({ admin, query: deps.query, creds, onUnexpected }),
    ListExchanges: unary(async (call) => {
      const req = call.request
      const page = await admin.listExchanges(creds(call), { ...req, pageToken: req.page_token })
      return {
        exchanges: page.rows.map((row) => exchangeToWire(row)),
        next_page_token: page.nextPageToken ?? '',
      }
    }, onUnexpected),

    WatchExchanges: (call) => {
      const req = call.request
      admin.openWatch(creds(call), { ...req, afterSeq: Number(req.after_seq), cursor: req.cursor }).then(
        ({ filter, cursor, exchangeId, subject, identity }) => {
          if (call.cancelled) return
          const metadata = new grpc.Metadata()
          metadata.set('keybroker-exchange-id', exchangeId)
          call.sendMetadata(metadata)
          const fail = (error: BrokerError) => call.emit('error', toServiceError(error))
          let finished = false
          // the watch may complete inside its constructor (an `until` already past): no `watch` yet then
          const watch: ExchangeWatch = new ExchangeWatch(
            deps.query,
            deps.log,
            {
              write: (row, at) => call.write(exchangeToWire(row, at)),
              onceDrain: (resume) => call.once('drain', resume),
            },
            {
              filter,
              cursor,
              maxLag: deps.watchMaxLag,
              clock: deps.clock,
              onDropped: (at, lag) => {
                open.delete(watch)
                const resume = encodeCursor(at)
                deps.onWatcherDropped({ subject, cursor: resume, lag })
                fail(
                  new BrokerError(
                    'ERR_WATCHER_TOO_SLOW',
                    `watcher stopped reading and fell ${lag} exchanges behind (limit ${deps.watchMaxLag}); reconnect with cursor=${resume}`,
                  ),
                )
              },
              onComplete: () => {
                finished = true
                call.end()
              },
            },
          )
          if (finished) return
          open.set(watch, (error) => {
            watch.stop()
            fail(error)
          })
          watchers.set(watch, identity)
          const stop = () => {
            watch.stop()
            open.delete(watch)
            watchers.delete(watch)
          }
          call.on('cancelled', stop)
          call.on('close', stop)
          call.on('error', stop)
        },
        (err) => call.emit('error', toServiceError(err, onUnexpected)),
      )
    },

    RevokeTokens: unary(async (call) => {
      const req = call.request
      const result = await admin.revokeTokens(creds(call), {
        tokenId: req.token_id,
        subject: req.subject,
        reason: req.reason,
        block: req.block,
      })
      return { revoked: result.revoked, token_ids: result.tokenIds, exchange_id: result.exchangeId }
    }, onUnexpected),

    UnblockSubject: unary(async (call) => {
      const req = call.request
      const result = await admin.unblockSubject(creds(call), { subject: req.subject, reason: req.reason })
      return { unblocked: result.unblocked, exchange_id: result.exchangeId }
    }, onUnexpected),

    VerifyAuditLog: unary(async (call) => {
      const result = await admin.verifyAuditLog(creds(call))
      return {
        ok: result.ok,
        rows_checked: result.rowsChecked,
        first_bad_seq: result.firstBadSeq ?? 0,
        first_bad_id: result.firstBadId ?? '',
        problem: result.problem ?? '',
        first_bad_node_id: result.firstBadNodeId ?? '',
      }
    }, onUnexpected),

    RotateSigningKey: unary(async (call) => {
      const result = await admin.rotateSigningKey(creds(call))
      return {
        new_kid: result.key.kid,
        activates_at: Math.floor(result.key.activatesAt / 1000),
        published_kids: result.publishedKids,
      }
    }, onUnexpected),
  }

  return {
    handlers,
    closeWatches: () => {
      for (const [watch, end] of open) {
        open.delete(watch)
        end(
          new BrokerError(
            'ERR_SHUTTING_DOWN',
            `broker is shutting down; reconnect to another broker with cursor=${encodeCursor(watch.cursor)}`,
          ),
        )
      }
    },
    closeWatchesOfFormerAdmins: () => {
      for (const [watch, identity] of watchers) {
        if (admin.isAdmin(identity)) continue
        watchers.delete(watch)
        const end = open.get(watch)
        open.delete(watch)
        end?.(
          new BrokerError('ERR_NOT_ADMIN', `${identity.subject} is no longer listed in admins; watch closed`),
        )
      }
    },
  }
}
