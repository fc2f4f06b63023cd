import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { expect } from 'chai'
import {
  encodeOtlpJson,
  formatTraceparent,
  OtlpHttpExporter,
  parseTraceparent,
  type SpanData,
} from '../src/telemetry/index.js'
import { newSpanId, newTraceId } from '../src/telemetry/trace_context.js'
import { OtlpReceiver } from './fixtures/otlp_receiver.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const SPAN = '00f067aa0ba902b7'

function span(name: string): SpanData {
  const now = Date.now() + 0.25
  return {
    traceId: TRACE,
    spanId: newSpanId(),
    name,
    kind: 1,
    startMs: now,
    endMs: now + 1.5,
    attributes: { n: 1, f: 0.5, b: true, s: 'x' },
    status: { code: 0 },
  }
}

describe('W3C traceparent', () => {
  it('parses a valid header and the sampled flag', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).to.deep.equal({
      traceId: TRACE,
      spanId: SPAN,
      sampled: true,
    })
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.sampled).to.equal(false)
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.sampled).to.equal(true)
  })

  it('a later version may carry more fields; version 00 may not', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-extra`)?.traceId).to.equal(TRACE)
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01-extra`)).to.equal(undefined)
  })

  it('refuses invalid headers (the spec: start a new trace)', () => {
    for (const bad of [
      undefined,
      '',
      `ff-${TRACE}-${SPAN}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}`,
      `00-${TRACE}-${SPAN}-01, 00-${TRACE}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-01${' '.repeat(600)}`,
    ])
      expect(parseTraceparent(bad), String(bad)).to.equal(undefined)
  })

  it('formats what it parses, and new ids are random hex of the right size', () => {
    expect(formatTraceparent(TRACE, SPAN, true)).to.equal(`00-${TRACE}-${SPAN}-01`)
    const ids = new Set(Array.from({ length: 2000 }, () => newSpanId()))
    expect(ids.size).to.equal(2000)
    expect(newTraceId()).to.match(/^[0-9a-f]{32}$/)
    expect([...ids][0]).to.match(/^[0-9a-f]{16}$/)
  })
})

describe('OTLP JSON encoding', () => {
  it('hex ids, decimal nanosecond strings, typed attribute values', () => {
    const s = span('a')
    const body = JSON.parse(encodeOtlpJson([s], { 'service.name': 'kb' }))
    const out = body.resourceSpans[0].scopeSpans[0].spans[0]
    expect(body.resourceSpans[0].resource.attributes).to.deep.equal([
      { key: 'service.name', value: { stringValue: 'kb' } },
    ])
    expect(out.traceId).to.equal(TRACE)
    expect(out.parentSpanId).to.equal(undefined)
    expect(out.startTimeUnixNano).to.match(/^\d{19}$/)
    expect(BigInt(out.endTimeUnixNano) - BigInt(out.startTimeUnixNano)).to.equal(1_500_000n)
    expect(BigInt(out.startTimeUnixNano) % 1_000_000n).to.equal(250_000n)
    expect(out.attributes).to.deep.equal([
      { key: 'n', value: { intValue: '1' } },
      { key: 'f', value: { doubleValue: 0.5 } },
      { key: 'b', value: { boolValue: true } },
      { key: 's', value: { stringValue: 'x' } },
    ])
  })
})

describe('OTLP exporter', () => {
  it('sends batches to {endpoint}/v1/traces', async () => {
    const receiver = await OtlpReceiver.start()
    const exporter = new OtlpHttpExporter({ endpoint: `${receiver.url}/`, resource: {}, batchSize: 3 })
    try {
      for (let i = 0; i < 7; i++) exporter.export(span(`s${i}`))
      await exporter.flush()
      expect(receiver.spans.map((s) => s.name)).to.deep.equal(['s0', 's1', 's2', 's3', 's4', 's5', 's6'])
      expect(receiver.bodies.length, 'three batches').to.equal(3)
      expect(exporter.dropped).to.equal(0)
    } finally {
      await exporter.close()
      await receiver.close()
    }
  })

  it('a collector that never answers: export never blocks, overflow is dropped and reported', async () => {
    // accepts connections and requests, never responds
    const hole: Server = createServer(() => {})
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve))
    const problems: Array<{ message: string; dropped: number }> = []
    const exporter = new OtlpHttpExporter({
      endpoint: `http://127.0.0.1:${(hole.address() as AddressInfo).port}`,
      resource: {},
      maxQueue: 100,
      batchSize: 10,
      timeoutMs: 300,
      onProblem: (p) => problems.push(p),
    })
    try {
      const started = performance.now()
      for (let i = 0; i < 10_000; i++) exporter.export(span('x'))
      expect(performance.now() - started, 'export() is a push, not a send').to.be.below(2000)
      // one batch in flight, 100 queued, the rest dropped
      expect(exporter.dropped).to.be.at.least(10_000 - 100 - 10)
      await exporter.flush()
      expect(exporter.dropped, 'the timed-out batches are lost too').to.equal(10_000)
      expect(problems.length, 'reported, at most once a minute').to.equal(1)
      expect(problems[0]!.message).to.match(/^OTLP export to http:\/\/127\.0\.0\.1:\d+\/v1\/traces: /)
    } finally {
      await exporter.close()
      hole.closeAllConnections()
      await new Promise((r) => hole.close(r))
    }
  })

  it('a collector answering 500: the batch is counted as dropped', async () => {
    const receiver = await OtlpReceiver.start()
    receiver.status = 500
    const exporter = new OtlpHttpExporter({ endpoint: receiver.url, resource: {} })
    try {
      exporter.export(span('a'))
      exporter.export(span('b'))
      await exporter.flush()
      expect(exporter.dropped).to.equal(2)
      expect(receiver.paths).to.have.length(1)
    } finally {
      await exporter.close()
      await receiver.close()
    }
  })
})
