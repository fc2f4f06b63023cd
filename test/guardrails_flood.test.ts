import * as net from 'node:net'
import { expect } from 'chai'
import { Agent, request } from 'undici'
import { peerAddress } from '../src/guardrails/peer_address.js'
import { OVERFLOW_KEY, RefusalFolder } from '../src/guardrails/refusal_folder.js'
import { issueTokens, sample, scrapeMetrics } from './fixtures/admin.js'
import { BILLING, TestBroker } from './fixtures/broker.js'

const ATTEMPTS = 10_000
const CONCURRENCY = 100

/** One connection from 127.0.0.2 that speaks no TLS at all: the handshake fails at once. */
function garbageConnection(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => {
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    })
    socket.setTimeout(10_000, () => socket.destroy())
    socket.on('error', () => {})
    socket.on('close', () => resolve())
  })
}

describe('unauthenticated flood control', () => {
  let t: TestBroker

  before(async () => {
    t = await TestBroker.start()
  })

  after(async () => {
    await t?.close()
  })

  it('10,000 failed handshakes from 127.0.0.2 add summary rows, not 10,000; a 127.0.0.1 mTLS caller keeps being served', async function () {
    this.timeout(180_000)
    const billing = await t.pki.spiffe('billing', BILLING)
    const before = await t.broker.log.count()
    let sent = 0
    let served = 0
    let flooding = true
    const flood = (async () => {
      const workers = Array.from({ length: CONCURRENCY }, async () => {
        while (sent < ATTEMPTS) {
          sent++
          await garbageConnection(t.broker.grpcPort)
        }
      })
      await Promise.all(workers)
      flooding = false
    })()
    // meanwhile, an authenticated caller from 127.0.0.1
    while (flooding) {
      await issueTokens(t, billing, 1)
      served++
    }
    await flood
    expect(served, 'the mTLS caller was served during the flood').to.be.greaterThan(0)
    await t.broker.guardrails.flush()

    const rows = await t.broker.log.tail(200)
    const failures = rows.filter((r) => r.kind === 'auth_failure' && r.peer?.includes('127.0.0.2'))
    const summaries = failures.filter((r) => r.reason === 'suppressed')
    const individual = failures.filter((r) => r.reason !== 'suppressed')
    expect(individual.length, 'at most 20 rows a minute from one address').to.be.within(1, 20 * 3)
    expect(summaries.length).to.be.within(1, 3)
    const suppressed = summaries.reduce((n, r) => n + Number(r.detail?.suppressed), 0)
    expect(suppressed + individual.length, 'every failure is accounted for').to.equal(ATTEMPTS)
    const growth = (await t.broker.log.count()) - before
    expect(growth, 'the log grew by the rows above plus the mTLS caller').to.equal(
      individual.length + summaries.length + served,
    )
    const metrics = await scrapeMetrics(t)
    expect(sample(metrics, 'keybroker_auth_failures_suppressed_total')).to.equal(suppressed)
  })

  it('credential-less proxy calls from one address fold too, and name their summary row', async () => {
    const dispatcher = new Agent({ connect: { ca: t.pki.ca.certPem, localAddress: '127.0.0.2' } })
    try {
      const ids: string[] = []
      for (let i = 0; i < 25; i++) {
        const res = await request(`${t.httpUrl}/proxy/none/x`, { dispatcher })
        await res.body.text()
        expect(res.statusCode).to.equal(401)
        ids.push(String(res.headers['keybroker-exchange-id']))
      }
      await t.broker.guardrails.flush()
      // the window may already hold earlier failures from this address: the last ones are folded
      const summaryId = ids.at(-1)!
      expect(ids.filter((id) => id === summaryId).length).to.be.greaterThan(1)
      const summary = await t.broker.storage.reader.byId(summaryId)
      expect(summary).to.include({ kind: 'proxy', decision: 'deny', reason: 'suppressed' })
      expect(JSON.parse(summary!.detail!).suppressed).to.equal(ids.filter((id) => id === summaryId).length)
    } finally {
      await dispatcher.close()
    }
  })
})

describe('refusal folding (unit)', () => {
  it('tracks at most maxKeys addresses; the rest share one overflow bucket that is still written', async () => {
    let now = 0
    const written: Array<Record<string, unknown>> = []
    const folder = new RefusalFolder({
      rowsPerWindow: 1,
      windowMs: 60_000,
      maxKeys: 3,
      now: () => now,
      summary: (_first, count) => ({ reason: 'suppressed', detail: { suppressed: count } }),
      write: async (record) => written.push(record as unknown as Record<string, unknown>),
      onWriteFailed: () => {},
    })
    for (const address of ['a', 'b', 'c'])
      expect(folder.fold(address, { kind: 'auth_failure', decision: 'deny', peer: address })).to.equal(
        undefined,
      )
    // d, e: not tracked (3 keys held): the first goes to the overflow bucket as a row, the next is folded
    expect(folder.fold('d', { kind: 'auth_failure', decision: 'deny', peer: 'd' })).to.equal(undefined)
    const overflowId = folder.fold('e', { kind: 'auth_failure', decision: 'deny', peer: 'e' })
    expect(overflowId).to.be.a('string')
    expect(folder.trackedKeys).to.equal(4)
    now = 60_000
    folder.sweep()
    await folder.flush()
    expect(written).to.have.length(1)
    expect(written[0]).to.include({ id: overflowId, peer: OVERFLOW_KEY, reason: 'suppressed' })
    expect(folder.trackedKeys).to.equal(0)
  })

  it('peer strings of every transport reduce to the address', () => {
    expect(peerAddress('127.0.0.2:5123')).to.equal('127.0.0.2')
    expect(peerAddress('ipv4:127.0.0.2:5123')).to.equal('127.0.0.2')
    expect(peerAddress('[::1]:5123')).to.equal('::1')
    expect(peerAddress('ipv6:[::1]:5123')).to.equal('::1')
    expect(peerAddress(undefined)).to.equal('unknown')
  })
})
