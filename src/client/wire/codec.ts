import type { WireDescriptor, WireMessage, WireValueType } from './types.js'

/**
 * A small protobuf (proto3) codec driven by the embedded descriptor, so the SDK needs neither
 * `@grpc/proto-loader` nor a `.proto` file at run time (and bundles cleanly).
 *
 * Decoded objects look exactly as `@grpc/proto-loader` makes them with the options the broker uses
 * (`keepCase, longs: Number, enums: String, defaults: true, oneofs: true`): field names as in the
 * .proto, 64-bit integers as numbers, enums as names, every field present with its default, message
 * fields `null` when absent, `bytes` as Buffer, maps as plain objects. Unknown fields are skipped, so
 * a newer broker's additions do not break an older SDK.
 */

const VARINT = 0
const I64 = 1
const LEN = 2
const I32 = 5

const EMPTY = Buffer.alloc(0)

/** Serialize `value` as message `typeName`. */
export function encodeMessage(descriptor: WireDescriptor, typeName: string, value: object): Buffer {
  const out: Buffer[] = []
  const message = messageOf(descriptor, typeName)
  const record = value as Record<string, unknown>
  for (const field of message.fields) {
    const v = record[field.name]
    if (v === undefined || v === null) continue
    if (field.mapKey) {
      for (const [key, entry] of Object.entries(v as Record<string, unknown>)) {
        const body = Buffer.concat([
          encodeSingle(descriptor, { type: field.mapKey }, 1, key, true),
          encodeSingle(descriptor, field, 2, entry, true),
        ])
        out.push(tag(field.id, LEN), varint(body.length), body)
      }
    } else if (field.repeated) {
      const items = v as unknown[]
      if (items.length === 0) continue
      if (field.packed) {
        const body = Buffer.concat(items.map((item) => scalarPayload(descriptor, field, item)))
        out.push(tag(field.id, LEN), varint(body.length), body)
      } else {
        for (const item of items) out.push(encodeSingle(descriptor, field, field.id, item, true))
      }
    } else {
      // proto3: a default value is not written, except for a member of a oneof (presence matters).
      out.push(encodeSingle(descriptor, field, field.id, v, field.oneof !== undefined))
    }
  }
  return Buffer.concat(out)
}

/** Parse message `typeName` from `bytes`. */
export function decodeMessage(descriptor: WireDescriptor, typeName: string, bytes: Uint8Array): object {
  const message = messageOf(descriptor, typeName)
  const result = defaults(descriptor, message)
  const byId = new Map(message.fields.map((f) => [f.id, f]))
  const reader = new Reader(bytes)
  while (!reader.done()) {
    const key = reader.uint()
    const id = Math.floor(key / 8)
    const wireType = key & 7
    const field = byId.get(id)
    if (!field) {
      reader.skip(wireType)
      continue
    }
    if (field.mapKey) {
      const entry = new Reader(reader.bytes())
      let k: unknown = defaultOf(descriptor, { type: field.mapKey })
      let v: unknown = defaultOf(descriptor, field)
      while (!entry.done()) {
        const entryKey = entry.uint()
        const entryId = Math.floor(entryKey / 8)
        if (entryId === 1) k = readValue(descriptor, { type: field.mapKey }, entry)
        else if (entryId === 2) v = readValue(descriptor, field, entry)
        else entry.skip(entryKey & 7)
      }
      ;(result[field.name] as Record<string, unknown>)[String(k)] = v
    } else if (field.repeated) {
      const list = result[field.name] as unknown[]
      if (wireType === LEN && isPackable(field)) {
        const packed = new Reader(reader.bytes())
        while (!packed.done()) list.push(readValue(descriptor, field, packed))
      } else list.push(readValue(descriptor, field, reader))
    } else {
      result[field.name] = readValue(descriptor, field, reader)
      if (field.oneof) result[field.oneof] = field.name
    }
  }
  return result
}

