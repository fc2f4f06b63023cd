/*
 * `node --import tsx --conditions=development test/bench/verifier.ts`: the resource-server verifier.
 *   1. verify() ops/s on one core with a warm JWKS and 10,000 live revocations, next to bare jose
 *      jwtVerify on the same token with the same warm remote key set (target ≥ 0.8×);
 *   2. revocation propagation: Admin.RevokeTokens sent → the verifier's first refusal, p50/p99 over
 *      200 revocations (target p99 ≤ 1 s).
 * A real broker (TestBroker: mTLS, SQLite, audit) runs in this process; the verifier follows its
 * WatchRevocations feed over loopback mTLS. Runs in about 15 s. Environment: BENCH_VERIFY_SECONDS (2).
 */
import { createRemoteJWKSet, customFetch, jwtVerify } from 'jose'
import type { IssueTokenRequest } from '../../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../../src/generated/keybroker/v1/IssueTokenResponse.js'
import type { RevokeTokensRequest } from '../../src/generated/keybroker/v1/RevokeTokensRequest.js'
import type { RevokeTokensResponse__Output } from '../../src/generated/keybroker/v1/RevokeTokensResponse.js'
import { httpsGetter } from '../../src/verifier/https_fetch.js'
import { ADMIN, BILLING, TestBroker, unary } from '../fixtures/broker.js'
import { PAYMENTS_API, paymentsVerifier, RESOURCE_SERVER_GRANTS } from '../fixtures/resource_server.js'

const SECONDS = Number(process.env.BENCH_VERIFY_SECONDS ?? 2)
const LIVE_REVOCATIONS = 10_000
const PROPAGATIONS = 200

interface Tally {
  ops: number
  wallMs: number
  cpuUs: number
}

/**
 * Alternate batches of the two candidates for `seconds`, so whatever else the shared machine runs
 * lands on both alike; wall time and this process's CPU time are summed per candidate.
 */
async function interleaved(
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  seconds: number,
): Promise<[Tally, Tally]> {
  const tallies: [Tally, Tally] = [
    { ops: 0, wallMs: 0, cpuUs: 0 },
    { ops: 0, wallMs: 0, cpuUs: 0 },
  ]
  const until = performance.now() + seconds * 1000
  while (performance.now() < until) {
    for (const [i, run] of [a, b].entries()) {
      const wall = performance.now()
      const cpu = process.cpuUsage()
      for (let k = 0; k < 200; k++) await run()
      const used = process.cpuUsage(cpu)
      tallies[i]!.ops += 200
      tallies[i]!.wallMs += performance.now() - wall
      tallies[i]!.cpuUs += used.user + used.system
    }
  }
  return tallies
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

async function main(): Promise<void> {
  const t = await TestBroker.start({ grantsYaml: RESOURCE_SERVER_GRANTS })
  try {
    const billing = await t.pki.spiffe('billing', BILLING)
    const admin = await t.pki.spiffe('admin', ADMIN)
    const watcher = await t.pki.spiffe('payments-api', PAYMENTS_API)
    const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(billing), 'IssueToken')
    const revoke = unary<RevokeTokensRequest, RevokeTokensResponse__Output>(
      t.adminClient(admin),
      'RevokeTokens',
    )

    // 10,000 live revocations (ids the verifier will never see presented), replayed to the verifier
    const exp = Math.floor(Date.now() / 1000) + 3600
    t.broker.revocations.revoke(
      Array.from({ length: LIVE_REVOCATIONS }, (_, i) => ({ jti: `bench-${i}`, expiresAt: exp })),
    )
    const verifier = paymentsVerifier(t, watcher)
    await verifier.ready()
    const liveRevocations = verifier.revocationCount
    const { token } = await issue({ audience: 'payments-api', scopes: ['payments:read'] })

    const jwksUri = new URL(`${t.httpUrl}/.well-known/jwks.json`)
    const bareKeys = createRemoteJWKSet(jwksUri, { [customFetch]: httpsGetter(t.pki.ca.certPem) })
    const bare = () =>
      jwtVerify(token, bareKeys, {
        issuer: 'https://keybroker.test',
        audience: 'payments-api',
        typ: 'at+jwt',
      })
    const ours = () => verifier.verify(token, { scopes: ['payments:read'] })
    await bare()
    await ours()
    const [ourTally, bareTally] = await interleaved(ours, bare, SECONDS * 3)
    const opsPerSecond = (t: Tally) => t.ops / (t.wallMs / 1000)
    const cpuPerOp = (t: Tally) => t.cpuUs / t.ops

    // propagation: RevokeTokens sent → first refusal by the verifier
    const tokens: IssueTokenResponse__Output[] = []
    for (let i = 0; i < PROPAGATIONS; i++) tokens.push(await issue({ audience: 'payments-api', scopes: [] }))
    const delays: number[] = []
    for (const victim of tokens) {
      const started = performance.now()
      const sent = revoke({ token_id: victim.token_id })
      for (;;) {
        const refused = await verifier.verify(victim.token).then(
          () => false,
          () => true,
        )
        if (refused) break
        await new Promise((r) => setImmediate(r))
      }
      delays.push(performance.now() - started)
      await sent
    }
    delays.sort((a, b) => a - b)
    verifier.close()

    const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
    const row = (name: string, t: Tally, note: string) =>
      console.log(`| ${name} | ${fmt(opsPerSecond(t))} | ${cpuPerOp(t).toFixed(0)} | ${note} |`)
    console.log('| row | ops/s | CPU µs/op | note |')
    console.log('|---|---:|---:|---|')
    row('jose jwtVerify, warm remote JWKS', bareTally, 'one core, sequential, same token')
    row(
      `verify(), ${fmt(liveRevocations)} live revocations`,
      ourTally,
      `${(opsPerSecond(ourTally) / opsPerSecond(bareTally)).toFixed(2)}× jose ops/s, ${(cpuPerOp(bareTally) / cpuPerOp(ourTally)).toFixed(2)}× by CPU`,
    )
    console.log(
      `| propagation RevokeTokens → first refusal | p50 ${percentile(delays, 0.5).toFixed(1)} ms | p99 ${percentile(delays, 0.99).toFixed(1)} ms | ${PROPAGATIONS} revocations, max ${delays.at(-1)!.toFixed(1)} ms |`,
    )
  } finally {
    await t.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
