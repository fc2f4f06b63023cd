import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import { BrokerClient, BudgetExhaustedError, RateLimitedError } from 'keybroker/client'
import { AGENT, baseConfigYaml, TestBroker } from './fixtures/broker.js'

/** The SDK side of the guardrails: no caching of bound tokens, typed errors, retry-after honoured. */
describe('client SDK: agent guardrails', () => {
  let t: TestBroker
  let client: BrokerClient

  before(async () => {
    const grantsYaml = `  - name: agent-proxy
    match: { spiffe_id: "${AGENT}" }
    tokens: [{ audience: "proxy:charges", scopes: ["GET /v1/*"], max_uses: 3 }]
    delegation: { max_depth: 1 }
    rate_limit: { issue: 1/s, burst: 4 }
`
    t = await TestBroker.start({
      configYaml: (dir, pki) => {
        const secretsFile = join(dir, 'secrets.json')
        writeFileSync(secretsFile, JSON.stringify({ k: 'v' }), { mode: 0o600 })
        // the route is never called here: the budget is spent through the storage port
        const extraYaml = `providers: { local: { type: file, path: ${secretsFile} } }
secrets: { charges-key: { provider: local, field: k } }
routes: { charges: { upstream: "https://127.0.0.1:9/api", secret: charges-key } }`
        return baseConfigYaml(dir, pki, { grantsYaml, extraYaml })
      },
    })
    const cert = await t.pki.spiffe('agent', AGENT)
    client = new BrokerClient({
      address: t.address,
      tls: { caFile: t.pki.caFile, certFile: cert.cert, keyFile: cert.key, serverName: 'localhost' },
    })
  })

  after(async () => {
    client.close()
    await t.close()
  })

  it('a token with task or maxUses is never cached: each call is its own exchange, with the real budget', async () => {
    const a = await client.token({ audience: 'proxy:charges', task: { runId: 'run-1' } })
    const b = await client.token({ audience: 'proxy:charges', task: { runId: 'run-1' } })
    expect(a.tokenId).not.to.equal(b.tokenId)
    const c = await client.token({ audience: 'proxy:charges', maxUses: 9 })
    expect(c.maxUses, 'capped by the grant').to.equal(3)
    expect((await t.broker.log.findByTokenId(a.tokenId))[0]).to.include({ run_id: 'run-1' })
  })

  it('a negative maxUses is refused by the SDK before any call', async () => {
    const before = await t.broker.log.count()
    let caught: unknown
    try {
      await client.token({ audience: 'proxy:charges', maxUses: -1 })
    } catch (err) {
      caught = err
    }
    expect((caught as { code?: string }).code).to.equal('ERR_CLIENT_CONFIG')
    expect(await t.broker.log.count()).to.equal(before)
  })

  it('over the rate limit: the SDK waits the retry-after once and succeeds; when it cannot, RateLimitedError', async () => {
    // drain the bucket (burst 4, refill 1/s); the next call waits ~1 s then goes through
    const drained: unknown[] = []
    for (let i = 0; i < 6; i++)
      drained.push(
        await client.token({ audience: 'proxy:charges', task: { runId: `drain-${i}` } }).catch((e) => e),
      )
    expect(drained.filter((r) => r instanceof RateLimitedError)).to.have.length(0)

    const cert = await t.pki.spiffe('agent-impatient', AGENT)
    const impatient = new BrokerClient({
      address: t.address,
      tls: { caFile: t.pki.caFile, certFile: cert.cert, keyFile: cert.key, serverName: 'localhost' },
      deadlineMs: 300,
    })
    try {
      let caught: unknown
      for (let i = 0; i < 10 && !caught; i++)
        await impatient.token({ audience: 'proxy:charges', maxUses: 1 }).catch((e) => {
          caught = e
        })
      expect(caught).to.be.instanceOf(RateLimitedError)
      expect((caught as RateLimitedError).retryAfterMs).to.be.within(1000, 5000)
      expect((caught as RateLimitedError).code).to.equal('ERR_RATE_LIMITED')
    } finally {
      impatient.close()
    }
  })

  it('a spent budget is BudgetExhaustedError, and is not retried', async () => {
    await new Promise((r) => setTimeout(r, 2000)) // let the bucket refill a little
    const parent = await client.token({ audience: 'proxy:charges', maxUses: 1 })
    // spend the parent's one use as the proxy does: a row committed with the spend
    await t.broker.audit.append(
      { kind: 'proxy', decision: 'allow', token_id: parent.tokenId },
      {
        spend: { tokenIds: [parent.tokenId] },
      },
    )
    const before = await t.broker.log.count()
    let caught: unknown
    try {
      await client.delegate(parent.token, { actor: 'sub' })
    } catch (err) {
      caught = err
    }
    expect(caught).to.be.instanceOf(BudgetExhaustedError)
    expect(await t.broker.log.count(), 'one refusal row: no retry').to.equal(before + 1)
  })
})
