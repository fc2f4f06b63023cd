import * as net from 'node:net'
import * as tls from 'node:tls'
import { expect } from 'chai'
import { Agent, request } from 'undici'
import { parseConfig } from '../src/config/index.js'
import { sample, scrapeMetrics } from './fixtures/admin.js'
import { TestBroker } from './fixtures/broker.js'

/** Connections the test opened; all destroyed after each test so nothing outlives it. */
const opened: net.Socket[] = []

function rawTcp(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(socket))
    opened.push(socket)
    socket.once('error', reject)
  })
}

function rawTls(port: number, alpn?: string[]): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { port, host: '127.0.0.1', rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: alpn } : {}) },
      () => resolve(socket),
    )
    opened.push(socket)
    socket.once('error', reject)
  })
}

/** Milliseconds until the broker closes `socket`; rejects if it is still open after `withinMs`. */
function closedWithin(socket: net.Socket, withinMs: number): Promise<number> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    socket.on('error', () => {}) // a reset is a close too
    socket.resume() // a paused socket never reports the peer's FIN
    if (socket.destroyed) return resolve(0)
    const timer = setTimeout(() => reject(new Error(`connection still open after ${withinMs} ms`)), withinMs)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(performance.now() - started)
    })
  })
}

afterEach(() => {
  for (const socket of opened.splice(0)) socket.destroy()
})

describe('connection limits: slow and idle clients', function () {
  this.timeout(30_000)
  let t: TestBroker

  before(async () => {
    t = await TestBroker.start({
      extraYaml: `limits:
  handshake_timeout: 1s
  headers_timeout: 1s
  request_timeout: 2s
  keep_alive_timeout: 1s
  idle_timeout: 2s
`,
    })
  })
  after(async () => {
    await t?.close()
  })

  for (const listener of ['http', 'grpc'] as const) {
    const port = () => (listener === 'http' ? t.broker.httpPort : t.broker.grpcPort)

    it(`${listener}: a TCP connection that never starts TLS is closed after the handshake timeout`, async () => {
      const socket = await rawTcp(port())
      const elapsed = await closedWithin(socket, 6_000)
      expect(elapsed, 'closed by the timeout, not at accept').to.be.above(500)
    })

    it(`${listener}: a TCP connection that trickles a ClientHello is closed after the handshake timeout`, async () => {
      const socket = await rawTcp(port())
      // a TLS record header announcing a large ClientHello, then one byte every 200 ms
      const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])
      let sent = 0
      const timer = setInterval(() => {
        if (!socket.destroyed) socket.write(hello.subarray(sent % hello.length, (sent % hello.length) + 1))
        sent++
      }, 200)
      try {
        await closedWithin(socket, 6_000)
      } finally {
        clearInterval(timer)
      }
    })
  }

  it('http: a half-sent request is closed after headers_timeout', async () => {
    const socket = await rawTls(t.broker.httpPort)
    socket.write('GET /healthz HTTP/1.1\r\nHost: keybroker\r\nX-Slow: ')
    let reply = ''
    socket.on('data', (d: Buffer) => {
      reply += d.toString()
    })
    const elapsed = await closedWithin(socket, 6_000)
    expect(elapsed).to.be.above(500)
    // Node answers 408 when it can; either way the connection is gone
    if (reply) expect(reply).to.match(/^HTTP\/1\.1 408/)
  })

  it('http: a TLS connection that never sends a request is closed (headers_timeout)', async () => {
    const socket = await rawTls(t.broker.httpPort)
    const elapsed = await closedWithin(socket, 7_000)
    expect(elapsed).to.be.above(500)
  })

  it('http: a kept-alive connection is closed after keep_alive_timeout', async () => {
    const socket = await rawTls(t.broker.httpPort)
    let reply = ''
    socket.on('data', (d: Buffer) => {
      reply += d.toString()
    })
    socket.write('GET /healthz HTTP/1.1\r\nHost: keybroker\r\n\r\n')
    await closedWithin(socket, 6_000)
    expect(reply).to.match(/^HTTP\/1\.1 200/)
  })

  it('grpc: an idle TLS connection (h2, no call) is closed after the idle timeout', async () => {
    const socket = await rawTls(t.broker.grpcPort, ['h2'])
    expect(socket.alpnProtocol).to.equal('h2')
    const elapsed = await closedWithin(socket, 8_000)
    expect(elapsed).to.be.above(500)
  })

  it('a client that keeps working is not cut off', async () => {
    const dispatcher = new Agent({ connect: { ca: t.pki.ca.certPem } })
    try {
      for (let i = 0; i < 3; i++) {
        const res = await request(`${t.httpUrl}/healthz`, { dispatcher })
        expect(res.statusCode).to.equal(200)
        await res.body.text()
        await new Promise((resolve) => setTimeout(resolve, 400))
      }
    } finally {
      await dispatcher.close()
    }
  })
})