function messageOf(descriptor: WireDescriptor, typeName: string): WireMessage {
  const message = descriptor.messages[typeName]
  if (!message) throw new Error(`keybroker wire: unknown message type ${typeName}`)
  return message
}

function defaults(descriptor: WireDescriptor, message: WireMessage): Record<string, unknown> {
  const result: Record<string, unknown> = {}
  for (const field of message.fields) {
    if (field.mapKey) result[field.name] = {}
    else if (field.repeated) result[field.name] = []
    // A oneof member that is not set stays absent, as proto-loader leaves it.
    else if (field.oneof) continue
    else result[field.name] = defaultOf(descriptor, field)
  }
  return result
}

function defaultOf(descriptor: WireDescriptor, t: WireValueType): unknown {
  switch (t.type) {
    case 'string':
      return ''
    case 'bytes':
      return EMPTY
    case 'bool':
      return false
    case 'message':
      return null
    case 'enum': {
      const values = descriptor.enums[t.ref!] ?? {}
      return Object.keys(values).find((name) => values[name] === 0) ?? 0
    }
    default:
      return 0
  }
}

function isPackable(t: WireValueType): boolean {
  return t.type !== 'string' && t.type !== 'bytes' && t.type !== 'message'
}

function isDefault(t: WireValueType, v: unknown): boolean {
  switch (t.type) {
    case 'string':
      return v === ''
    case 'bytes':
      return (v as Uint8Array | string).length === 0
    case 'bool':
      return v === false
    case 'message':
      return false
    case 'enum':
      return v === 0
    default:
      return v === 0 || v === 0n || v === '0'
  }
}

/** One field occurrence (tag + payload); `always` writes even a default value. */
function encodeSingle(
  descriptor: WireDescriptor,
  t: WireValueType,
  id: number,
  v: unknown,
  always: boolean,
): Buffer {
  const value = t.type === 'enum' ? enumNumber(descriptor, t, v) : v
  if (!always && isDefault(t, value)) return EMPTY
  switch (t.type) {
    case 'string': {
      const bytes = Buffer.from(String(value), 'utf8')
      return Buffer.concat([tag(id, LEN), varint(bytes.length), bytes])
    }
    case 'bytes': {
      const bytes =
        typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.from(value as Uint8Array)
      return Buffer.concat([tag(id, LEN), varint(bytes.length), bytes])
    }
    case 'message': {
      const body = encodeMessage(descriptor, t.ref!, value as object)
      return Buffer.concat([tag(id, LEN), varint(body.length), body])
    }
    default:
      return Buffer.concat([tag(id, wireTypeOf(t.type)), scalarPayload(descriptor, t, value)])
  }
}

function wireTypeOf(type: WireValueType['type']): number {
  switch (type) {
    case 'double':
    case 'fixed64':
    case 'sfixed64':
      return I64
    case 'float':
    case 'fixed32':
    case 'sfixed32':
      return I32
    default:
      return VARINT
  }
}

function enumNumber(descriptor: WireDescriptor, t: WireValueType, v: unknown): number {
  if (typeof v === 'number') return v
  const n = descriptor.enums[t.ref!]?.[String(v)]
  if (n === undefined) throw new Error(`keybroker wire: ${String(v)} is not a value of ${t.ref}`)
  return n
}

