/**
 * Durable audit rows per second through the PostgreSQL ChainStore.commit, with 64 and 1,000
 * concurrent appenders. Run standalone (about 30 s):
 *
 *   node --import tsx test/bench/pg_append.ts
 *
 * Appends are grouped the way the broker's appender does it: callers queue a record, one batch
 * per chain is in flight, the next batch is everything queued meanwhile (up to MAX_BATCH), chained
 * and hashed on this thread, committed in one round trip. An append counts when its commit has
 * resolved (synchronous_commit as the server has it; `on` here).
 */
import { readFileSync } from 'node:fs'
import { BINARY_VERSION } from '../../src/storage/migrations.js'
import type { ChainLink, ExchangeRow, Storage } from '../../src/storage/ports.js'
import { openPostgresStorage } from '../../src/storage/postgres/index.js'
import { createScratchDatabase, psql } from '../fixtures/postgres.js'
import { chainRows } from '../storage_conformance/harness.js'

const WARMUP_MS = 1500
const MEASURE_MS = 6000
const MAX_BATCH = 2000

interface Pending {
  spec: Partial<ExchangeRow>
  resolve: () => void
  reject: (err: unknown) => void
}

/** One chain's group committer: one batch in flight, the queue becomes the next batch. */
class GroupAppender {
  #queue: Pending[] = []
  #busy = false
  batches = 0
  constructor(
    readonly storage: Storage,
    readonly nodeId: string,
    private head: ChainLink,
  ) {}

  append(spec: Partial<ExchangeRow>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ spec, resolve, reject })
      this.#kick()
    })
  }

  #kick(): void {
    if (this.#busy || this.#queue.length === 0) return
    this.#busy = true
    const batch = this.#queue.splice(0, MAX_BATCH)
    const rows = chainRows(
      this.nodeId,
      this.head,
      batch.map((p) => p.spec),
    )
    this.storage.chains
      .commit(this.nodeId, this.head, rows, 5000)
      .then(
        () => {
          this.head = rows[rows.length - 1]!
          this.batches += 1
          for (const p of batch) p.resolve()
        },
        async (err) => {
          this.head = await this.storage.chains.readHead(this.nodeId)
          for (const p of batch) p.reject(err)
        },
      )
      .finally(() => {
        this.#busy = false
        this.#kick()
      })
  }
}

function record(i: number): Partial<ExchangeRow> {
  return {
    ts: Date.now(),
    subject: `spiffe://prod.example/ns/agents/sa/agent-${i % 97}`,
    peer: `10.0.${i % 7}.${i % 251}`,
    cert_thumbprint: 'b'.repeat(64),
    token_id: `01J${String(i).padStart(23, '0')}`,
    expires_at: Math.floor(Date.now() / 1000) + 300,
    latency_us: 900 + (i % 300),
    detail: '{"transport":"grpc","kid":"k-2026-11"}',
    run_id: `run-${i % 13}`,
    grant_name: 'agents',
  }
}

/** user+system CPU (µs) of the database's backends serving `database`. */
async function backendCpuUs(database: string): Promise<number> {
  const pids = await psql<{ pid: number }>(
    'postgres',
    'SELECT pid FROM pg_stat_activity WHERE datname = $1',
    [database],
  )
  const tick = 1e6 / 100 // CLK_TCK is 100 on Linux x64
  let total = 0
  for (const { pid } of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      total += (Number(fields[11]) + Number(fields[12])) * tick
    } catch {
      // the backend exited meanwhile
    }
  }
  return total
}

async function run(label: string, appenders: number, chains: number): Promise<string> {
  const db = await createScratchDatabase()
  const storage = await openPostgresStorage({
    driver: 'postgres',
    url: db.url,
    poolSize: Math.max(2, chains + 1),
    statementTimeoutMs: 5000,
  })
  try {
    await storage.migrate(BINARY_VERSION)
    const groups: GroupAppender[] = []
    for (let c = 0; c < chains; c++) {
      const nodeId = `bench-${c}`
      await storage.leases.acquire(nodeId, 'bench', 600_000)
      groups.push(new GroupAppender(storage, nodeId, await storage.chains.readHead(nodeId)))
    }
    let measuring = false
    let stop = false
    let done = 0
    const latencies: number[] = []
    const loops = Array.from({ length: appenders }, async (_, i) => {
      const group = groups[i % chains]!
      let n = i
      while (!stop) {
        const t0 = performance.now()
        await group.append(record(n))
        n += appenders
        if (measuring) {
          done += 1
          latencies.push(performance.now() - t0)
        }
      }
    })
    await new Promise((r) => setTimeout(r, WARMUP_MS))
    const batches0 = groups.reduce((s, g) => s + g.batches, 0)
    const cpu0 = process.cpuUsage()
    const pg0 = await backendCpuUs(db.name)
    const t0 = performance.now()
    measuring = true
    await new Promise((r) => setTimeout(r, MEASURE_MS))
    measuring = false
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const pgCpu = (await backendCpuUs(db.name)) - pg0
    const batches = groups.reduce((s, g) => s + g.batches, 0) - batches0
    stop = true
    await Promise.all(loops)
    latencies.sort((a, b) => a - b)
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!
    const rate = done / seconds
    return `| ${label} | ${appenders} | ${chains} | ${Math.round(rate).toLocaleString('en-US')} | ${Math.round(done / Math.max(1, batches))} | ${pct(0.5).toFixed(1)} | ${pct(0.99).toFixed(1)} | ${((cpu.user + cpu.system) / done).toFixed(1)} | ${(pgCpu / done).toFixed(1)} |`
  } finally {
    await storage.close()
    await db.drop()
  }
}

const started = Date.now()
const lines = [
  '| row | appenders | chains | durable rows/s | rows/commit | p50 ms | p99 ms | broker CPU µs/row | PG backend CPU µs/row |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
]
lines.push(await run('PG audit append, 64 concurrent appenders', 64, 1))
lines.push(await run('PG audit append, 1000 concurrent appenders', 1000, 1))
lines.push(await run('PG audit append, 1000 appenders over 4 chains', 1000, 4))
console.log(lines.join('\n'))
console.log(`\n${new Date().toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s in all`)
