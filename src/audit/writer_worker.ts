/**
 * The audit writer thread: owns its own connection to the broker's SQLite file and commits the
 * batches SqliteAuditStore sends it, so the fsync of a commit never blocks the event loop.
 * Protocol (one MessagePort, see lib/writer_thread.ts): → { id, rows } | { stallMs };
 * ← { ready } | { failed } | { id, outcome }.
 */
import { type MessagePort, workerData } from 'node:worker_threads'
import { openDatabase } from '../storage/database.js'
import { ChainWriter, type RowValues, writeFailure } from './lib/chain_writer.js'

export interface WriterWorkerData {
  path: string
  busyTimeoutMs: number
  port: MessagePort
}

export type WriterRequest = { id: number; rows: RowValues[] } | { stallMs: number }

const { path, busyTimeoutMs, port } = workerData as WriterWorkerData

try {
  const writer = new ChainWriter(openDatabase(path, { busyTimeoutMs }))
  port.on('message', (request: WriterRequest) => {
    if ('stallMs' in request) {
      // test hook: block this thread as a hung disk would
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, request.stallMs)
      return
    }
    port.postMessage({ id: request.id, outcome: writer.write(request.rows) })
  })
  port.postMessage({ ready: true })
} catch (err) {
  port.postMessage({ failed: writeFailure(err) })
  port.close()
}
