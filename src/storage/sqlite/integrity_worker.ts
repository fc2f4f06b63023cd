/** The background quick_check (see integrity_thread.ts): one run, one reply, then exit. */
import { parentPort, workerData } from 'node:worker_threads'
import { openDatabase } from './connection.js'
import { describeDamage, locateDamage, quickCheck } from './integrity.js'

const { path } = workerData as { path: string }
try {
  const db = openDatabase(path, { readonly: true })
  const started = performance.now()
  const problems = quickCheck(db)
  const where = problems.length > 0 ? describeDamage(locateDamage(db, problems)) : ''
  db.close()
  parentPort!.postMessage({ problems, where, ms: Math.round(performance.now() - started) })
} catch (err) {
  parentPort!.postMessage({ error: (err as Error).message })
}
