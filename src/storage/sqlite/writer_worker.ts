/**
 * The SQLite writer thread: owns its own connection to the broker's database file and runs every
 * write the driver sends it, so neither the fsync of a commit nor a locked file blocks the event
 * loop. Protocol (one MessagePort, see writer_thread.ts): → WriterRequest; ← WriterReply.
 */
import { type MessagePort, workerData } from 'node:worker_threads'
import { openDatabase } from './connection.js'
import { runJob, type WriteJob, type WriteResult, writeFailure } from './write_jobs.js'

export interface WriterWorkerData {
  path: string
  busyTimeoutMs: number
  port: MessagePort
}

export type WriterRequest = { id: number; job: WriteJob } | { stallMs: number }

const { path, busyTimeoutMs, port } = workerData as WriterWorkerData

try {
  const db = openDatabase(path, { busyTimeoutMs })
  port.on('message', (request: WriterRequest) => {
    if ('stallMs' in request) {
      // test hook: block this thread as a hung disk would
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, request.stallMs)
      return
    }
    let result: WriteResult
    try {
      result = runJob(db, request.job)
    } catch (err) {
      result = { ok: false, error: writeFailure(err) }
    }
    port.postMessage({ id: request.id, result })
  })
  // the main thread abandoned this worker (deadline passed, or closed): leave; the thread then exits
  port.on('close', () => db.close())
  port.postMessage({ ready: true })
} catch (err) {
  port.postMessage({ failed: writeFailure(err) })
  port.close()
}
