/** Latency samples (microseconds) → the figures every bench row reports. */
export interface LatencySummary {
  count: number
  p50Us: number
  p99Us: number
  p999Us: number
}

export function summarize(samplesUs: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samplesUs).sort()
  const at = (q: number) =>
    sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return { count: sorted.length, p50Us: at(0.5), p99Us: at(0.99), p999Us: at(0.999) }
}

/** Growable sample buffer: a plain array of 300k numbers costs the load generator needless GC. */
export class Samples {
  private data = new Float64Array(1 << 16)
  length = 0

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[this.length++] = value
  }

  view(): Float64Array {
    return this.data.subarray(0, this.length)
  }
}

/** CPU microseconds (user + system) between two process.cpuUsage() readings. */
export function cpuMicros(before: NodeJS.CpuUsage, after: NodeJS.CpuUsage): number {
  return after.user - before.user + (after.system - before.system)
}

// ---- IPC between run.ts and its children ----

export interface UsageReport {
  type: 'usage'
  cpu: NodeJS.CpuUsage
  rss: number
  heapUsed: number
}

export interface LoadResult {
  type: 'done'
  requests: number
  errors: number
  firstError?: string
  wallMs: number
  latency: LatencySummary
}

/** What the runner asks one load-generator process to do. */
export interface LoadSpec {
  kind: 'issue' | 'floor' | 'fetch' | 'list' | 'peer' | 'oauth'
  port: number
  /** peer: how the client authenticates at oidc-provider's token endpoint (default client_secret_basic). */
  peerAuth?: 'client_secret_basic' | 'tls_client_auth'
  /** oauth: the `client_id` sent (the client certificate's SPIFFE ID). */
  clientId?: string
  ca: string
  cert?: string
  key?: string
  concurrency: number
  warmupMs: number
  durationMs?: number
  count?: number
  subjects?: string[]
}
