import type * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { ReflectionService } from '@grpc/reflection'
import { protoPath as HEALTH_PROTO } from 'grpc-health-check'
import { LOADER_OPTIONS, PROTO_FILE } from '../proto/load.js'

/**
 * gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) describing keybroker.v1 and
 * grpc.health.v1, so grpcurl and Postman work without the .proto. Off unless
 * `server.reflection: true`: it tells anyone who can connect what the Admin service offers.
 */
export function serveReflection(server: grpc.Server): void {
  const definition = protoLoader.loadSync([PROTO_FILE, HEALTH_PROTO], LOADER_OPTIONS)
  new ReflectionService(definition).addToServer(server)
}
