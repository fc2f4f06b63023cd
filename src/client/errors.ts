import * as grpc from '@grpc/grpc-js'
import { type ErrorCode, isBrokerErrorCode } from '../errors/codes.js'

/**
 * A stable error code: one of the broker's own (`ERR_SCOPE_NOT_GRANTED`, `ERR_TOKEN_REVOKED`, … sent
 * in the `keybroker-error-code` trailer), or one of the SDK's when no broker code applies:
 * `ERR_UNREACHABLE` (no broker answered before the deadline), `ERR_TRANSPORT` (any other gRPC
 * failure without a broker code), `ERR_CLIENT_CONFIG` (a bad option or an unreadable file),
 * `ERR_CLIENT_CLOSED` (a call after `close()`), `ERR_UNKNOWN_CODE` (a newer broker sent a code this
 * SDK does not know; see {@link BrokerError.brokerCode}). The list is shared with the broker.
 *
 * @example
 * ```ts
 * const retryLater: BrokerErrorCode[] = ['ERR_UNREACHABLE', 'ERR_AUDIT_UNAVAILABLE']
 * ```
 */
export type BrokerErrorCode = ErrorCode

/**
 * Every failure of a {@link BrokerClient} call. Switch on `code` (stable) or `grpcCode`; `message` is
 * the broker's own explanation and never contains a token or a secret.
 *
 * @example
 * ```ts
 * import { BrokerClient, BrokerError } from '@keybroker/client'
 * import { status } from '@grpc/grpc-js'
 *
 * const client = new BrokerClient({ address: 'keybroker:7443', tls: { caFile: '/etc/keybroker/ca.pem' } })
 * try {
 *   await client.token({ audience: 'payments-api', scopes: ['payments:write'] })
 * } catch (err) {
 *   if (err instanceof BrokerError && err.grpcCode === status.PERMISSION_DENIED) {
 *     console.error(`not allowed (${err.code}): ${err.message}`)
 *   } else throw err
 * }
 * ```
 */
export class BrokerError extends Error {
  /** The broker's error code from the `keybroker-error-code` trailer, or an SDK code (see {@link BrokerErrorCode}). */
  readonly code: BrokerErrorCode
  /** The gRPC status of the call (`status.UNAVAILABLE`, `status.PERMISSION_DENIED`, …). */
  readonly grpcCode: grpc.status
  /** Id of the broker's audit row for this refusal, when it wrote one (`keybroker-exchange-id` trailer). */
  readonly exchangeId?: string
  /** The code exactly as the broker sent it, when it sent one (differs from `code` only for `ERR_UNKNOWN_CODE`). */
  readonly brokerCode?: string

  constructor(
    code: BrokerErrorCode,
    grpcCode: grpc.status,
    message: string,
    options?: { cause?: unknown; exchangeId?: string; brokerCode?: string },
  ) {
    super(message, { cause: options?.cause })
    this.name = 'BrokerError'
    this.code = code
    this.grpcCode = grpcCode
    this.exchangeId = options?.exchangeId
    this.brokerCode = options?.brokerCode
  }

  /** Name of the gRPC status, e.g. `PERMISSION_DENIED`. */
  get grpcStatus(): string {
    return grpc.status[this.grpcCode] ?? String(this.grpcCode)
  }
}

/**
 * The broker refused the call because the caller is over its grant's `rate_limit`
 * (`ERR_RATE_LIMITED`, RESOURCE_EXHAUSTED). The SDK already waited and retried once when the
 * broker's `retry-after` fitted in the call's deadline; this surfaces when it did not.
 *
 * @example
 * ```ts
 * import { RateLimitedError } from 'keybroker/client'
 * try {
 *   await broker.token({ audience: 'search-api' })
 * } catch (err) {
 *   if (err instanceof RateLimitedError) await new Promise((r) => setTimeout(r, err.retryAfterMs))
 *   else throw err
 * }
 * ```
 */
export class RateLimitedError extends BrokerError {
  /** How long the broker asked the caller to wait (its `retry-after` trailer, in ms). */
  readonly retryAfterMs: number
  constructor(message: string, retryAfterMs: number, options?: { cause?: unknown; exchangeId?: string }) {
    super('ERR_RATE_LIMITED', grpc.status.RESOURCE_EXHAUSTED, message, options)
    this.name = 'RateLimitedError'
    this.retryAfterMs = retryAfterMs
  }
}

/**
 * A token's `max_uses` budget (or an ancestor's) is spent (`ERR_BUDGET_EXHAUSTED`). Never retried:
 * waiting does not bring uses back; ask for a new token if policy allows.
 *
 * @example
 * ```ts
 * import { BudgetExhaustedError } from 'keybroker/client'
 * try {
 *   await broker.delegate(parent.token, { actor: 'sub-agent', maxUses: 5 })
 * } catch (err) {
 *   if (err instanceof BudgetExhaustedError) console.error('the parent token has no use left')
 *   else throw err
 * }
 * ```
 */
export class BudgetExhaustedError extends BrokerError {
  constructor(message: string, options?: { cause?: unknown; exchangeId?: string }) {
    super('ERR_BUDGET_EXHAUSTED', grpc.status.RESOURCE_EXHAUSTED, message, options)
    this.name = 'BudgetExhaustedError'
  }
}

/** A gRPC ServiceError → BrokerError, keeping the broker's code and message. */
export function fromServiceError(err: grpc.ServiceError): BrokerError {
  const trailer = (key: string) => {
    const value = err.metadata?.get(key)[0]
    return value === undefined ? undefined : String(value)
  }
  const brokerCode = trailer('keybroker-error-code')
  const code: BrokerErrorCode =
    brokerCode !== undefined
      ? isBrokerErrorCode(brokerCode)
        ? brokerCode
        : 'ERR_UNKNOWN_CODE'
      : err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED
        ? 'ERR_UNREACHABLE'
        : 'ERR_TRANSPORT'
  const options = { cause: err, exchangeId: trailer('keybroker-exchange-id'), brokerCode }
  const message = err.details || err.message
  if (code === 'ERR_RATE_LIMITED') {
    const seconds = Number(trailer('retry-after'))
    return new RateLimitedError(
      message,
      Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000,
      options,
    )
  }
  if (code === 'ERR_BUDGET_EXHAUSTED') return new BudgetExhaustedError(message, options)
  return new BrokerError(code, err.code, message, options)
}

/** An SDK-side problem with options or files: no call was made. */
export function configError(message: string, cause?: unknown): BrokerError {
  return new BrokerError('ERR_CLIENT_CONFIG', grpc.status.INVALID_ARGUMENT, message, { cause })
}

/**
 * No broker answered within the deadline (connection refused, nobody answering, the broker gone
 * mid-call): `ERR_UNREACHABLE` with status UNAVAILABLE, naming the address so the message is
 * actionable on its own.
 */
export function noAnswer(address: string, deadlineMs: number, detail: string, cause?: unknown): BrokerError {
  const oneLine = detail.replace(/\s+/g, ' ').trim()
  return new BrokerError(
    'ERR_UNREACHABLE',
    grpc.status.UNAVAILABLE,
    `no answer from the broker at ${address} within ${deadlineMs} ms: ${oneLine}`,
    { cause },
  )
}
