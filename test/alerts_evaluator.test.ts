import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { pino } from 'pino'
import { AlertEvaluator } from '../src/alerts/evaluator.js'
import { RuleEngine } from '../src/alerts/rules.js'
import type { ExchangeRecord } from '../src/audit/index.js'
import { parseConfig } from '../src/config/index.js'
import { BINARY_VERSION } from '../src/storage/migrations.js'
import type { ExchangeRow, Storage } from '../src/storage/ports.js'
import { openSqliteStorage } from '../src/storage/sqlite/index.js'
import { append, chainRows } from './storage_conformance/harness.js'

const T0 = 1_700_000_000_000

const alertsConfig = (rules: string) =>
  parseConfig(`issuer: https://kb.test\nalerts:\n  rules:\n${rules}\n`, '/tmp/kb.yaml').alerts!

function row(spec: Partial<ExchangeRow>): ExchangeRow {
  return chainRows('n', { seq: 0, hash: '0'.repeat(64) }, [spec])[0]!
}

describe('alert rules (pure, in log time)', () => {
  it('issuance_spike: fires when the window holds factor × the trailing hourly rate and at least min_count', () => {
    const engine = new RuleEngine(
      alertsConfig('    issuance_spike: { factor: 3, window: 5m, min_count: 4 }').rules,
    )
    const mint = (ts: number, i: number) =>
      engine.observe(row({ ts, subject: 's', token_id: `t${i}`, id: `01ID${String(i).padStart(22, '0')}` }))
    // a steady hour: 12 tokens (1 per 5 min) → 1 per window; 3 in a window is not a spike
    let n = 0
    for (let m = 0; m < 60; m += 5) expect(mint(T0 + m * 60_000, n++)).to.deep.equal([])
    const burst = T0 + 61 * 60_000
    const raised = [0, 1, 2].flatMap((i) => mint(burst + i * 1000, n++))
    expect(raised).to.deep.equal([])
    const spike = mint(burst + 4000, n++)
    expect(spike).to.have.length(1)
    expect(spike[0]).to.include({ rule: 'issuance_spike', subject: 's', count: 4 })
    // quiet for a window afterwards
    expect(mint(burst + 5000, n++)).to.deep.equal([])
  })

  it('denial_burst counts only within the window; quiet for a window after an alert; compaction forgets old state', () => {
    const engine = new RuleEngine(alertsConfig('    denial_burst: { count: 3, window: 1m }').rules)
    const deny = (ts: number) => engine.observe(row({ ts, subject: 's', decision: 'deny' }))
    expect([...deny(T0), ...deny(T0 + 61_000), ...deny(T0 + 62_000)]).to.deep.equal([])
    expect(deny(T0 + 63_000)).to.have.length(1)
    expect(deny(T0 + 64_000)).to.deep.equal([])
    engine.compact(T0 + 10 * 3_600_000)
    expect(engine.state.quiet).to.deep.equal({})
    expect(engine.state.windows).to.deep.equal({})
  })
})

describe('alert evaluator: one leader, cursor saved with the alerts', function () {
  this.timeout(60_000)
  let dir: string
  let storage: Storage
  const records: ExchangeRecord[] = []
  const logger = pino({ level: 'silent' })
  const config = alertsConfig('    denial_burst: { count: 3, window: 1m }')

  const evaluator = (owner: string, now: () => number) =>
    new AlertEvaluator({
      config,
      storage,
      record: async (r) => {
        records.push(r)
      },
      verifyLog: async () => ({ ok: true, rowsChecked: 0 }),
      clock: { now },
      logger,
      owner,
      source: 'https://kb.test',
      sinks: [{ name: 'soc', format: 'cloudevents' }],
    })

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kb-evaluator-'))
    storage = await openSqliteStorage({ driver: 'sqlite', path: join(dir, 'kb.db'), busyTimeoutMs: 5000 })
    await storage.migrate(BINARY_VERSION)
    await storage.leases.acquire('a', 'o', 60_000)
    records.length = 0
  })
  afterEach(async () => {
    await storage.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('two replicas: only the lease holder raises; after it resigns the other resumes from the saved cursor', async () => {
    let now = T0
    const first = evaluator('replica-1', () => now)
    const second = evaluator('replica-2', () => now)
    await first.evaluate()
    await second.evaluate()
    await append(
      storage,
      'a',
      [1, 2, 3].map((i) => ({ ts: T0 + i, subject: 's', decision: 'deny' as const })),
    )
    await second.evaluate()
    expect(await storage.alerts.list({ limit: 10 }), 'not the leader: nothing raised').to.have.length(0)
    await first.evaluate()
    const raised = await storage.alerts.list({ limit: 10 })
    expect(raised).to.have.length(1)
    expect(raised[0]).to.include({ rule: 'denial_burst', subject: 's', sink: 'soc', state: 'pending' })
    expect(records).to.have.length(1)
    expect(records[0]).to.include({ kind: 'alert', subject: 's' })

    await first.resign()
    now += 1000
    await append(
      storage,
      'a',
      [4, 5].map((i) => ({ ts: T0 + 60_000 + i, subject: 's', decision: 'deny' as const })),
    )
    await second.evaluate()
    // the new leader resumed after the rows already evaluated (no repeat) and kept the quiet period
    expect(await storage.alerts.list({ limit: 10 })).to.have.length(1)
    await append(storage, 'a', [{ ts: T0 + 200_000, subject: 's', decision: 'deny' as const }])
    await append(
      storage,
      'a',
      [1, 2, 3].map((i) => ({ ts: T0 + 300_000 + i, subject: 's', decision: 'deny' as const })),
    )
    await second.evaluate()
    expect(await storage.alerts.list({ limit: 10 })).to.have.length(2)
  })
})
