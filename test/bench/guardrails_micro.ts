/**
 * Guardrails micro-benchmarks (each well under 60 s): `node --import tsx test/bench/guardrails_micro.ts`
 * - rate limit check on the IssueToken path (strictest grant + token bucket), per call, in-process
 * - the atomic budget count at the proxy: a write-ahead row committed with `spend` vs without,
 *   sequential appends (one commit each), on SQLite and on PostgreSQL when PG_URL is set
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChainAppender } from '../../src/audit/appender.js'
import { loadConfig } from '../../src/config/index.js'
import { Guardrails } from '../../src/guardrails/guardrails.js'
import { BINARY_VERSION } from '../../src/storage/migrations.js'
import type { Storage } from '../../src/storage/ports.js'
import { openPostgresStorage } from '../../src/storage/postgres/index.js'
import { openSqliteStorage } from '../../src/storage/sqlite/index.js'

function grants(withLimit: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'kb-bench-'))
  const file = join(dir, 'k.yaml')
  writeFileSync(
    file,
    `issuer: https://kb.test\ngrants:\n  - name: a\n    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }\n    tokens: [{ audience: api }]\n${withLimit ? '    rate_limit: { issue: 100000000/s, burst: 1000000 }\n' : ''}  - name: b\n    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }\n    tokens: [{ audience: api2 }]\n`,
  )
  const config = loadConfig(file)
  rmSync(dir, { recursive: true, force: true })
  return config.grants
}

function rateLimitRow(): void {
  const fake = {
    usage: {} as Storage['usage'],
    blocks: { list: async () => [] } as unknown as Storage['blocks'],
  }
  for (const withLimit of [false, true]) {
    const g = new Guardrails({ now: Date.now, storage: fake, append: async () => undefined })
    const gs = grants(withLimit)
    const identity = { subject: 'xagent', issuer: 'spiffe://example.org' }
    for (let i = 0; i < 200_000; i++) g.admitIssue(identity, gs)
    const n = 2_000_000
    const t0 = process.cpuUsage()
    for (let i = 0; i < n; i++) g.admitIssue(identity, gs)
    const d = process.cpuUsage(t0)
    console.log(
      `admitIssue ${withLimit ? 'with' : 'without'} rate_limit: ${(((d.user + d.system) / n) * 1000).toFixed(1)} ns CPU/call`,
    )
  }
}

async function budgetRow(name: string, storage: Storage): Promise<void> {
  await storage.migrate(BINARY_VERSION)
  await storage.leases.acquire('bench', 'bench', 600_000)
  const appender = new ChainAppender(storage.chains, { nodeId: 'bench', writeTimeoutMs: 10_000 })
  const n = 2000
  await appender.append(
    { kind: 'issue', decision: 'allow', token_id: 'tok' },
    {
      budgets: [{ tokenId: 'tok', remaining: 10 * n, expiresAt: 2_000_000_000 }],
    },
  )
  const measure = async (spend: boolean) => {
    const t0 = performance.now()
    for (let i = 0; i < n; i++)
      await appender.append(
        { kind: 'proxy', decision: 'allow', token_id: 'tok', detail: { phase: 'authorized' } },
        spend ? { spend: { tokenIds: ['tok'] } } : undefined,
      )
    return ((performance.now() - t0) / n) * 1000
  }
  await measure(false)
  await measure(true)
  const plain = await measure(false)
  const spent = await measure(true)
  console.log(
    `${name}: write-ahead row alone ${plain.toFixed(0)} µs, with the budget count ${spent.toFixed(0)} µs (+${(spent - plain).toFixed(0)} µs), sequential commits`,
  )
  await appender.close()
  await storage.close()
}

rateLimitRow()
const dir = mkdtempSync(join(tmpdir(), 'kb-bench-'))
await budgetRow(
  'sqlite',
  await openSqliteStorage({ driver: 'sqlite', path: join(dir, 'b.db'), busyTimeoutMs: 5000 }),
)
rmSync(dir, { recursive: true, force: true })
if (process.env.PG_URL)
  await budgetRow(
    'postgres',
    await openPostgresStorage({
      driver: 'postgres',
      url: process.env.PG_URL,
      poolSize: 4,
      statementTimeoutMs: 5000,
    }),
  )