describe('connection limits: connections per peer address', function () {
  this.timeout(30_000)
  let t: TestBroker

  before(async () => {
    t = await TestBroker.start({ extraYaml: 'limits: { max_connections_per_peer: 3 }\n' })
  })
  after(async () => {
    await t?.close()
  })

  for (const listener of ['http', 'grpc'] as const) {
    it(`${listener}: a 4th connection from 127.0.0.2 is closed at once; 127.0.0.1 is unaffected`, async () => {
      const port = listener === 'http' ? t.broker.httpPort : t.broker.grpcPort
      const refused = { listener, reason: 'per_peer_limit' }
      const before = sample(await scrapeMetrics(t), 'keybroker_connections_refused_total', refused)
      const held = [
        await rawTcp(port, '127.0.0.2'),
        await rawTcp(port, '127.0.0.2'),
        await rawTcp(port, '127.0.0.2'),
      ]
      const extra = await rawTcp(port, '127.0.0.2')
      // refused at accept: long before the 10 s handshake timeout
      expect(await closedWithin(extra, 3_000)).to.be.below(3_000)
      for (const s of held) expect(s.destroyed, 'the first three stay open').to.equal(false)

      // another address is not throttled by 127.0.0.2's connections
      const local = await rawTls(port, listener === 'grpc' ? ['h2'] : undefined)
      expect(local.authorized || local.encrypted).to.equal(true)
      if (listener === 'http') {
        const dispatcher = new Agent({ connect: { ca: t.pki.ca.certPem } })
        const res = await request(`${t.httpUrl}/healthz`, { dispatcher })
        expect(res.statusCode).to.equal(200)
        await res.body.text()
        await dispatcher.close()
      }

      // a slot freed is a slot available again
      held[0]!.destroy()
      await new Promise((resolve) => setTimeout(resolve, 200))
      const again = await rawTcp(port, '127.0.0.2')
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(again.destroyed, 'accepted once a slot was free').to.equal(false)

      const after = sample(await scrapeMetrics(t), 'keybroker_connections_refused_total', refused)
      expect(after - before).to.equal(1)
      expect(t.logs.some((l) => l.includes('limits.max_connections_per_peer'))).to.equal(true)
    })
  }
})

describe('limits: config', () => {
  const base = 'issuer: https://keybroker.test\n'

  it('has documented defaults', () => {
    const config = parseConfig(base, '/x/keybroker.yaml')
    expect(config.limits).to.deep.equal({
      handshake_timeout: 10,
      headers_timeout: 30,
      request_timeout: 300,
      keep_alive_timeout: 5,
      idle_timeout: 300,
      grpc_keepalive_time: 120,
      grpc_keepalive_timeout: 20,
      max_connections_per_peer: 256,
    })
  })

  it('names the option in an error', () => {
    expect(() => parseConfig(`${base}limits: { headers_timeout: soon }\n`, '/x/keybroker.yaml')).to.throw(
      /limits\.headers_timeout/,
    )
    expect(() =>
      parseConfig(`${base}limits: { headers_timeout: 2m, request_timeout: 1m }\n`, '/x/keybroker.yaml'),
    ).to.throw(/headers_timeout must not be longer than request_timeout/)
    expect(() =>
      parseConfig(`${base}limits: { max_conections_per_peer: 3 }\n`, '/x/keybroker.yaml'),
    ).to.throw(/max_conections_per_peer/)
  })
})
