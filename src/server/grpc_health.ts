import type * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { ReflectionService } from '@grpc/reflection'
import {
  HealthImplementation,
  protoPath as healthProtoPath,
  service as healthService,
} from 'grpc-health-check'
import { LOADER_OPTIONS, PROTO_FILE } from '../proto/load.js'

/** The names `grpc.health.v1.Health` answers for: the server as a whole and each keybroker service. */
export const HEALTH_SERVICE_NAMES = ['', 'keybroker.v1.Broker', 'keybroker.v1.Admin'] as const

/** How often a status is re-evaluated while someone is watching it (Watch streams changes). */
const WATCH_POLL_MS = 5_000

export interface GrpcIntrospectionOptions {
  /**
   * Whether the broker can serve right now (signing keys loaded, audit store writable). Evaluated
   * on every Check, and every few seconds while a Watch stream is open.
   */
  healthStatus: () => boolean
  /** Serve gRPC server reflection (config `server.reflection`). */
  reflection: boolean
}

/**
 * Add `grpc.health.v1.Health` (from grpc-health-check) and, when asked for, server reflection to a
 * gRPC server. The Watch poller runs only while a stream is open (and never holds the process).
 *
 * The health answers SERVING only while `healthStatus()` holds, so a load balancer or Kubernetes'
 * gRPC probe takes a broker whose audit log cannot be written out of rotation (it would refuse
 * every exchange anyway, failing closed) and back in once it can.
 */
export function addGrpcHealthAndReflection(server: grpc.Server, options: GrpcIntrospectionOptions): void {
  const health = new HealthImplementation()
  let current: 'SERVING' | 'NOT_SERVING' | undefined
  const refresh = () => {
    const next = options.healthStatus() ? 'SERVING' : 'NOT_SERVING'
    if (next === current) return
    current = next
    // setStatus notifies every watcher, so it is only called on a change
    for (const name of HEALTH_SERVICE_NAMES) health.setStatus(name, next)
  }
  refresh()
  // Take grpc-health-check's handlers, and evaluate the status before each Check answers.
  let handlers: grpc.UntypedServiceImplementation = {}
  health.addToServer({
    addService: (_definition, implementation) => {
      handlers = implementation as grpc.UntypedServiceImplementation
    },
  })
  const check = handlers['check'] as grpc.handleUnaryCall<unknown, unknown>
  let watchers = 0
  let poller: NodeJS.Timeout | undefined
  server.addService(healthService as grpc.ServiceDefinition, {
    ...handlers,
    check: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      refresh()
      check(call, callback)
    },
    watch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      refresh()
      watchers++
      poller ??= setInterval(refresh, WATCH_POLL_MS).unref()
      call.on('cancelled', () => {
        if (--watchers === 0) {
          clearInterval(poller)
          poller = undefined
        }
      })
      ;(handlers['watch'] as grpc.handleServerStreamingCall<unknown, unknown>)(call)
    },
  })
  if (options.reflection) {
    const definition = protoLoader.loadSync([PROTO_FILE, healthProtoPath], LOADER_OPTIONS)
    new ReflectionService(definition).addToServer(server)
  }
}
