/**
 * The shape of the embedded wire descriptor: what the client needs to know about the proto to
 * speak it, flattened (full type names, resolved references). Produced from the .proto at build time
 * by `src/build/client_descriptor.ts`; see `descriptor.ts`.
 */

export type ScalarType =
  | 'double'
  | 'float'
  | 'int32'
  | 'int64'
  | 'uint32'
  | 'uint64'
  | 'sint32'
  | 'sint64'
  | 'fixed32'
  | 'fixed64'
  | 'sfixed32'
  | 'sfixed64'
  | 'bool'
  | 'string'
  | 'bytes'

/** A field's value type: a scalar, or a message / enum named by `ref` (full name). */
export interface WireValueType {
  type: ScalarType | 'message' | 'enum'
  ref?: string
}

export interface WireField extends WireValueType {
  name: string
  id: number
  repeated?: boolean
  /** Repeated scalars are written packed (proto3 default). */
  packed?: boolean
  /** `map<key, value>`: `type`/`ref` describe the value. */
  mapKey?: ScalarType
  /**
   * The oneof this field belongs to (a proto3 `optional` field is its own synthetic oneof). An unset
   * member is absent from a decoded object; a set one also sets the property named after the oneof
   * to the member's name, as proto-loader's `oneofs: true` does.
   */
  oneof?: string
}

export interface WireMessage {
  fields: WireField[]
}

export interface WireMethod {
  path: string
  request: string
  response: string
  requestStream: boolean
  responseStream: boolean
}

export interface WireDescriptor {
  /** Services by full name, then methods by name. */
  services: Record<string, Record<string, WireMethod>>
  messages: Record<string, WireMessage>
  /** Enums by full name: value name → number. */
  enums: Record<string, Record<string, number>>
}
