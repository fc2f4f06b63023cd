/**
 * `keybroker audit export` of a 44,000-row log: from the database file vs over --address (the
 * ExportExchanges stream). Wall time of the whole CLI process (start-up included), output to a
 * pipe that is drained and counted. Run: `node --import tsx test/bench/export_cli.ts` (~1 min).
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ADMIN, REPO_ROOT, TestBroker } from '../fixtures/broker.js'
import { append } from '../storage_conformance/harness.js'

const ROWS = Number(process.env.EXPORT_ROWS ?? 44_000)

function timeCli(args: string[]): Promise<{ ms: number; lines: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let lines = 0
    child.stdout.on('data', (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 10) lines++
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, lines, code }))
  })
}

const t = await TestBroker.start()
try {
  const admin = await t.pki.spiffe('admin', ADMIN)
  await t.broker.storage.leases.acquire('bulk', 'bench', 600_000)
  const start = Date.now() - ROWS * 10
  for (let i = 0; i < ROWS; i += 1000)
    await append(
      t.broker.storage,
      'bulk',
      Array.from({ length: Math.min(1000, ROWS - i) }, (_, j) => ({
        ts: start + (i + j) * 10,
        subject: 'spiffe://example.org/ns/agents/sa/bench',
        detail: '{"method":"bench","path":"/v1/items"}',
      })),
    )
  const noop = await timeCli(['--help'])
  const file = await timeCli(['audit', 'export', '--db', join(t.dir, 'keybroker.db')])
  const remote = await timeCli([
    'audit',
    'export',
    '--address',
    `localhost:${t.broker.grpcPort}`,
    '--ca',
    t.pki.caFile,
    '--cert',
    admin.cert,
    '--key',
    admin.key,
  ])
  const load = (await import('node:os')).loadavg()[0]!.toFixed(1)
  console.log(
    JSON.stringify({ rows: ROWS, cliStartMs: Math.round(noop.ms), file, remote, loadavg1: load }, null, 2),
  )
} finally {
  await t.close()
}
