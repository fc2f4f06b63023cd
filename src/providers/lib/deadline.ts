import { BrokerError } from '../../errors.js'

/**
 * Run `work` so that it settles within `ms`, or sooner when the caller's `signal` aborts.
 * The signal handed to `work` aborts too, so SDKs that honour it stop their sockets; for
 * clients that do not (node-vault), the race still frees the caller and their own request
 * timeout reaps the socket.
 */
export async function withDeadline<T>(
  work: (signal: AbortSignal) => Promise<T>,
  ms: number,
  callerSignal: AbortSignal | undefined,
  describe: string,
): Promise<T> {
  const timedOut = new BrokerError('ERR_UPSTREAM_TIMEOUT', `${describe} did not answer within ${ms} ms`)
  const cancelled = new BrokerError('ERR_UPSTREAM_TIMEOUT', `${describe} was cancelled by the caller`)
  if (callerSignal?.aborted) throw cancelled

  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  let onCallerAbort: (() => void) | undefined
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(timedOut)
      reject(timedOut)
    }, ms)
    onCallerAbort = () => {
      controller.abort(cancelled)
      reject(cancelled)
    }
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true })
  })
  try {
    return await Promise.race([work(controller.signal), stopped])
  } catch (err) {
    // an SDK that saw our abort throws its own AbortError; report why we aborted instead
    if (controller.signal.aborted && controller.signal.reason instanceof BrokerError) {
      throw controller.signal.reason
    }
    throw err
  } finally {
    clearTimeout(timer)
    if (onCallerAbort) callerSignal?.removeEventListener('abort', onCallerAbort)
  }
}
