import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads'
import type { WriteFailure, WriteJob, WriteResult } from './write_jobs.js'
import type { WriterRequest, WriterWorkerData } from './writer_worker.js'

export interface WriterThreadOptions {
  /** The database file; the thread opens its own connection to it. */
  path: string
  /** A batch not confirmed within this long fails, and the thread is replaced. */
  writeTimeoutMs: number
}

type WriterReply = { ready: true } | { failed: WriteFailure } | { id: number; result: WriteResult }

interface Queued {
  job: WriteJob
  timeoutMs: number
  settle: (result: WriteResult) => void
}

interface InFlight extends Queued {
  id: number
  timer: NodeJS.Timeout | undefined
}

const CLOSED: WriteFailure = { code: 'closed', message: 'writer closed' }

/** Extra time the first batch may wait for a freshly started thread (loading modules, opening the file). */
const STARTUP_GRACE_MS = 10_000
/** The worker's lock wait ends this much before the deadline, so a lock reports SQLITE_BUSY, not a timeout. */
const MAX_DEADLINE_MARGIN_MS = 500

// From dist the worker is the .js file next to this module's directory. Run from source (tests,
// bench) it is the .ts file, and the worker registers tsx itself: Node 20 does not apply the
// parent's `--import tsx` hooks to a worker's entry module.
const FROM_SOURCE = import.meta.url.endsWith('.ts')
const WORKER_URL = new URL(`./writer_worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url)

/**
 * The main-thread end of the SQLite writer thread: jobs run one at a time in arrival order, each
 * bounded by its own timeout. better-sqlite3 is synchronous, so a hung disk would hang the thread that
 * commits; here that is the worker, and the deadline is enforced from outside it. A batch past its
 * deadline fails and the worker is abandoned (a new one starts on the next write). An abandoned
 * worker is never terminated while it may be inside a SQLite call: V8 aborts the whole process
 * when better-sqlite3 returns into a terminating isolate. Its port is closed instead; it closes
 * its connection and exits once the call returns (a thread stuck in the kernel stays stuck either way).
 * Abandoning cannot fork the chain (each transaction reads the head from the file), but a batch
 * that was declared failed may still commit later: a refused exchange may then have a row,
 * never the other way round.
 */
export class WriterThread {
  readonly #options: WriterThreadOptions
  readonly #busyTimeoutMs: number
  #worker: Worker | undefined
  #port: MessagePort | undefined
  #ready = false
  #inFlight: InFlight | undefined
  readonly #queue: Queued[] = []
  #nextId = 1
  #closed = false

  constructor(options: WriterThreadOptions) {
    this.#options = options
    const margin = Math.min(MAX_DEADLINE_MARGIN_MS, options.writeTimeoutMs / 4)
    this.#busyTimeoutMs = Math.max(0, Math.floor(options.writeTimeoutMs - margin))
    this.#start()
  }

  /** Run one job (queued behind any in flight); never rejects: a failure is a result. */
  run(job: WriteJob, timeoutMs = this.#options.writeTimeoutMs): Promise<WriteResult> {
    return new Promise<WriteResult>((settle) => {
      // a closed storage must not start a new thread and write the file behind its owner's back
      if (this.#closed) return settle({ ok: false, error: CLOSED })
      this.#queue.push({ job, timeoutMs, settle })
      this.#next()
    })
  }

  #next(): void {
    if (this.#inFlight) return
    const queued = this.#queue.shift()
    if (!queued) return
    if (!this.#worker) this.#start()
    const inFlight: InFlight = { ...queued, id: this.#nextId++, timer: undefined }
    this.#inFlight = inFlight
    this.#arm(this.#ready ? inFlight.timeoutMs : inFlight.timeoutMs + STARTUP_GRACE_MS)
    this.#port!.ref()
    this.#port!.postMessage({ id: inFlight.id, job: inFlight.job } satisfies WriterRequest)
  }

  /** Test hook: block the worker thread for `ms`, as a write stuck in the kernel would. */
  stallForTest(ms: number): void {
    if (!this.#worker) this.#start()
    this.#port!.postMessage({ stallMs: ms } satisfies WriterRequest)
  }

  /** Stop the thread; queued jobs fail. */
  async close(): Promise<void> {
    this.#closed = true
    for (const queued of this.#queue.splice(0)) queued.settle({ ok: false, error: CLOSED })
    const worker = this.#worker
    const busy = this.#inFlight !== undefined
    this.#drop()
    // an idle worker can be terminated; a busy one exits by itself when its call returns (see above)
    if (!busy) await worker?.terminate()
  }

  #start(): void {
    const { port1, port2 } = new MessageChannel()
    const workerData: WriterWorkerData = {
      path: this.#options.path,
      busyTimeoutMs: this.#busyTimeoutMs,
      port: port2,
    }
    const worker = FROM_SOURCE
      ? new Worker(tsxEntry(WORKER_URL), { eval: true, workerData, transferList: [port2] })
      : new Worker(WORKER_URL, { workerData, transferList: [port2] })
    this.#worker = worker
    this.#port = port1
    this.#ready = false
    port1.on('message', (reply: WriterReply) => this.#onReply(reply))
    port1.unref()
    worker.unref()
    worker.on('error', (err) => {
      if (this.#worker !== worker) return
      this.#drop()
      this.#fail({ code: `writer thread failed (${err.name})`, message: err.message })
    })
    worker.on('exit', (code) => {
      if (this.#worker !== worker) return
      this.#drop()
      this.#fail({ code: `writer thread exited (${code})`, message: `exit code ${code}` })
    })
  }

  #onReply(reply: WriterReply): void {
    if ('ready' in reply) {
      this.#ready = true
      if (this.#inFlight) this.#arm(this.#inFlight.timeoutMs)
      return
    }
    if ('failed' in reply) {
      // cannot open the file: fail the waiting batch; the next write starts a new thread
      const worker = this.#worker
      this.#drop()
      void worker?.terminate()
      this.#fail(reply.failed)
      return
    }
    const inFlight = this.#inFlight
    if (!inFlight || inFlight.id !== reply.id) return
    this.#settle(reply.result)
  }

  #arm(ms: number): void {
    const inFlight = this.#inFlight!
    clearTimeout(inFlight.timer)
    inFlight.timer = setTimeout(() => this.#onDeadline(inFlight), ms)
  }

  #onDeadline(inFlight: InFlight): void {
    // A reply may be queued behind this timer in the same turn: take it if it is there.
    for (let message = this.#port && receiveMessageOnPort(this.#port); message; ) {
      this.#onReply(message.message as WriterReply)
      message = this.#port && receiveMessageOnPort(this.#port)
    }
    if (this.#inFlight !== inFlight) return
    const ms = inFlight.timeoutMs
    this.#drop() // abandon the worker: it exits once its SQLite call returns
    this.#fail({
      code: `write not confirmed within ${ms} ms`,
      message: 'the audit writer thread did not answer',
    })
  }

  #fail(error: WriteFailure): void {
    this.#settle({ ok: false, error })
  }

  #settle(result: WriteResult): void {
    const inFlight = this.#inFlight
    if (!inFlight) return
    this.#inFlight = undefined
    clearTimeout(inFlight.timer)
    this.#port?.unref()
    inFlight.settle(result)
    this.#next()
  }

  #drop(): void {
    this.#worker = undefined
    this.#port?.close()
    this.#port = undefined
    this.#ready = false
  }
}

/** A worker script that registers tsx's loader, then imports the TypeScript entry. */
export function tsxEntry(entry: URL): string {
  // tsx's CommonJS hooks (they compile the ESM source too); createRequire, as tsx may run this module as CommonJS
  const api = JSON.stringify(createRequire(import.meta.url).resolve('tsx/cjs/api'))
  return `require(${api}).register(); require(${JSON.stringify(fileURLToPath(entry))})`
}
