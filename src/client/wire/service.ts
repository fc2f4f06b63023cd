import * as grpc from '@grpc/grpc-js'
import { decodeMessage, encodeMessage } from './codec.js'
import { BROKER_DESCRIPTOR } from './descriptor.generated.js'

/**
 * A grpc-js client class for `serviceName` (e.g. `keybroker.v1.Broker`), built from the embedded
 * descriptor: the same paths and messages as a proto-loader client, with no `.proto` read at run time.
 */
export function serviceClientConstructor(serviceName: string): grpc.ServiceClientConstructor {
  const methods = BROKER_DESCRIPTOR.services[serviceName]
  if (!methods) throw new Error(`keybroker wire: unknown service ${serviceName}`)
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {}
  for (const [name, method] of Object.entries(methods)) {
    definition[name] = {
      path: method.path,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      requestSerialize: (value: object) => encodeMessage(BROKER_DESCRIPTOR, method.request, value),
      requestDeserialize: (bytes: Buffer) => decodeMessage(BROKER_DESCRIPTOR, method.request, bytes),
      responseSerialize: (value: object) => encodeMessage(BROKER_DESCRIPTOR, method.response, value),
      responseDeserialize: (bytes: Buffer) => decodeMessage(BROKER_DESCRIPTOR, method.response, bytes),
      originalName: name.charAt(0).toLowerCase() + name.slice(1),
    }
  }
  return grpc.makeClientConstructor(definition, serviceName.split('.').pop()!)
}
