import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { Agent, request } from 'undici'
import type { FetchSecretRequest } from '../src/generated/keybroker/v1/FetchSecretRequest.js'
import type { FetchSecretResponse__Output } from '../src/generated/keybroker/v1/FetchSecretResponse.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { formatTraceparent, parseTraceparent } from '../src/telemetry/index.js'
import {
  AGENT,
  BILLING,
  type Call,
  expectGrpcError,
  serverConfigYaml,
  TestBroker,
  unary,
} from './fixtures/broker.js'
import { OtlpReceiver, type ReceivedSpan } from './fixtures/otlp_receiver.js'
import { RecordingUpstream } from './fixtures/recording_upstream.js'

const KEY = 'sk_live_tracing_never_exported_0123456789abcdef'
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CALLER_SPAN = '00f067aa0ba902b7'

function withTrace(traceparent: string, tracestate?: string): grpc.Metadata {
  const md = new grpc.Metadata()
  md.set('traceparent', traceparent)
  if (tracestate) md.set('tracestate', tracestate)
  return md
}

/** The exchange span (the SERVER span) of a trace, and its step children in start order. */
function splitTrace(spans: ReceivedSpan[]): { exchange: ReceivedSpan; steps: ReceivedSpan[] } {
  const exchanges = spans.filter((s) => s.kind === 2)
  expect(exchanges, 'one exchange span').to.have.length(1)
  const exchange = exchanges[0]!
  const steps = spans
    .filter((s) => s !== exchange)
    .sort((a, b) => (BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1))
  for (const step of steps) {
    expect(step.parentSpanId, `${step.name} is a child of the exchange span`).to.equal(exchange.spanId)
    expect(BigInt(step.startTimeUnixNano) >= BigInt(exchange.startTimeUnixNano), `${step.name} starts inside`)
      .to.be.true
    expect(BigInt(step.endTimeUnixNano) <= BigInt(exchange.endTimeUnixNano), `${step.name} ends inside`).to.be
      .true
  }
  return { exchange, steps }
}

