/**
 * `keybroker storage copy`: move a whole broker database to another one (SQLite → PostgreSQL is
 * the usual case; any driver to any driver works), over the ports only.
 *
 * What is copied, exactly as stored: every audit row of every chain (node_id, seq, form, every
 * column, prev_hash, hash: rows are never re-hashed, so the log still verifies and old exports
 * still match), chain heads, retention checkpoints, log_meta, sealed signing keys (still sealed:
 * the target broker needs the same KEK) and revocations. Not copied: chain leases (no process
 * owns a chain in the target yet).
 *
 * Each chain is copied up to the head read at the start, so a copy taken while a broker still
 * writes is consistent per chain (rows appended later are not copied; stop the broker first to
 * copy everything). Every source row is checked against its predecessor while it is copied:
 * a source that does not verify is refused at the first bad row.
 */
import { GENESIS_HASH } from '../audit/canonical.js'
import { linkProblem } from '../audit/lib/chain.js'
import type { ChainHead, ChainLink, Storage } from './ports.js'

export interface CopyOptions {
  /** Add to a target that already holds audit rows (chains must not collide). */
  append?: boolean
  /** Rows per transaction (default 2000). */
  batchRows?: number
  /** Called after each committed batch: rows copied so far, rows in the source when the copy started. */
  onProgress?: (copied: number, total: number) => void
  now?: () => number
}

export interface CopyReport {
  chains: number
  rows: number
  /** Rows the source held that belong to no chain head read at the start (appended meanwhile, or orphans). */
  rowsNotCopied: number
  keysCopied: number
  /** kids already in the target (left as they were). */
  keysSkipped: number
  revocations: number
  logId?: string
}

export type CopyRefusalReason = 'TARGET_NOT_EMPTY' | 'CHAIN_COLLISION' | 'ISSUER_MISMATCH' | 'SOURCE_BROKEN'

/** The copy was refused before it wrote anything (or, for SOURCE_BROKEN, stopped at the bad row). */
export class CopyRefused extends Error {
  readonly reason: CopyRefusalReason
  constructor(reason: CopyRefusalReason, message: string) {
    super(message)
    this.name = 'CopyRefused'
    this.reason = reason
  }
}

const DEFAULT_BATCH = 2000
const REVOCATION_BATCH = 500

/**
 * Copy `source` into `target` (both migrated to this binary's schema). Refuses, writing nothing,
 * a target that already holds audit rows unless `append`, and always a chain that exists in
 * both (never a merge that breaks a chain) or a target created for another issuer.
 *
 * @example
 * const report = await copyStorage(sqlite, postgres, { onProgress: (n, total) => bar.update(n, total) })
 */
export async function copyStorage(
  source: Storage,
  target: Storage,
  options: CopyOptions = {},
): Promise<CopyReport> {
  const batch = options.batchRows ?? DEFAULT_BATCH
  const now = options.now ?? Date.now
  const [sourceMeta, heads, checkpoints, total] = await Promise.all([
    source.meta.get(),
    source.reader.heads(),
    source.reader.retentionCheckpoints(),
    source.reader.count(),
  ])
  await preflight(source, target, heads, sourceMeta?.issuer, options.append === true)

  const targetMeta = await target.meta.get()
  // A target without rows takes the source's log identity; an appended-to target keeps its own.
  if (sourceMeta && (!options.append || !targetMeta)) await target.bulk.setMeta(sourceMeta)

  const keys = await source.keys.list()
  const inserted = await target.bulk.insertKeys(keys)

  const revocations = await source.revocations.since(0, 0)
  for (let i = 0; i < revocations.length; i += REVOCATION_BATCH)
    await target.revocations.add(revocations.slice(i, i + REVOCATION_BATCH).map(({ seq: _seq, ...r }) => r))

  const retention = new Map(checkpoints.map((c) => [c.nodeId, c]))
  let copied = 0
  options.onProgress?.(0, total)
  for (const head of heads) {
    const checkpoint = retention.get(head.nodeId)
    let link: ChainLink = checkpoint
      ? { seq: checkpoint.seq, hash: checkpoint.hash }
      : { seq: 0, hash: GENESIS_HASH }
    await target.bulk.createChain(head.nodeId, link, checkpoint ? { ...link, prunedAt: now() } : undefined)
    while (link.seq < head.seq) {
      const rows = await source.reader.chainRows(head.nodeId, link.seq, Math.min(batch, head.seq - link.seq))
      if (rows.length === 0)
        throw brokenSource(
          head,
          link.seq + 1,
          `rows after seq ${link.seq} are missing but its head records seq ${head.seq}`,
        )
      let previous = link
      for (const row of rows) {
        const problem = linkProblem(previous, row)
        if (problem) throw brokenSource(head, row.seq, `${problem} (row ${row.id})`)
        previous = { seq: row.seq, hash: row.hash }
      }
      await target.bulk.appendRows(head.nodeId, link, rows)
      link = previous
      copied += rows.length
      options.onProgress?.(copied, total)
    }
    if (link.hash !== head.hash)
      throw brokenSource(head, link.seq, `hash of seq ${link.seq} does not match its head`)
  }
  return {
    chains: heads.length,
    rows: copied,
    rowsNotCopied: Math.max(0, total - copied),
    keysCopied: inserted.length,
    keysSkipped: keys.length - inserted.length,
    revocations: revocations.length,
    logId: sourceMeta?.log_id,
  }
}

async function preflight(
  source: Storage,
  target: Storage,
  heads: ChainHead[],
  issuer: string | undefined,
  append: boolean,
): Promise<void> {
  const [targetRows, targetHeads, targetMeta] = await Promise.all([
    target.reader.count(),
    target.reader.heads(),
    target.meta.get(),
  ])
  if (targetRows > 0 && !append)
    throw new CopyRefused(
      'TARGET_NOT_EMPTY',
      `${target.location} already holds ${targetRows} audit row(s) in ${targetHeads.length} chain(s); copy into an empty database, or pass --append to add ${source.location}'s chains beside them`,
    )
  const theirs = new Set(targetHeads.map((h) => h.nodeId))
  const both = heads
    .filter((h) => theirs.has(h.nodeId))
    .map((h) => (h.nodeId === '' ? '"" (the 0.1 log)' : `"${h.nodeId}"`))
  if (both.length > 0)
    throw new CopyRefused(
      'CHAIN_COLLISION',
      `chain(s) ${both.slice(0, 5).join(', ')}${both.length > 5 ? ` and ${both.length - 5} more` : ''} exist in both ${source.location} and ${target.location}; merging them would break the hash chain, so nothing was copied (was this source copied there already?)`,
    )
  if (issuer && targetMeta && targetMeta.issuer !== issuer)
    throw new CopyRefused(
      'ISSUER_MISMATCH',
      `${target.location} belongs to issuer ${targetMeta.issuer}, ${source.location} to issuer ${issuer}; one database serves one issuer`,
    )
}

function brokenSource(head: ChainHead, seq: number, problem: string): CopyRefused {
  return new CopyRefused(
    'SOURCE_BROKEN',
    `the source log does not verify: chain "${head.nodeId}" seq ${seq}: ${problem}; the copy stopped there (run keybroker audit verify on the source; the target holds a partial copy: drop it before copying again)`,
  )
}