/** The payload of a varint or fixed-width value, without its tag. */
function scalarPayload(descriptor: WireDescriptor, t: WireValueType, v: unknown): Buffer {
  switch (t.type) {
    case 'bool':
      return varint(v ? 1 : 0)
    case 'enum':
      return varint64(BigInt.asUintN(64, BigInt(enumNumber(descriptor, t, v))))
    case 'int32':
    case 'int64':
    case 'uint32':
    case 'uint64':
      return varint64(BigInt.asUintN(64, BigInt(v as number | string | bigint)))
    case 'sint32':
    case 'sint64': {
      const n = BigInt(v as number | string | bigint)
      return varint64(BigInt.asUintN(64, (n << 1n) ^ (n < 0n ? -1n : 0n)))
    }
    case 'fixed32':
    case 'sfixed32':
    case 'float': {
      const b = Buffer.alloc(4)
      if (t.type === 'float') b.writeFloatLE(Number(v))
      else if (t.type === 'fixed32') b.writeUInt32LE(Number(v) >>> 0)
      else b.writeInt32LE(Number(v) | 0)
      return b
    }
    case 'fixed64':
    case 'sfixed64':
    case 'double': {
      const b = Buffer.alloc(8)
      if (t.type === 'double') b.writeDoubleLE(Number(v))
      else b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v as number | string | bigint)))
      return b
    }
    default:
      throw new Error(`keybroker wire: ${t.type} is not a scalar`)
  }
}

function readValue(descriptor: WireDescriptor, t: WireValueType, reader: Reader): unknown {
  switch (t.type) {
    case 'string':
      return reader.bytes().toString('utf8')
    case 'bytes':
      return Buffer.from(reader.bytes())
    case 'message':
      return decodeMessage(descriptor, t.ref!, reader.bytes())
    case 'bool':
      return reader.varint() !== 0n
    case 'enum': {
      const n = Number(BigInt.asIntN(32, reader.varint()))
      const values = descriptor.enums[t.ref!] ?? {}
      return Object.keys(values).find((name) => values[name] === n) ?? n
    }
    case 'int32':
      return Number(BigInt.asIntN(32, reader.varint()))
    case 'uint32':
      return Number(BigInt.asUintN(32, reader.varint()))
    case 'int64':
      return Number(BigInt.asIntN(64, reader.varint()))
    case 'uint64':
      return Number(BigInt.asUintN(64, reader.varint()))
    case 'sint32':
    case 'sint64': {
      const n = reader.varint()
      return Number((n >> 1n) ^ -(n & 1n))
    }
    case 'fixed32':
      return reader.fixed(4).readUInt32LE()
    case 'sfixed32':
      return reader.fixed(4).readInt32LE()
    case 'float':
      return reader.fixed(4).readFloatLE()
    case 'fixed64':
      return Number(reader.fixed(8).readBigUInt64LE())
    case 'sfixed64':
      return Number(reader.fixed(8).readBigInt64LE())
    case 'double':
      return reader.fixed(8).readDoubleLE()
  }
}

function tag(id: number, wireType: number): Buffer {
  return varint(id * 8 + wireType)
}

function varint(n: number): Buffer {
  return varint64(BigInt(n))
}

function varint64(n: bigint): Buffer {
  const bytes: number[] = []
  let rest = n
  while (rest > 0x7fn) {
    bytes.push(Number(rest & 0x7fn) | 0x80)
    rest >>= 7n
  }
  bytes.push(Number(rest))
  return Buffer.from(bytes)
}

class Reader {
  private pos = 0
  private readonly buf: Buffer

  constructor(bytes: Uint8Array) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  done(): boolean {
    return this.pos >= this.buf.length
  }

  varint(): bigint {
    let result = 0n
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) throw new Error('keybroker wire: truncated varint')
      const byte = this.buf[this.pos++]!
      result |= BigInt(byte & 0x7f) << shift
      if (byte < 0x80) return result
    }
    throw new Error('keybroker wire: varint too long')
  }

  /** A varint known to fit in a number (tags, lengths). */
  uint(): number {
    return Number(this.varint())
  }

  bytes(): Buffer {
    const length = this.uint()
    return this.fixed(length)
  }

  fixed(length: number): Buffer {
    if (this.pos + length > this.buf.length) throw new Error('keybroker wire: truncated message')
    const slice = this.buf.subarray(this.pos, this.pos + length)
    this.pos += length
    return slice
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.varint()
    else if (wireType === I64) this.fixed(8)
    else if (wireType === LEN) this.bytes()
    else if (wireType === I32) this.fixed(4)
    else throw new Error(`keybroker wire: unsupported wire type ${wireType}`)
  }
}
