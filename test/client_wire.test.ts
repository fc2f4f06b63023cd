import { readFileSync } from 'node:fs'
import * as protoLoader from '@grpc/proto-loader'
import { expect } from 'chai'
import { DESCRIPTOR_FILE, descriptorSource } from '../src/build/client_descriptor.js'
import { decodeMessage, encodeMessage } from '../src/client/wire/codec.js'
import { BROKER_DESCRIPTOR } from '../src/client/wire/descriptor.generated.js'
import { LOADER_OPTIONS, PROTO_FILE } from '../src/proto/load.js'

/** proto-loader (protobufjs) serializers per message, taken from the Broker service's methods. */
function referenceCodecs() {
  const definition = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS)
  const service = definition['keybroker.v1.Broker'] as protoLoader.ServiceDefinition
  const codecs = new Map<string, { serialize: (v: object) => Buffer; deserialize: (b: Buffer) => object }>()
  for (const [name, method] of Object.entries(BROKER_DESCRIPTOR.services['keybroker.v1.Broker']!)) {
    const m = service[name]!
    codecs.set(method.request, { serialize: m.requestSerialize, deserialize: m.requestDeserialize })
    codecs.set(method.response, { serialize: m.responseSerialize, deserialize: m.responseDeserialize })
  }
  return codecs
}

/** A value for every field, chosen to catch encoding slips (multi-byte UTF-8, 0xff bytes, > 2^32 ints). */
const FULL: Record<string, object> = {
  'keybroker.v1.IssueTokenRequest': {
    audience: 'payments-api',
    scopes: ['payments:read', 'GET /v1/charges*', 'ünïcødé ✓'],
    ttl_seconds: 4_000_000_000,
    bind_to_certificate: true,
    task: { run_id: 'run-7', tool_call_id: 'call-2', purpose: 'summarize ✓' },
    max_uses: 3,
  },
  'keybroker.v1.IssueTokenResponse': {
    token: 'eyJhbGciOiJFUzI1NiJ9.e30.sig',
    token_type: 'Bearer',
    expires_at: 1_900_000_000_123,
    scopes: ['a', 'b'],
    audience: 'search-api',
    token_id: '01J5ZZZZZZZZZZZZZZZZZZZZZZ',
    exchange_id: '01J5YYYYYYYYYYYYYYYYYYYYYY',
    max_uses: 1,
  },
  'keybroker.v1.DelegateTokenRequest': {
    parent_token: 'x.y.z',
    scopes: ['s'],
    ttl_seconds: 30,
    actor: 'sub-agent-7',
    audience: 'proxy:stripe',
    task: { run_id: 'run-7', tool_call_id: 'call-3', purpose: 'fetch' },
    max_uses: 1,
  },
  'keybroker.v1.FetchSecretRequest': { name: 'stripe-key' },
  'keybroker.v1.FetchSecretResponse': {
    value: Buffer.from([0, 255, 1, 254, 0x80, 0x7f]),
    version: '7',
    expires_at: -5,
    exchange_id: 'id',
  },
  'keybroker.v1.WhoAmIRequest': {},
  'keybroker.v1.WhoAmIResponse': {
    subject: 'spiffe://example.org/ns/prod/sa/billing',
    auth_method: 'mtls',
    attributes: { namespace: 'prod', 'service-account': 'billing', empty: '' },
    grants: ['billing', 'other'],
    issuer: 'spiffe://example.org',
    cert_thumbprint: 'abc',
  },
  'keybroker.v1.GetJwksRequest': {},
  'keybroker.v1.GetJwksResponse': { jwks_json: '{"keys":[]}' },
  'keybroker.v1.TaskContext': { run_id: 'r', tool_call_id: 't', purpose: 'p' },
  'keybroker.v1.WatchRevocationsRequest': { cursor: 'r1.42' },
  'keybroker.v1.RevocationEvent': {
    token_id: 'jti-1',
    subject: 'spiffe://example.org/x',
    issuer: 'spiffe://example.org',
    kid: 'kid-1',
    not_after: 1_900_000_000,
    cursor: 'r1.43',
    descendants: ['jti-2', 'jti-3'],
  },
  'keybroker.v1.WaitForApprovalRequest': { approval_id: '01J5AAAAAAAAAAAAAAAAAAAAAA' },
  'keybroker.v1.ApprovalUpdate': {
    state: 'issued',
    // nested values are all set: proto-loader writes a present default, this codec omits it (both valid proto3)
    token: {
      token: 'a.b.c',
      token_type: 'Bearer',
      expires_at: 5,
      scopes: ['s'],
      audience: 'x',
      token_id: 't',
      exchange_id: 'e',
      max_uses: 2,
    },
    secret: { value: Buffer.from([1, 2]), version: 'v', expires_at: 9, exchange_id: 'e2' },
    reason: 'ok',
    approver: 'spiffe://example.org/ops/approver',
    approval_id: '01J5AAAAAAAAAAAAAAAAAAAAAA',
    expires_at: 1_900_000_000,
  },
}

