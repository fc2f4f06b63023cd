import type * as grpc from '@grpc/grpc-js'
import { HealthImplementation, type ServingStatus } from 'grpc-health-check'

/** The names `grpc.health.v1.Health` answers for: the whole server ("") and each keybroker service. */
export const HEALTH_SERVICES = ['', 'keybroker.v1.Broker', 'keybroker.v1.Admin'] as const

/** How often the serving status is re-read from readiness; a probe sees a change within this. */
const DEFAULT_REFRESH_MS = 250

export interface GrpcHealthOptions {
  /** Why the broker cannot serve, or undefined: `Readiness.problem()` (state only, never a DB call). */
  problem: () => string | undefined
  refreshMs?: number
}

export interface GrpcHealth {
  /** Report NOT_SERVING for good (shutdown) and stop the refresh timer. */
  stop(): void
}

/**
 * `grpc.health.v1.Health` on the broker's gRPC server (Kubernetes gRPC probes, load balancers,
 * grpc_health_probe). The status mirrors readiness: NOT_SERVING while the audit store cannot take a
 * write, because every exchange would be refused then. Readiness is a cheap in-memory read, so it is
 * polled on a short timer and watchers are told only when the answer changes.
 */
export function serveGrpcHealth(server: grpc.Server, options: GrpcHealthOptions): GrpcHealth {
  const statusNow = (): ServingStatus => (options.problem() === undefined ? 'SERVING' : 'NOT_SERVING')
  let current = statusNow()
  const health = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((name) => [name, current])))
  health.addToServer(server)
  const publish = (status: ServingStatus) => {
    if (status === current) return
    current = status
    for (const name of HEALTH_SERVICES) health.setStatus(name, status)
  }
  const timer = setInterval(() => publish(statusNow()), options.refreshMs ?? DEFAULT_REFRESH_MS)
  timer.unref()
  return {
    stop() {
      clearInterval(timer)
      publish('NOT_SERVING')
    },
  }
}
