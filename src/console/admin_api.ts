import * as grpc from '@grpc/grpc-js'
import { brokerChannelCredentials } from '../cli/admin_channel.js'
import type { ConnectOptions } from '../cli/commands/client.js'
import type { AdminClient } from '../generated/keybroker/v1/Admin.js'
import type { Exchange__Output } from '../generated/keybroker/v1/Exchange.js'
import { loadBrokerProto } from '../proto/load.js'

/** A failed Admin call as the console reports it to the browser: an HTTP status and a readable message. */
export class AdminCallError extends Error {
  constructor(
    readonly httpStatus: number,
    message: string,
    readonly grpcCode: number,
  ) {
    super(message)
    this.name = 'AdminCallError'
  }
}

const HTTP_OF: Partial<Record<grpc.status, number>> = {
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.OUT_OF_RANGE]: 400,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.FAILED_PRECONDITION]: 409,
  [grpc.status.ALREADY_EXISTS]: 409,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.UNAUTHENTICATED]: 403,
  [grpc.status.RESOURCE_EXHAUSTED]: 429,
  [grpc.status.UNIMPLEMENTED]: 501,
}

/** True when the call failed because the broker could not be reached (not because it said no). */
export function isBrokerUnreachable(code: number): boolean {
  return code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED
}

function toCallError(method: string, err: grpc.ServiceError): AdminCallError {
  const details = err.details || err.message
  if (isBrokerUnreachable(err.code))
    return new AdminCallError(502, `broker unreachable: ${details}`, err.code)
  if (err.code === grpc.status.UNIMPLEMENTED)
    return new AdminCallError(501, `this broker does not serve Admin.${method} (upgrade it)`, err.code)
  return new AdminCallError(HTTP_OF[err.code] ?? 502, details, err.code)
}

/** What the live tail needs from a watch: its rows, and when it is connected or broken. */
export interface WatchHandlers {
  onOpen(): void
  onRow(row: Exchange__Output): void
  onError(err: AdminCallError): void
  onEnd(): void
}

/**
 * The broker's Admin service as the console uses it: one channel with the operator's credentials,
 * promise-returning calls, errors mapped to HTTP. The browser never sees these credentials.
 */
export class AdminApi {
  readonly #client: AdminClient

  constructor(options: ConnectOptions & { deadlineMs?: number }) {
    const proto = loadBrokerProto()
    // the console talks to one broker: the first address given
    const address = firstAddress(options.address)
    this.#client = new proto.keybroker.v1.Admin(address, brokerChannelCredentials({ ...options, address }), {
      // reconnect quickly after an outage: the page waits on it
      'grpc.initial_reconnect_backoff_ms': 300,
      'grpc.max_reconnect_backoff_ms': 3000,
      ...(options.serverName ? { 'grpc.ssl_target_name_override': options.serverName } : {}),
    })
    this.deadlineMs = options.deadlineMs ?? 30_000
  }

  readonly deadlineMs: number

  /** One unary Admin RPC; rejects with an AdminCallError. */
  call<Res>(method: string, request: object): Promise<Res> {
    return new Promise((resolve, reject) => {
      const fn = (this.#client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]
      if (typeof fn !== 'function') {
        reject(
          new AdminCallError(501, `this console does not know Admin.${method}`, grpc.status.UNIMPLEMENTED),
        )
        return
      }
      fn.call(
        this.#client,
        request,
        { deadline: Date.now() + this.deadlineMs },
        (err: grpc.ServiceError | null, res: Res) => (err ? reject(toCallError(method, err)) : resolve(res)),
      )
    })
  }

  /** Open WatchExchanges; returns a function that cancels it. */
  watch(request: object, handlers: WatchHandlers): () => void {
    const call = this.#client.WatchExchanges(request)
    let done = false
    call.on('metadata', () => handlers.onOpen())
    call.on('data', (row: Exchange__Output) => handlers.onRow(row))
    call.on('error', (err: grpc.ServiceError) => {
      if (done || err.code === grpc.status.CANCELLED) return
      done = true
      handlers.onError(toCallError('WatchExchanges', err))
    })
    call.on('end', () => {
      if (done) return
      done = true
      handlers.onEnd()
    })
    return () => {
      done = true
      call.cancel()
    }
  }

  close(): void {
    this.#client.close()
  }
}

/** One address out of `--address` given once, repeated, or comma-separated. */
export function firstAddress(address: string | string[]): string {
  const first = (Array.isArray(address) ? address[0] : address)?.split(',')[0]?.trim()
  return first ?? ''
}
