import { expect } from 'chai'
import { parseConfig } from '../src/config/index.js'
import { BrokerError } from '../src/errors.js'
import type { Identity } from '../src/identity/identity.js'
import { compileGlob } from '../src/policy/glob.js'
import { Policy } from '../src/policy/policy.js'
import { SpiffeIdIndex } from '../src/policy/spiffe_index.js'

const mtls = (subject: string): Identity => ({
  subject,
  method: 'mtls',
  issuer: 'spiffe://example.org',
  attributes: {},
})

function policyFrom(grantsYaml: string): Policy {
  return new Policy(
    parseConfig(`issuer: https://keybroker.test\ngrants:\n${grantsYaml}`, '/test/keybroker.yaml'),
  )
}

function refusal(fn: () => unknown): BrokerError {
  try {
    fn()
  } catch (err) {
    expect(err).to.be.instanceOf(BrokerError)
    return err as BrokerError
  }
  throw new Error('expected a refusal')
}

describe('unit: SPIFFE ID grant index', () => {
  const index = new SpiffeIdIndex()
  index.add('spiffe://example.org/ns/prod/sa/billing', 0)
  index.add('spiffe://example.org/ns/agents/*', 1)
  index.add('spiffe://example.org/*', 2)
  index.add('spiffe://example.org/ns/prod/sa/billing', 3)

  const lookup = (id: string) => index.lookup(id).sort((a, b) => a - b)

  it('matches an exact ID, and every grant listing it', () => {
    expect(lookup('spiffe://example.org/ns/prod/sa/billing')).to.deep.equal([0, 2, 3])
  })

  it('an exact ID does not match its children or its parent', () => {
    expect(lookup('spiffe://example.org/ns/prod/sa/billing/x')).to.deep.equal([2])
    expect(lookup('spiffe://example.org/ns/prod/sa')).to.deep.equal([2])
  })

  it('a /* glob matches children and deeper descendants', () => {
    expect(lookup('spiffe://example.org/ns/agents/sa')).to.deep.equal([1, 2])
    expect(lookup('spiffe://example.org/ns/agents/sa/research/x')).to.deep.equal([1, 2])
  })

  it('a /* glob does not match the parent path itself', () => {
    expect(lookup('spiffe://example.org/ns/agents')).to.deep.equal([2])
    expect(lookup('spiffe://example.org')).to.deep.equal([])
  })

  it('globs work by path segment, not string prefix', () => {
    expect(lookup('spiffe://example.org/ns/agentsX/sa/a')).to.deep.equal([2])
    expect(lookup('spiffe://example.org/ns/agent')).to.deep.equal([2])
  })

  it('never matches across trust domains', () => {
    expect(lookup('spiffe://example.com/ns/prod/sa/billing')).to.deep.equal([])
    expect(lookup('spiffe://example.org.evil/ns/agents/sa/a')).to.deep.equal([])
  })
})

