/**
 * Cluster bench (issue 13): two real `keybroker serve` processes on one PostgreSQL database.
 *
 * 1. Revocation propagation: RevokeTokens on replica A, then DelegateToken with the revoked parent
 *    on replica B in a loop until B refuses; the time from sending RevokeTokens to that refusal,
 *    p50/p99 over BENCH_REVOCATIONS (default 200) revocations, one at a time.
 * 2. Failover: BENCH_WORKERS (default 8) SDK callers drive IssueToken through both replicas; B is
 *    killed with SIGKILL halfway; failed calls and the longest single call (the stall) are reported.
 *
 * Run: node --import tsx test/bench/cluster.ts   (about 1 minute; needs PostgreSQL on 127.0.0.1:5432)
 */
import * as grpc from '@grpc/grpc-js'
import { BrokerClient } from '../../src/client/index.js'
import type { IssueTokenResponse__Output } from '../../src/generated/keybroker/v1/IssueTokenResponse.js'
import { ADMIN, AGENT, BILLING, unary } from '../fixtures/broker.js'
import { ClusterFixture } from '../fixtures/cluster.js'
import { createScratchDatabase } from '../fixtures/postgres.js'

const REVOCATIONS = Number(process.env.BENCH_REVOCATIONS ?? 200)
const WORKERS = Number(process.env.BENCH_WORKERS ?? 8)
const LOAD_MS = Number(process.env.BENCH_FAILOVER_MS ?? 10_000)

async function main(): Promise<void> {
  const db = await createScratchDatabase()
  const cluster = await ClusterFixture.create()
  try {
    const [a, b] = await Promise.all([
      cluster.start('a', { url: db.url }),
      cluster.start('b', { url: db.url }),
    ])
    const admin = await cluster.pki.spiffe('admin', ADMIN)
    const agent = await cluster.pki.spiffe('agent', AGENT)
    const billing = await cluster.pki.spiffe('billing', BILLING)

    // 1. revocation propagation A → B
    const issueA = unary<object, IssueTokenResponse__Output>(a.brokerClient(agent), 'IssueToken')
    const revokeA = unary(a.adminClient(admin), 'RevokeTokens')
    const delegateB = unary<object, IssueTokenResponse__Output>(b.brokerClient(agent), 'DelegateToken')
    const propagation: number[] = []
    for (let i = 0; i < REVOCATIONS; i++) {
      const parent = await issueA({ audience: 'search-api', scopes: ['search:read'] })
      await delegateB({ parent_token: parent.token, actor: 'warm' }) // B accepts it first
      const started = performance.now()
      await revokeA({ token_id: parent.token_id, reason: 'bench' })
      for (;;) {
        const refused = await delegateB({ parent_token: parent.token, actor: 'probe' }).then(
          () => false,
          (err: grpc.ServiceError) => err.code !== grpc.status.UNAVAILABLE,
        )
        if (refused) break
        if (performance.now() - started > 10_000) throw new Error('revocation did not reach B in 10 s')
      }
      propagation.push(performance.now() - started)
    }
    propagation.sort((x, y) => x - y)

    // 2. failover: SIGKILL of B under SDK load through both
    const sdk = new BrokerClient({
      address: [a.address, b.address],
      tls: {
        caFile: cluster.pki.caFile,
        certFile: billing.cert,
        keyFile: billing.key,
        serverName: 'localhost',
      },
      deadlineMs: 15_000,
    })
    let ok = 0
    let failed = 0
    let longest = 0
    let n = 0
    let running = true
    const loops = Array.from({ length: WORKERS }, async () => {
      while (running) {
        const i = n++
        const scopes = [['payments:read'], ['payments:write'], ['payments:read', 'payments:write']][i % 3]!
        const t0 = performance.now()
        try {
          await sdk.token({ audience: 'payments-api', scopes, ttlSeconds: 60 + Math.floor(i / 3) })
          ok++
        } catch {
          failed++
        }
        longest = Math.max(longest, performance.now() - t0)
      }
    })
    await new Promise((r) => setTimeout(r, LOAD_MS / 2))
    const longestBefore = longest
    await b.kill()
    await new Promise((r) => setTimeout(r, LOAD_MS / 2))
    running = false
    await Promise.all(loops)
    sdk.close()

    const result = {
      revocation_propagation_ms: {
        n: propagation.length,
        p50: round(percentile(propagation, 50)),
        p99: round(percentile(propagation, 99)),
        max: round(propagation[propagation.length - 1]!),
      },
      failover: {
        workers: WORKERS,
        calls_ok: ok,
        calls_failed: failed,
        longest_call_ms: round(longest),
        longest_call_before_kill_ms: round(longestBefore),
      },
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  } finally {
    await cluster.close()
    await db.drop()
  }
}

/** The q-th percentile of ascending samples (nearest rank). */
function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((q / 100) * sorted.length))] ?? 0
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
