import { readFileSync } from 'node:fs'
import { Agent, fetch } from 'undici'
import {
  CheckpointFile,
  type CheckpointPayload,
  compareWithCheckpoint,
  defaultCheckpointFile,
  openCheckpoint,
  type SignedCheckpoint,
  storedCheckpointPublicKey,
} from '../audit/checkpoint/index.js'
import { verifyChain } from '../audit/index.js'
import { loadConfig } from '../config/index.js'
import { checkpointFilePath } from '../server/storage_wiring.js'
import type { Storage } from '../storage/ports.js'
import { openDatabase } from '../storage/sqlite/connection.js'
import { describeDamage, locateDamage, quickCheck } from '../storage/sqlite/integrity.js'
import { CliExit } from './common.js'
import { openCliStorage } from './storage_access.js'

/** Exit code of `audit verify` when the database file itself is damaged (1: the log does not verify). */
export const EXIT_DAMAGED = 2

export interface VerifyLocalOptions {
  config?: string
  db?: string
  /** a checkpoint file, or an http(s) URL serving `{ checkpoint, key }` (GET /audit/checkpoint) */
  checkpoint?: string
  /** CA bundle for an https checkpoint URL */
  ca?: string
}

/**
 * `keybroker audit verify` against the database: the file's pages (SQLite quick_check), every
 * chain, then the chain heads against the newest checkpoint found (`--checkpoint`, else the
 * broker's checkpoint file). Returns the lines to print on success; throws CliExit otherwise.
 */
export async function verifyLocal(opts: VerifyLocalOptions): Promise<string[]> {
  const config = opts.config ? loadConfig(opts.config) : undefined
  const sqlitePath = opts.db ?? (config?.storage.driver === 'sqlite' ? config.storage.path : undefined)
  if (sqlitePath) checkPages(sqlitePath)
  const storage = await openCliStorage(opts).catch((err) => {
    throw damagedOr(err)
  })
  try {
    const chain = await verifyChain(storage.reader).catch((err) => {
      throw damagedOr(err)
    })
    if (!chain.ok)
      throw new CliExit(
        `audit log BROKEN at seq ${chain.firstBadSeq ?? '?'} (id ${chain.firstBadId ?? '?'}): ${chain.problem}\n` +
          `rows checked before the fault: ${chain.rowsChecked}`,
      )
    const lines = [`audit log OK: ${chain.rowsChecked} rows, chain intact`]
    const where = opts.checkpoint ?? (config ? checkpointFilePath(config) : defaultCheckpointFile(opts.db!))
    const found = where ? await readCheckpoint(where, Boolean(opts.checkpoint), opts.ca) : undefined
    if (!found) {
      lines.push(
        `no checkpoint found${where ? ` at ${where}` : ''}: only the chain's own consistency was checked (a lost tail would not show); give --checkpoint FILE|URL`,
      )
      return lines
    }
    const payload = await againstCheckpoint(storage, found).catch((err) => {
      throw damagedOr(err)
    })
    lines.push(
      `matches ${found.name}: log ${payload.log_id}, ${new Date(payload.ts).toISOString()}, ${payload.heads.length} chain head(s) vouched for`,
    )
    return lines
  } finally {
    await storage.close()
  }
}

function checkPages(path: string): void {
  let problems: string[]
  let at = 'an unknown place'
  try {
    const db = openDatabase(path, { readonly: true })
    try {
      problems = quickCheck(db)
      if (problems.length > 0) at = describeDamage(locateDamage(db, problems))
    } finally {
      db.close()
    }
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'SQLITE_CANTOPEN')
      throw new CliExit(`cannot open the broker database ${path}: ${(err as Error).message}`)
    problems = [`${code ?? 'error'}: ${(err as Error).message}`]
  }
  if (problems.length === 0) return
  throw new CliExit(
    `database damaged at ${at}: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}\n` +
      `the file ${path} cannot be trusted; restore it from backup (or salvage readable rows with \`sqlite3 ${path} .recover\`)`,
    EXIT_DAMAGED,
  )
}

/** A read that failed because the file is damaged becomes "database damaged …" (exit 2); anything else, a plain message. */
function damagedOr(err: unknown): CliExit {
  if (err instanceof CliExit) return err
  const message = (err as Error).message ?? String(err)
  const code = (err as { code?: string }).code
  const driverCode = (err as { driverCode?: string }).driverCode
  if (
    code === 'SQLITE_CORRUPT' ||
    code === 'SQLITE_NOTADB' ||
    code === 'CORRUPT' ||
    driverCode === 'SQLITE_CORRUPT' ||
    /malformed|not a database/i.test(message)
  )
    return new CliExit(`database damaged: ${message}`, EXIT_DAMAGED)
  return new CliExit(`audit verify failed: ${message}`)
}

interface FoundCheckpoint {
  signed: SignedCheckpoint
  /** "checkpoint FILE line N" or "checkpoint URL" */
  name: string
}

async function readCheckpoint(
  where: string,
  explicit: boolean,
  ca?: string,
): Promise<FoundCheckpoint | undefined> {
  if (/^https?:\/\//.test(where)) {
    let body: unknown
    try {
      const res = await fetch(where, {
        dispatcher: ca ? new Agent({ connect: { ca: readFileSync(ca) } }) : undefined,
        signal: AbortSignal.timeout(10_000),
      })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      body = await res.json()
    } catch (err) {
      throw new CliExit(`cannot fetch the checkpoint from ${where}: ${(err as Error).message}`)
    }
    const signed = body as SignedCheckpoint
    if (typeof signed?.checkpoint !== 'string' || typeof signed.key !== 'object')
      throw new CliExit(`${where} did not answer { "checkpoint": "<JWS>", "key": <JWK> }`)
    return { signed, name: `checkpoint ${where}` }
  }
  let latest: Awaited<ReturnType<CheckpointFile['latest']>>
  try {
    latest = await new CheckpointFile(where).latest()
  } catch (err) {
    throw new CliExit((err as Error).message)
  }
  if (!latest) {
    if (explicit) throw new CliExit(`no checkpoint in ${where}`)
    return undefined
  }
  return { signed: latest, name: `checkpoint ${where} line ${latest.line}` }
}

async function againstCheckpoint(storage: Storage, found: FoundCheckpoint): Promise<CheckpointPayload> {
  let payload: CheckpointPayload
  try {
    payload = await openCheckpoint(found.signed)
  } catch (err) {
    throw new CliExit(`${found.name} is not a valid checkpoint: ${(err as Error).message}`)
  }
  const meta = await storage.meta.get()
  const stored = await storedCheckpointPublicKey(storage.keys)
  if (stored?.kid && stored.kid !== found.signed.key.kid)
    throw new CliExit(
      `audit log does NOT match ${found.name}: it is signed by checkpoint key ${String(found.signed.key.kid)}, but database ${storage.location} records checkpoint key ${stored.kid} for log ${meta?.log_id ?? '?'}`,
    )
  const mismatch = await compareWithCheckpoint(storage.reader, meta?.log_id, payload)
  if (mismatch)
    throw new CliExit(
      `audit log does NOT match ${found.name} (log ${payload.log_id}, ${new Date(payload.ts).toISOString()}): ${mismatch.problem}\n` +
        `database: ${storage.location}`,
    )
  return payload
}
