import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { tsxEntry } from './writer_thread.js'

const FROM_SOURCE = import.meta.url.endsWith('.ts')
const WORKER_URL = new URL(`./integrity_worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url)

/** What the background check found: [] when sound; `where` names the damage when it can. */
export interface BackgroundCheckResult {
  problems: string[]
  where: string
  ms: number
}

/**
 * `PRAGMA quick_check` of the whole file on a thread of its own (its own read-only connection):
 * on a large log it takes tens of seconds, which the event loop must not wait for. WAL readers do
 * not block the writer, so the broker serves meanwhile.
 */
export function quickCheckInBackground(path: string): Promise<BackgroundCheckResult> {
  return new Promise((resolve, reject) => {
    const worker = FROM_SOURCE
      ? new Worker(tsxEntry(WORKER_URL), { eval: true, workerData: { path } })
      : new Worker(fileURLToPath(WORKER_URL), { workerData: { path } })
    worker.unref()
    worker.once('message', (result: BackgroundCheckResult | { error: string }) => {
      if ('error' in result) reject(new Error(result.error))
      else resolve(result)
    })
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`integrity check thread exited (${code})`)))
  })
}
