/**
 * Durability rows (issue 21): under a database locked by another process,
 *   - refusal latency of IssueToken against audit.write_timeout (16 concurrent callers),
 *   - /healthz latency (p50/p99/max) while locked and loaded,
 *   - time from the lock to /readyz 503 (idle broker, and under load), and back to 200 after unlock.
 *
 *   node --import tsx test/bench/durability.ts        # ~40 s; prints a markdown table
 */
import os from 'node:os'
import { Agent, fetch } from 'undici'
import type { IssueTokenRequest } from '../../src/generated/keybroker/v1/IssueTokenRequest.js'
import { BILLING, TestBroker, unary } from '../fixtures/broker.js'
import { SqliteProcess } from '../fixtures/sqlite_process.js'

/** p-th percentile of an ascending array (nearest rank). */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

const LOCK_MS = Number(process.env.BENCH_LOCK_MS ?? 8000)
const WRITE_TIMEOUT_S = 1

const t = await TestBroker.start()
const agent = new Agent({ connect: { ca: t.pki.ca.certPem } })
const get = async (path: string) => (await fetch(`${t.httpUrl}${path}`, { dispatcher: agent })).status
const issue = unary<IssueTokenRequest, unknown>(
  t.brokerClient(await t.pki.spiffe('billing', BILLING)),
  'IssueToken',
)
const request = { audience: 'payments-api', scopes: ['payments:read'] }
for (let i = 0; i < 200; i++) await issue(request) // warm

async function until(check: () => Promise<boolean>, limitMs = 15_000): Promise<number> {
  const started = performance.now()
  while (!(await check())) {
    if (performance.now() - started > limitMs) return Number.NaN
    await new Promise((r) => setTimeout(r, 10))
  }
  return performance.now() - started
}

const locker = await SqliteProcess.open(t.broker.config.audit.path)
const idleNotReady: number[] = []
const readyAgain: number[] = []
for (let i = 0; i < 3; i++) {
  await locker.lock()
  idleNotReady.push(await until(async () => (await get('/readyz')) === 503))
  await locker.unlock()
  readyAgain.push(await until(async () => (await get('/readyz')) === 200))
}

// locked under load
const refusals: number[] = []
const healthz: number[] = []
let loadedNotReady = Number.NaN
await locker.lock()
const lockedAt = performance.now()
const end = lockedAt + LOCK_MS
await Promise.all([
  ...Array.from({ length: 16 }, async () => {
    while (performance.now() < end - WRITE_TIMEOUT_S * 1000) {
      const started = performance.now()
      try {
        await issue(request)
      } catch {
        refusals.push(performance.now() - started)
      }
    }
  }),
  (async () => {
    while (performance.now() < end) {
      const started = performance.now()
      await get('/healthz')
      healthz.push(performance.now() - started)
      await new Promise((r) => setTimeout(r, 10))
    }
  })(),
  (async () => {
    loadedNotReady = await until(async () => (await get('/readyz')) === 503)
  })(),
])
await locker.unlock()
const loadedReadyAgain = await until(async () => (await get('/readyz')) === 200)
await locker.close()
await t.close()
await agent.close()

const ms = (v: number) => (Number.isNaN(v) ? 'n/a' : `${v.toFixed(0)} ms`)
const sorted = (a: number[]) => [...a].sort((x, y) => x - y)
const r = sorted(refusals)
const h = sorted(healthz)
const over = (v: number) =>
  `${v - WRITE_TIMEOUT_S * 1000 >= 0 ? '+' : ''}${(v - WRITE_TIMEOUT_S * 1000).toFixed(0)} ms`
process.stdout.write(
  `load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')} on ${os.cpus().length} cores\n\n` +
    '| Row | Result | Target |\n|---|---|---|\n' +
    `| refusal latency, DB locked, 16 callers, write_timeout ${WRITE_TIMEOUT_S} s (${r.length} refusals) | p50 ${ms(percentile(r, 50))} (${over(percentile(r, 50))}), p99 ${ms(percentile(r, 99))} (${over(percentile(r, 99))}), max ${ms(r.at(-1) ?? Number.NaN)} (${over(r.at(-1) ?? Number.NaN)}) | write_timeout + 250 ms |\n` +
    `| /healthz, DB locked, 16 callers (${h.length} probes) | p50 ${ms(percentile(h, 50))}, p99 ${ms(percentile(h, 99))}, max ${ms(h.at(-1) ?? Number.NaN)} | p99 ≤ 50 ms |\n` +
    `| time to not-ready after the lock, idle broker (3 runs) | ${idleNotReady.map(ms).join(', ')} | ≤ 1 s |\n` +
    `| time to not-ready after the lock, 16 callers | ${ms(loadedNotReady)} | ≤ 1 s |\n` +
    `| time to ready after the unlock (idle ×3; loaded) | ${readyAgain.map(ms).join(', ')}; ${ms(loadedReadyAgain)} | — |\n`,
)
process.exit(0)
