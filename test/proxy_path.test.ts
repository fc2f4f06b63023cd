import { expect } from 'chai'
import { BrokerError } from '../src/errors.js'
import { normalizeProxyPath } from '../src/exchange/lib/proxy_path.js'
import { evaluateProxyRequest } from '../src/policy/proxy_scopes.js'
import { wireScope } from '../src/policy/scope_form.js'
import { callerResponseHeaders, upstreamRequestHeaders } from '../src/proxy/headers.js'
import { LeakScanner } from '../src/proxy/leak_scanner.js'

function refusal(raw: string): string {
  try {
    normalizeProxyPath(raw)
  } catch (err) {
    expect(err).to.be.instanceOf(BrokerError)
    expect((err as BrokerError).code).to.equal('ERR_INVALID_ARGUMENT')
    return (err as BrokerError).message
  }
  throw new Error(`${raw} was accepted`)
}

describe('proxy path normalization', () => {
  it('decodes once, resolves dot segments, keeps a trailing slash, re-encodes once', () => {
    expect(normalizeProxyPath('')).to.deep.equal({ path: '/', encoded: '/' })
    expect(normalizeProxyPath('/v1/a/./b/../c/')).to.deep.equal({ path: '/v1/a/c/', encoded: '/v1/a/c/' })
    expect(normalizeProxyPath('/v1/%2e/x')).to.deep.equal({ path: '/v1/x', encoded: '/v1/x' })
    expect(normalizeProxyPath('/v1/a%20b/c:d@e')).to.deep.equal({
      path: '/v1/a b/c:d@e',
      encoded: '/v1/a%20b/c:d@e',
    })
    // a double-encoded slash stays a literal "%2f" in one segment, and goes out encoded again
    expect(normalizeProxyPath('/v1/a%252fb')).to.deep.equal({ path: '/v1/a%2fb', encoded: '/v1/a%252fb' })
  })

  it('refuses every way of leaving the route or confusing the upstream', () => {
    expect(refusal('/..')).to.include("climbs above the route's base")
    expect(refusal('/v1/../..')).to.include("climbs above the route's base")
    expect(refusal('/%2E%2e/x')).to.include("climbs above the route's base")
    expect(refusal('/a//b')).to.include('empty path segments')
    expect(refusal('/a%2Fb')).to.include('encoded slashes')
    expect(refusal('/a%5cb')).to.include('encoded slashes')
    expect(refusal('/a\\b')).to.include('backslashes')
    expect(refusal('/a/..;/b')).to.include('dot segments with parameters')
    expect(refusal('/a%00b')).to.include('control characters')
    expect(refusal('/a%zz')).to.include('malformed percent-escape')
  })
})

describe('proxy scopes', () => {
  it('matches METHOD (or *) and a path glob; ignores scopes of other forms', () => {
    const scopes = ['search:read', 'GET /v1/charges*', '* /v1/models']
    expect(evaluateProxyRequest(scopes, 'GET', '/v1/charges/ch_1')).to.deep.equal({
      scope: 'GET /v1/charges*',
    })
    expect(evaluateProxyRequest(scopes, 'POST', '/v1/models')).to.deep.equal({ scope: '* /v1/models' })
    expect(() => evaluateProxyRequest(scopes, 'POST', '/v1/charges'))
      .to.throw(BrokerError, 'POST /v1/charges is outside the token')
      .with.property('code', 'ERR_SCOPE_NOT_GRANTED')
    expect(() => evaluateProxyRequest(['search:read'], 'GET', '/')).to.throw(/none of the form/)
  })

  it('reads the wire form METHOD:/path exactly like its spaced alias', () => {
    const scopes = ['search:read', 'GET:/v1/charges*', '*:/v1/models']
    expect(evaluateProxyRequest(scopes, 'GET', '/v1/charges/ch_1')).to.deep.equal({
      scope: 'GET:/v1/charges*',
    })
    expect(evaluateProxyRequest(scopes, 'PUT', '/v1/models')).to.deep.equal({ scope: '*:/v1/models' })
    expect(() => evaluateProxyRequest(scopes, 'POST', '/v1/charges')).to.throw(BrokerError, /outside/)
    // a colon not followed by a path is an ordinary scope, not a proxy one
    expect(() => evaluateProxyRequest(['GET:v1'], 'GET', '/v1')).to.throw(/none of the form/)
  })

  it('wireScope writes the spaced alias in the wire form and leaves other scopes alone', () => {
    expect(wireScope('GET /v1/charges*')).to.equal('GET:/v1/charges*')
    expect(wireScope('* /v1/models')).to.equal('*:/v1/models')
    expect(wireScope('GET:/v1/charges*')).to.equal('GET:/v1/charges*')
    expect(wireScope('payments:read')).to.equal('payments:read')
    expect(wireScope('payments read')).to.equal('payments read')
  })
})

describe('proxy header hygiene', () => {
  it('strips the caller credentials, Proxy-*, hop-by-hop and Connection-named fields; injects the key', () => {
    const out = upstreamRequestHeaders(
      {
        authorization: 'Bearer broker-token',
        'proxy-authorization': 'Basic x',
        'proxy-foo': 'y',
        connection: 'keep-alive, x-hop',
        'keep-alive': 'timeout=5',
        'x-hop': 'z',
        te: 'trailers',
        'transfer-encoding': 'chunked',
        upgrade: 'websocket',
        host: 'broker',
        expect: '100-continue',
        'content-type': 'application/json',
        'x-api-key': 'caller-chosen',
      },
      { name: 'X-Api-Key', value: 'Key k' },
    )
    expect(out).to.deep.equal({ 'content-type': 'application/json', 'x-api-key': 'Key k' })
  })

  it('drops hop-by-hop response fields and masks the key wherever it appears', () => {
    const out = callerResponseHeaders(
      {
        'content-type': 'text/plain',
        connection: 'close, x-internal',
        'x-internal': 'a',
        'transfer-encoding': 'chunked',
        'x-echo': 'Bearer s3cr3t+/=',
        location: 'https://api/v1?key=s3cr3t%2B%2F%3D',
        'set-cookie': ['a=1', 'b=2'],
      },
      new LeakScanner([Buffer.from('s3cr3t+/=')]),
    )
    expect(out).to.deep.equal({
      headers: {
        'content-type': 'text/plain',
        'x-echo': 'Bearer *********',
        location: 'https://api/v1?key=***************',
        'set-cookie': ['a=1', 'b=2'],
      },
      redacted: 2,
    })
  })

  it('masks a key split over two response headers (their values concatenated in order)', () => {
    const key = 'sk_live_split_over_two_headers'
    const out = callerResponseHeaders(
      { 'x-a': `v=${key.slice(0, 10)}`, 'set-cookie': [`${key.slice(10)}; Path=/`, 'b=2'] },
      new LeakScanner([Buffer.from(key)]),
    )
    expect(out).to.deep.equal({
      headers: {
        'x-a': `v=${'*'.repeat(10)}`,
        'set-cookie': [`${'*'.repeat(key.length - 10)}; Path=/`, 'b=2'],
      },
      redacted: 1,
    })
  })
})