describe('unit: policy evaluation', () => {
  const policy = policyFrom(`
  - name: billing
    match: { spiffe_id: "spiffe://example.org/ns/prod/sa/billing" }
    tokens:
      - { audience: payments-api, scopes: ["payments:read", "payments:write"], max_ttl: 15m }
  - name: billing-refunds
    match: { spiffe_id: "spiffe://example.org/ns/prod/sa/billing" }
    tokens:
      - { audience: payments-api, scopes: ["payments:refund"], default_ttl: 1m, max_ttl: 2m }
  - name: agents
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: search-api, scopes: ["search:read"], default_ttl: 2m, max_ttl: 5m }
`)
  const billing = mtls('spiffe://example.org/ns/prod/sa/billing')
  const agent = mtls('spiffe://example.org/ns/agents/sa/research')

  it('default deny: an identity no grant matches is refused', () => {
    const err = refusal(() =>
      policy.evaluateTokenRequest(mtls('spiffe://example.org/ns/agents'), {
        audience: 'search-api',
        scopes: [],
        ttlSeconds: 0,
      }),
    )
    expect(err.code).to.equal('ERR_NO_GRANT')
    expect(err.message).to.equal('no grant matches spiffe://example.org/ns/agents')
  })

  it('lists matching grants in config order', () => {
    expect(policy.matchingGrants(billing).map((g) => g.name)).to.deep.equal(['billing', 'billing-refunds'])
    expect(policy.matchingGrants(agent).map((g) => g.name)).to.deep.equal(['agents'])
  })

  it('requested scopes must be a subset of one grant; the first such grant decides the ttl', () => {
    const read = policy.evaluateTokenRequest(billing, {
      audience: 'payments-api',
      scopes: ['payments:read'],
      ttlSeconds: 0,
    })
    expect(read).to.include({ grant: 'billing', ttlSeconds: 300, capped: false })
    const refund = policy.evaluateTokenRequest(billing, {
      audience: 'payments-api',
      scopes: ['payments:refund'],
      ttlSeconds: 0,
    })
    expect(refund).to.include({ grant: 'billing-refunds', ttlSeconds: 60 })
  })

  it('scopes granted only by different grants cannot be combined, and the message says so', () => {
    const err = refusal(() =>
      policy.evaluateTokenRequest(billing, {
        audience: 'payments-api',
        scopes: ['payments:read', 'payments:refund'],
        ttlSeconds: 0,
      }),
    )
    expect(err.code).to.equal('ERR_SCOPE_NOT_GRANTED')
    expect(err.message).to.equal(
      'no single grant allows all of the requested scopes together for audience "payments-api"',
    )
  })

  it('duplicate requested scopes count once', () => {
    const d = policy.evaluateTokenRequest(billing, {
      audience: 'payments-api',
      scopes: ['payments:read', 'payments:read'],
      ttlSeconds: 60,
    })
    expect(d.scopes).to.deep.equal(['payments:read'])
  })

  it('ttl: 0 → default_ttl; at max_ttl → kept; above → capped and flagged', () => {
    const ask = (ttlSeconds: number) =>
      policy.evaluateTokenRequest(agent, { audience: 'search-api', scopes: [], ttlSeconds })
    expect(ask(0)).to.include({ ttlSeconds: 120, capped: false })
    expect(ask(1)).to.include({ ttlSeconds: 1, capped: false })
    expect(ask(300)).to.include({ ttlSeconds: 300, capped: false })
    expect(ask(301)).to.include({ ttlSeconds: 300, capped: true })
    expect(ask(10 * 365 * 86_400)).to.include({ ttlSeconds: 300, capped: true })
  })

  it('refuses an over-long audience and more than 100 scopes before looking at grants', () => {
    expect(
      refusal(() =>
        policy.evaluateTokenRequest(billing, { audience: 'a'.repeat(257), scopes: [], ttlSeconds: 0 }),
      ).message,
    ).to.equal('audience is longer than 256 characters')
    const scopes = Array.from({ length: 101 }, (_, i) => `s${i}`)
    expect(
      refusal(() => policy.evaluateTokenRequest(billing, { audience: 'payments-api', scopes, ttlSeconds: 0 }))
        .message,
    ).to.equal('too many scopes: 101 requested, at most 100 allowed')
  })

  it('finds the right grant among 10,000 exact and 10,000 glob grants', () => {
    const lines: string[] = []
    for (let i = 0; i < 10_000; i++) {
      lines.push(
        `  - { name: exact-${i}, match: { spiffe_id: "spiffe://example.org/svc/${i}" }, tokens: [{ audience: api-${i} }] }`,
      )
      lines.push(
        `  - { name: glob-${i}, match: { spiffe_id: "spiffe://example.org/team/${i}/*" }, tokens: [{ audience: team-${i} }] }`,
      )
    }
    const big = policyFrom(lines.join('\n'))
    expect(big.matchingGrants(mtls('spiffe://example.org/svc/4242')).map((g) => g.name)).to.deep.equal([
      'exact-4242',
    ])
    expect(big.matchingGrants(mtls('spiffe://example.org/team/9999/sa/x')).map((g) => g.name)).to.deep.equal([
      'glob-9999',
    ])
    expect(big.matchingGrants(mtls('spiffe://example.org/team/9999'))).to.deep.equal([])
    expect(big.matchingGrants(mtls('spiffe://example.org/svc/10000'))).to.deep.equal([])
    const d = big.evaluateTokenRequest(mtls('spiffe://example.org/team/7/sa/y'), {
      audience: 'team-7',
      scopes: [],
      ttlSeconds: 0,
    })
    expect(d.grant).to.equal('glob-7')
    const err = refusal(() =>
      big.evaluateTokenRequest(mtls('spiffe://example.org/team/7/sa/y'), {
        audience: 'team-8',
        scopes: [],
        ttlSeconds: 0,
      }),
    )
    expect(err.code).to.equal('ERR_AUDIENCE_NOT_GRANTED')
  })
})

describe('unit: glob patterns', () => {
  it('review: a pattern with * never matches the empty string; exact patterns and non-empty values are unchanged', () => {
    expect(compileGlob('*')('')).to.equal(false)
    expect(compileGlob('*')('agents')).to.equal(true)
    expect(compileGlob('team-*')('team-')).to.equal(true)
    expect(compileGlob('')('')).to.equal(true)
    expect(compileGlob('a*b')('ab')).to.equal(true)
  })
})

describe('unit: proxy scopes on the wire (METHOD:/path)', () => {
  const policy = policyFrom(`  - name: agent
    match: { spiffe_id: "spiffe://example.org/agent" }
    tokens:
      - { audience: tools-api, scopes: ["GET /v1/charges*", "POST:/v1/refunds"] }
    delegation: { max_depth: 1 }
`)
  const agent = mtls('spiffe://example.org/agent')
  const ask = (scopes: string[]) =>
    policy.evaluateTokenRequest(agent, { audience: 'tools-api', scopes, ttlSeconds: 0 })

  it('either spelling in config matches either spelling in the request; the decision is in wire form', () => {
    expect(ask(['GET:/v1/charges*']).scopes).to.deep.equal(['GET:/v1/charges*'])
    expect(ask(['GET /v1/charges*']).scopes).to.deep.equal(['GET:/v1/charges*'])
    expect(ask(['POST /v1/refunds', 'POST:/v1/refunds']).scopes).to.deep.equal(['POST:/v1/refunds'])
    expect(ask([]).scopes).to.deep.equal(['GET:/v1/charges*', 'POST:/v1/refunds'])
  })

  it('a different method or path is still refused, named in the wire form', () => {
    const err = refusal(() => ask(['POST:/v1/charges*']))
    expect(err.code).to.equal('ERR_SCOPE_NOT_GRANTED')
    expect(err.message).to.equal('scope not granted for audience "tools-api": POST:/v1/charges*')
  })

  it('delegation compares a parent minted with the spaced alias in wire form', () => {
    const decision = policy.evaluateDelegation(
      agent,
      {
        subject: agent.subject,
        audience: 'tools-api',
        scopes: ['GET /v1/charges*'],
        expiresAt: 2_000_000_000,
        depth: 0,
      },
      { actor: 'sub', scopes: ['GET:/v1/charges*'], ttlSeconds: 0, audience: '', now: 1_900_000_000 },
    )
    expect(decision.scopes).to.deep.equal(['GET:/v1/charges*'])
  })
})
