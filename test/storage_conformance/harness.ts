import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import { rowHash } from '../../src/audit/canonical.js'
import { BINARY_VERSION } from '../../src/storage/migrations.js'
import { type ChainLink, type ExchangeRow, type Storage, StorageError } from '../../src/storage/ports.js'

/**
 * One database per test, reachable through several handles (each one stands for a process).
 * A driver plugs into the conformance suite by providing this.
 */
export interface StorageHarness {
  /** A new handle on this test's database; closed by the suite. */
  open(): Promise<Storage>
  dispose(): Promise<void>
}

/** Makes the harness for one test; may skip the test (`ctx.skip()`) when the driver is unavailable. */
export type HarnessFactory = (ctx: Mocha.Context) => Promise<StorageHarness>

/** Per-test state the suite parts share: the database and its handles. */
export class Fixture {
  #harness: StorageHarness | undefined
  #opened: Storage[] = []
  storage!: Storage

  constructor(private readonly factory: HarnessFactory) {}

  /** mocha hooks: a fresh database per test, migrated unless `migrate` is false. */
  hooks(migrate = true): void {
    const fixture = this
    beforeEach(async function () {
      fixture.#harness = await fixture.factory(this)
      fixture.storage = await fixture.open()
      if (migrate) await fixture.storage.migrate(BINARY_VERSION)
    })
    afterEach(async () => {
      for (const s of fixture.#opened.splice(0)) await s.close().catch(() => {})
      await fixture.#harness?.dispose()
      fixture.#harness = undefined
    })
  }

  /** Another handle on the same database (another process). */
  async open(): Promise<Storage> {
    const storage = await this.#harness!.open()
    this.#opened.push(storage)
    return storage
  }
}

let idCounter = 0

/** A unique, time-ordered-enough id for test rows (ULID-shaped: 26 chars). */
export function rowId(): string {
  idCounter += 1
  return `01TEST${idCounter.toString().padStart(8, '0')}${randomBytes(6).toString('hex').toUpperCase()}`
}

/**
 * Rows that continue `head` on chain `nodeId`, built and hashed with the one canonical form,
 * each merging its spec over neutral defaults.
 */
export function chainRows(
  nodeId: string,
  head: ChainLink,
  specs: Array<Partial<ExchangeRow>>,
): ExchangeRow[] {
  const rows: ExchangeRow[] = []
  let prev = head
  for (const spec of specs) {
    const row: ExchangeRow = {
      node_id: nodeId,
      seq: prev.seq + 1,
      form: 2,
      id: rowId(),
      ts: 1_700_000_000_000 + prev.seq,
      kind: 'issue',
      subject: 'spiffe://test/agent',
      auth_method: 'mtls',
      issuer: null,
      peer: '127.0.0.1',
      cert_thumbprint: null,
      audience: 'payments-api',
      scopes: 'payments:read',
      ttl: 300,
      secret_name: null,
      route: null,
      decision: 'allow',
      reason: null,
      token_id: null,
      expires_at: null,
      latency_us: 120,
      detail: null,
      run_id: null,
      tool_call_id: null,
      approval_id: null,
      trace_id: null,
      grant_name: null,
      ...spec,
      prev_hash: prev.hash,
      hash: '',
    }
    row.hash = rowHash(row.prev_hash, row)
    rows.push(row)
    prev = row
  }
  return rows
}

/** Append `specs` to `nodeId` at its current head; returns the rows committed. */
export async function append(
  storage: Storage,
  nodeId: string,
  specs: Array<Partial<ExchangeRow>>,
): Promise<ExchangeRow[]> {
  const head = await storage.chains.readHead(nodeId)
  const rows = chainRows(nodeId, head, specs)
  await storage.chains.commit(nodeId, head, rows, 5000)
  return rows
}

/** The rejection of `promise`, which must be a StorageError with `code`. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<StorageError> {
  let caught: unknown
  try {
    await promise
  } catch (err) {
    caught = err
  }
  // by name: the SQLite driver is loaded through a dynamic import, which may be a second module
  // instance of ports.ts (so instanceof would compare two different StorageError classes)
  expect(caught, `expected StorageError ${code}, got success`).to.be.instanceOf(Error)
  expect((caught as Error).name, String(caught)).to.equal(StorageError.name)
  expect((caught as StorageError).code, (caught as Error).message).to.equal(code)
  return caught as StorageError
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
