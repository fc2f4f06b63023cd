import * as grpc from '@grpc/grpc-js'
import { configError } from './errors.js'

/**
 * Several broker replicas behind one client. Either a list of `host:port` (one channel per
 * replica; calls go round-robin over the replicas whose channel is not failing, and a retry goes
 * to another replica), or one `dns:///name:port` target whose every address grpc-js balances with
 * its `round_robin` policy (a Kubernetes headless Service).
 */
export class ReplicaChannels<C extends grpc.Client> {
  readonly #clients: C[]
  #next = 0

  constructor(addresses: readonly string[], make: (address: string, options: grpc.ChannelOptions) => C) {
    this.#clients = addresses.map((address) => make(address, balancingOptions(address)))
  }

  get size(): number {
    return this.#clients.length
  }

  /**
   * The next replica in turn, skipping those `tried` in this call and, when any replica is
   * connected or connecting, those whose connection is failing. Falls back to any replica.
   */
  pick(tried: ReadonlySet<C> = new Set()): C {
    const n = this.#clients.length
    const start = this.#next++ % n
    const order = Array.from({ length: n }, (_, i) => this.#clients[(start + i) % n]!)
    const fresh = order.filter((c) => !tried.has(c))
    const candidates = fresh.length > 0 ? fresh : order
    const healthy = candidates.find((c) => !failing(c))
    return healthy ?? candidates[0]!
  }

  close(): void {
    for (const client of this.#clients) client.close()
  }
}

function failing(client: grpc.Client): boolean {
  return client.getChannel().getConnectivityState(false) === grpc.connectivityState.TRANSIENT_FAILURE
}

/**
 * `address` as given to BrokerClient → the list of targets: an array, or a comma-separated
 * string, of `host:port`; or a single `dns:///…` name.
 */
export function replicaAddresses(address: string | readonly string[]): string[] {
  const list = (typeof address === 'string' ? address.split(',') : [...address]).map((a) => a.trim())
  if (list.length === 0 || list.some((a) => a === ''))
    throw configError('address is required: host:port of the broker, a list of them, or dns:///name:port')
  if (list.length > 1 && list.some((a) => a.includes('://')))
    throw configError(`give either a list of host:port or one dns:/// name, not both: ${list.join(', ')}`)
  return [...new Set(list)]
}

/** A `dns:` target resolves to every replica's address: balance over them all (grpc-js default is pick_first). */
function balancingOptions(address: string): grpc.ChannelOptions {
  if (!address.startsWith('dns:')) return {}
  return { 'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }) }
}

/** Methods whose repetition is harmless: a second token, a second read. */
const IDEMPOTENT = new Set(['IssueToken', 'DelegateToken', 'WhoAmI', 'GetJwks'])

/**
 * Whether a failed attempt of `method` may be sent again (to another replica). UNAVAILABLE only;
 * and for FetchSecret only when the request provably never reached a broker (no connection could
 * be made), because a Vault dynamic read mints a new upstream credential each time it runs.
 */
export function mayRetry(method: string, err: { grpcCode: grpc.status; message: string }): boolean {
  if (err.grpcCode !== grpc.status.UNAVAILABLE) return false
  if (IDEMPOTENT.has(method)) return true
  return neverSent(err.message)
}

/** grpc-js's wording when the call failed before any connection carried it. */
const NEVER_SENT = [
  /No connection established/i,
  /ECONNREFUSED/,
  /Name resolution failed/i,
  /getaddrinfo/i,
  /Failed to connect/i,
]

function neverSent(details: string): boolean {
  return NEVER_SENT.some((re) => re.test(details))
}