describe('tracing: a span per exchange, exported over OTLP/HTTP JSON', () => {
  let t: TestBroker
  let receiver: OtlpReceiver
  let upstream: RecordingUpstream
  let issue: Call<IssueTokenRequest, IssueTokenResponse__Output>
  let fetchSecret: Call<FetchSecretRequest, FetchSecretResponse__Output>
  let agentIssue: Call<IssueTokenRequest, IssueTokenResponse__Output>
  let dispatcher: Agent
  /** Every credential the tests saw: none may appear in any exported byte. */
  const credentials: string[] = [KEY]

  before(async () => {
    receiver = await OtlpReceiver.start()
    let upstreamUrl = ''
    t = await TestBroker.start({
      beforeConfig: async (pki) => {
        upstream = await new RecordingUpstream({
          certPem: pki.server.certPem,
          keyPem: pki.server.keyPem,
        }).start()
        upstreamUrl = upstream.url
      },
      configYaml: (dir, pki) => {
        const secretsFile = join(dir, 'secrets.json')
        writeFileSync(secretsFile, JSON.stringify({ api_key: KEY }), { mode: 0o600 })
        return `${serverConfigYaml(dir, pki)}telemetry: { otlp_endpoint: "${receiver.url}" }
providers:
  local: { type: file, path: ${secretsFile} }
secrets:
  charges-key: { provider: local, field: api_key }
routes:
  charges: { upstream: "${upstreamUrl}/api", secret: charges-key, ca_file: ${pki.caFile} }
grants:
  - name: billing
    match: { spiffe_id: "${BILLING}" }
    tokens:
      - { audience: payments-api, scopes: ["payments:read"], max_ttl: 15m }
    secrets: [charges-key]
  - name: agents
    match: { spiffe_id: "${AGENT}" }
    tokens:
      - { audience: "proxy:charges", scopes: ["GET /v1/charges*"], max_ttl: 5m }
`
      },
    })
    const billing = t.brokerClient(await t.pki.spiffe('billing', BILLING))
    issue = unary(billing, 'IssueToken')
    fetchSecret = unary(billing, 'FetchSecret')
    agentIssue = unary(t.brokerClient(await t.pki.spiffe('agent', AGENT)), 'IssueToken')
    dispatcher = new Agent({ connect: { ca: t.pki.ca.certPem } })
    credentials.push(String(t.broker.keys.signingKey().privateKey.export({ format: 'jwk' }).d))
  })

  after(async () => {
    // the last check: nothing exported, in any request body, carries a credential
    const exported = receiver.bodies.join('\n')
    expect(exported.length, 'spans were exported').to.be.greaterThan(0)
    for (const secret of credentials)
      expect(exported.includes(secret), 'a credential in the OTLP export').to.be.false
    expect(exported).not.to.match(/eyJ[\w-]+\.[\w-]+\.[\w-]+/)
    await dispatcher.close()
    await t.close()
    await upstream.close()
    await receiver.close()
  })

  it('IssueToken: the exchange span continues the caller trace, with authenticate → authorize → produce → record', async () => {
    const res = await issue(
      { audience: 'payments-api', scopes: ['payments:read'] },
      withTrace(formatTraceparent(CALLER_TRACE, CALLER_SPAN, true), 'vendor=opaque'),
    )
    credentials.push(res.token, ...res.token.split('.'))
    const { exchange, steps } = splitTrace(await receiver.waitForTrace(CALLER_TRACE, 5))
    expect(exchange.parentSpanId, "the caller's span is the parent").to.equal(CALLER_SPAN)
    expect(exchange.traceState).to.equal('vendor=opaque')
    expect(exchange.name).to.equal('keybroker issue')
    expect(exchange.attributes).to.include({
      'keybroker.exchange.id': res.exchange_id,
      'keybroker.exchange.kind': 'issue',
      'keybroker.decision': 'allow',
      'keybroker.subject': BILLING,
      'keybroker.audience': 'payments-api',
      'keybroker.grant': 'billing',
      'keybroker.transport': 'grpc',
    })
    expect(exchange.status.code).to.equal(0)
    expect(steps.map((s) => s.name)).to.deep.equal(['authenticate', 'authorize', 'produce', 'record'])
    expect(exchange.resource['service.name']).to.equal('keybroker')
    expect(exchange.resource['service.instance.id']).to.equal(t.broker.nodeId)
    expect(receiver.paths[0]).to.equal('POST /v1/traces application/json')

    const [row] = await t.broker.log.findByTokenId(res.token_id)
    expect(row?.trace_id, 'the audit row carries the trace id').to.equal(CALLER_TRACE)
  })

  it('FetchSecret without a traceparent starts a new trace; the row and the spans agree on its id', async () => {
    const res = await fetchSecret({ name: 'charges-key' })
    expect(res.value.toString()).to.equal(KEY)
    const row = (await t.broker.log.tail(5)).find((r) => r.id === res.exchange_id)
    expect(row?.trace_id).to.match(/^[0-9a-f]{32}$/)
    const { exchange, steps } = splitTrace(await receiver.waitForTrace(row!.trace_id!, 5))
    expect(exchange.parentSpanId ?? '').to.equal('')
    expect(exchange.attributes).to.include({
      'keybroker.exchange.id': res.exchange_id,
      'keybroker.secret.name': 'charges-key',
      'keybroker.decision': 'allow',
    })
    expect(steps.map((s) => s.name)).to.deep.equal(['authenticate', 'authorize', 'produce', 'record'])
  })

  it('a refused request: the span names the error code; an invalid traceparent is ignored (new trace)', async () => {
    const err = await expectGrpcError(
      issue(
        { audience: 'payments-api', scopes: ['payments:admin'] },
        withTrace('00-zzzz-not-a-traceparent-01'),
      ),
    )
    expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
    const id = String(err.metadata.get('keybroker-exchange-id')[0])
    const row = (await t.broker.log.tail(5)).find((r) => r.id === id)
    expect(row?.decision).to.equal('deny')
    const { exchange, steps } = splitTrace(await receiver.waitForTrace(row!.trace_id!, 4))
    expect(exchange.parentSpanId ?? '').to.equal('')
    expect(exchange.attributes).to.include({
      'keybroker.exchange.id': id,
      'keybroker.decision': 'deny',
      'keybroker.error.code': 'ERR_SCOPE_NOT_GRANTED',
    })
    // refused at authorize: nothing was produced
    expect(steps.map((s) => s.name)).to.deep.equal(['authenticate', 'authorize', 'record'])
  })

  it('a caller trace marked "not sampled" is continued in the audit row but not exported', async () => {
    const unsampled = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
    const quiet = await issue(
      { audience: 'payments-api', scopes: ['payments:read'] },
      withTrace(formatTraceparent(unsampled, CALLER_SPAN, false)),
    )
    credentials.push(quiet.token)
    expect((await t.broker.log.findByTokenId(quiet.token_id))[0]?.trace_id).to.equal(unsampled)
    // export is in order: once a later sampled trace has arrived, the unsampled one would have too
    const later = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
    const loud = await issue(
      { audience: 'payments-api', scopes: ['payments:read'] },
      withTrace(formatTraceparent(later, CALLER_SPAN, true)),
    )
    credentials.push(loud.token)
    await receiver.waitForTrace(later, 5)
    expect(receiver.spans.filter((s) => s.traceId === unsampled)).to.have.length(0)
  })

  it('the injection proxy: the upstream receives a traceparent naming the upstream span', async () => {
    const token = await agentIssue({ audience: 'proxy:charges', scopes: ['GET /v1/charges*'] })
    credentials.push(token.token, ...token.token.split('.'))
    const seen = upstream.received.length
    const res = await request(`${t.httpUrl}/proxy/charges/v1/charges?limit=1`, {
      headers: {
        authorization: `Bearer ${token.token}`,
        traceparent: formatTraceparent(CALLER_TRACE.replace(/^4/, '5'), CALLER_SPAN, true),
      },
      dispatcher,
    })
    await res.body.text()
    expect(res.statusCode).to.equal(200)
    const sent = parseTraceparent(String(upstream.received[seen]!.headers.traceparent))
    expect(sent?.traceId, 'the caller trace is carried to the upstream').to.equal(
      CALLER_TRACE.replace(/^4/, '5'),
    )
    const { exchange, steps } = splitTrace(await receiver.waitForTrace(sent!.traceId, 7))
    expect(exchange.parentSpanId).to.equal(CALLER_SPAN)
    expect(exchange.attributes).to.include({
      'keybroker.route': 'charges',
      'keybroker.exchange.kind': 'proxy',
    })
    expect(steps.map((s) => s.name)).to.deep.equal([
      'authenticate',
      'authorize',
      'produce',
      'record',
      'upstream',
      'record',
    ])
    const upstreamSpan = steps.find((s) => s.name === 'upstream')!
    expect(upstreamSpan.kind).to.equal(3)
    expect(sent?.spanId, "the upstream's parent is the upstream span").to.equal(upstreamSpan.spanId)
    const rows = (await t.broker.log.tail(3)).filter((r) => r.kind === 'proxy')
    expect(rows.map((r) => r.trace_id)).to.deep.equal([sent!.traceId, sent!.traceId])
  })
})

describe('tracing off (the default)', () => {
  let t: TestBroker
  before(async () => {
    t = await TestBroker.start()
  })
  after(() => t.close())

  it('writes no trace id, even when the caller sends a traceparent', async () => {
    const issue: Call<IssueTokenRequest, IssueTokenResponse__Output> = unary(
      t.brokerClient(await t.pki.spiffe('billing', BILLING)),
      'IssueToken',
    )
    const res = await issue(
      { audience: 'payments-api', scopes: ['payments:read'] },
      withTrace(formatTraceparent(CALLER_TRACE, CALLER_SPAN, true)),
    )
    expect((await t.broker.log.findByTokenId(res.token_id))[0]?.trace_id).to.equal(null)
  })
})
