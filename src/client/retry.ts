import { setTimeout as sleep } from 'node:timers/promises'
import { status } from '@grpc/grpc-js'
import { BrokerError, RateLimitedError } from './errors.js'

export interface RetryPolicy {
  /** Total time one call may take, every attempt and pause included. */
  deadlineMs: number
  initialBackoffMs: number
  maxBackoffMs: number
  now: () => number
  /** Which failures are retried (default: every UNAVAILABLE). */
  retryable?: (err: BrokerError) => boolean
}

/**
 * Run `attempt` until it succeeds, retrying only UNAVAILABLE (the broker restarting, a connection
 * dropped, its audit log briefly unwritable) with exponential backoff and jitter, and never past the
 * call's deadline. Every other error is the broker's considered answer and surfaces at once.
 *
 * The pauses are ordinary (ref'd) timers on purpose: a script whose only pending work is a call
 * to the broker must wait for that call to settle, not exit silently in the middle of a backoff.
 */
export async function withRetries<T>(
  attempt: (deadline: number) => Promise<T>,
  policy: RetryPolicy,
): Promise<T> {
  const deadline = policy.now() + policy.deadlineMs
  let unavailable: BrokerError | undefined
  let rateLimited = false
  for (let n = 0; ; n++) {
    try {
      return await attempt(deadline)
    } catch (err) {
      if (!(err instanceof BrokerError)) throw err
      // The deadline ran out inside an attempt after the broker was already unreachable: say so.
      if (err.grpcCode === status.DEADLINE_EXCEEDED && unavailable) throw gaveUp(unavailable, policy)
      // Over a rate limit: wait what the broker asked, once, when that fits in the deadline.
      // (A spent budget is RESOURCE_EXHAUSTED too, and is never retried.)
      if (err instanceof RateLimitedError && !rateLimited && policy.now() + err.retryAfterMs < deadline) {
        rateLimited = true
        await sleep(err.retryAfterMs, undefined, { ref: false })
        continue
      }
      if (err.grpcCode !== status.UNAVAILABLE) throw err
      if (policy.retryable && !policy.retryable(err)) throw err
      unavailable = err
      const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** n)
      // Jitter spreads the retries of many clients after a broker restart.
      const remaining = deadline - policy.now()
      if (remaining <= 0) throw gaveUp(err, policy)
      // The last pause is cut to the deadline; the attempt after it then ends as DEADLINE_EXCEEDED → UNAVAILABLE.
      await sleep(Math.min(remaining, ceiling / 2 + Math.random() * (ceiling / 2)))
    }
  }
}

/**
 * Settle `work` by `deadline` (epoch ms) at the latest: if it has not settled by then, reject with
 * `onTimeout()`. The timer is ref'd, so a pending call keeps the process alive until it settles,
 * and a transport that never reports back cannot leave the caller waiting forever.
 */
export function settleBy<T>(work: Promise<T>, deadline: number, onTimeout: () => Error, now: () => number) {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadline - now()))
    work.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}

function gaveUp(err: BrokerError, policy: RetryPolicy): BrokerError {
  return new BrokerError(
    err.code,
    status.UNAVAILABLE,
    `${err.message} (gave up after retrying for up to ${policy.deadlineMs} ms)`,
    { cause: err, exchangeId: err.exchangeId, brokerCode: err.brokerCode },
  )
}