describe('the SDK wire codec (embedded descriptor, no proto-loader)', () => {
  const reference = referenceCodecs()

  it('the embedded descriptor is up to date with proto/keybroker/v1/broker.proto', () => {
    expect(readFileSync(DESCRIPTOR_FILE, 'utf8'), 'run make gen-proto').to.equal(descriptorSource())
  })

  it('covers every message the Broker service reaches', () => {
    expect(Object.keys(BROKER_DESCRIPTOR.messages).sort()).to.deep.equal(Object.keys(FULL).sort())
  })

  // messages that only appear nested (TaskContext) are covered through the messages that carry them
  for (const [type, full] of Object.entries(FULL).filter(([t]) => reference.has(t))) {
    it(`${type.split('.').pop()}: same bytes meaning as proto-loader, both ways, full and empty`, () => {
      const ref = reference.get(type)!
      for (const value of [full, {}]) {
        const expected = ref.deserialize(ref.serialize(value))
        // ours → theirs
        expect(ref.deserialize(encodeMessage(BROKER_DESCRIPTOR, type, value))).to.deep.equal(expected)
        // theirs → ours (every field present with its default, as proto-loader decodes)
        expect(decodeMessage(BROKER_DESCRIPTOR, type, ref.serialize(value))).to.deep.equal(expected)
        // and the bytes are the same (field order and proto3 defaults agree)
        expect(encodeMessage(BROKER_DESCRIPTOR, type, value).equals(ref.serialize(value))).to.equal(true)
      }
    })
  }

  it('skips fields it does not know (a newer broker), of every wire type', () => {
    const known = encodeMessage(BROKER_DESCRIPTOR, 'keybroker.v1.GetJwksResponse', { jwks_json: 'j' })
    const unknown = Buffer.from([
      ...[0x10, 0x96, 0x01], // field 2 varint 150
      ...[0x19, 1, 2, 3, 4, 5, 6, 7, 8], // field 3 fixed64
      ...[0x22, 0x02, 0x68, 0x69], // field 4 length-delimited "hi"
      ...[0x2d, 1, 2, 3, 4], // field 5 fixed32
    ])
    const decoded = decodeMessage(
      BROKER_DESCRIPTOR,
      'keybroker.v1.GetJwksResponse',
      Buffer.concat([unknown, known]),
    )
    expect(decoded).to.deep.equal({ jwks_json: 'j' })
  })

  it('refuses truncated input with an error instead of inventing values', () => {
    const bytes = encodeMessage(
      BROKER_DESCRIPTOR,
      'keybroker.v1.IssueTokenResponse',
      FULL['keybroker.v1.IssueTokenResponse']!,
    )
    expect(() =>
      decodeMessage(BROKER_DESCRIPTOR, 'keybroker.v1.IssueTokenResponse', bytes.subarray(0, 10)),
    ).to.throw(/truncated/)
  })
})
