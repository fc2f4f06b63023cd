import { alertDataOf } from '../alerts/index.js'
import type { Clock } from '../clock.js'
import type { BrokerConfig } from '../config/index.js'
import { BrokerError } from '../errors.js'
import type { AdminExchange } from '../exchange/admin.js'
import type { AdminHandlers } from '../generated/keybroker/v1/Admin.js'
import type { Alert } from '../generated/keybroker/v1/Alert.js'
import type { GetUsageResponse } from '../generated/keybroker/v1/GetUsageResponse.js'
import { type UsageReport, usageReport } from '../reports/usage.js'
import type { AlertDeliveryState, AlertOutboxRow, Storage } from '../storage/ports.js'
import { callerCredentials, unary } from './broker_service.js'
import type { GrpcListener } from './grpc_listener.js'

export interface ReportServiceDeps {
  admin: AdminExchange
  storage: Pick<Storage, 'reports' | 'alerts'>
  config: () => Pick<BrokerConfig, 'grants' | 'secrets'>
  clock: Clock
  listener: () => GrpcListener | undefined
  onUnexpected: (err: unknown) => void
}

const ALERT_STATES: readonly AlertDeliveryState[] = ['pending', 'delivered', 'failed', 'recorded']
const MAX_ALERTS = 1000

const seconds = (ms: number | null) => (ms === null ? 0 : Math.floor(ms / 1000))

/** An outbox row on the wire: delivery state plus the facts read back from its body. */
export function alertToWire(row: AlertOutboxRow): Alert {
  const data = alertDataOf(row.body)
  return {
    id: row.id,
    rule: row.rule,
    subject: row.subject ?? '',
    sink: row.sink,
    state: row.state,
    attempts: row.attempts,
    last_error: row.last_error ?? '',
    created_at: seconds(row.created_at),
    delivered_at: seconds(row.delivered_at),
    exchange_ids: Array.isArray(data.exchange_ids) ? data.exchange_ids : [],
    summary: typeof data.summary === 'string' ? data.summary : '',
  }
}

/** A usage report on the wire (times in unix seconds). */
export function usageToWire(report: UsageReport): GetUsageResponse {
  return {
    since: seconds(report.sinceMs),
    rows: report.rows.map((r) => ({
      grant_name: r.grant_name,
      subject: r.subject,
      allowed: r.allowed,
      denied: r.denied,
      last_used: seconds(r.last_used),
      distinct_peers: r.distinct_peers,
      live_tokens: r.live_tokens,
    })),
    unused: report.unused.map((u) => ({ kind: u.kind, name: u.name, last_used: seconds(u.lastUsed) })),
  }
}

/** The bounds of ListAlerts: a known state, a limit up to MAX_ALERTS (0 = 100). */
export function parseAlertQuery(input: { state?: string; limit?: number }): {
  state?: AlertDeliveryState
  limit: number
} {
  const state = input.state || undefined
  if (state !== undefined && !ALERT_STATES.includes(state as AlertDeliveryState))
    throw new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `state: "${state.slice(0, 40)}" is not one of ${ALERT_STATES.join(', ')}`,
    )
  const limit = input.limit || 100
  if (limit > MAX_ALERTS)
    throw new BrokerError('ERR_INVALID_ARGUMENT', `limit: ${limit} is above the maximum of ${MAX_ALERTS}`)
  return { state: state as AlertDeliveryState | undefined, limit }
}

/** Admin.GetUsage and Admin.ListAlerts: role-checked (auditors may call both) and audited. */
export function reportHandlers(deps: ReportServiceDeps): Pick<AdminHandlers, 'GetUsage' | 'ListAlerts'> {
  const creds = (call: Parameters<typeof callerCredentials>[0]) => callerCredentials(call, deps.listener())
  return {
    GetUsage: unary(async (call) => {
      const since = call.request.since ?? ''
      const unusedFor = call.request.unused_for ?? ''
      const { result } = await deps.admin.report(
        creds(call),
        'GetUsage',
        {
          ...(since ? { since: since.slice(0, 64) } : {}),
          ...(unusedFor ? { unused_for: unusedFor.slice(0, 64) } : {}),
        },
        () => usageReport(deps.storage.reports, deps.config(), { since, unusedFor }, deps.clock.now()),
        (report) => ({ returned: report.rows.length, unused: report.unused.length }),
      )
      return usageToWire(result)
    }, deps.onUnexpected),
    ListAlerts: unary(async (call) => {
      const { result } = await deps.admin.report(
        creds(call),
        'ListAlerts',
        call.request.state ? { state: String(call.request.state).slice(0, 20) } : {},
        () => deps.storage.alerts.list(parseAlertQuery(call.request)),
        (rows) => ({ returned: rows.length }),
      )
      return { alerts: result.map(alertToWire) }
    }, deps.onUnexpected),
  }
}
