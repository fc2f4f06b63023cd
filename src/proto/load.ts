import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import type { ProtoGrpcType } from '../generated/broker.js'

/** The .proto is the source of truth; server and SDK both load it at run time with the same options. */
export const PROTO_FILE = findProtoFile()

/** Walk up from this module: it runs from src/ (tsx) and from dist/src/ (built), at different depths. */
function findProtoFile(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'proto', 'keybroker', 'v1', 'broker.proto')
    if (existsSync(candidate)) return candidate
    dir = dirname(dir)
  }
  throw new Error('proto/keybroker/v1/broker.proto not found next to the keybroker package')
}

/** Must match the flags given to proto-loader-gen-types (see package.json `gen:proto`). */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
}

let cached: ProtoGrpcType | undefined

export function loadBrokerProto(): ProtoGrpcType {
  if (!cached) {
    const definition = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS)
    cached = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType
  }
  return cached
}
