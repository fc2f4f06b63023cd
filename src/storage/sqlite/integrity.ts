import type { SqliteDatabase } from './connection.js'

/** At most this many problems are collected: the first one names the damage, the rest add nothing. */
const MAX_PROBLEMS = 10

/**
 * `PRAGMA quick_check`: every b-tree page's structure, free list and record formats, without the
 * index-vs-table cross-check of integrity_check (which costs several times as much). Returns the
 * problems found, [] when the file is sound. A file too damaged to read the schema throws
 * SQLITE_CORRUPT / SQLITE_NOTADB, which is reported as one problem here.
 */
export function quickCheck(db: SqliteDatabase): string[] {
  try {
    const rows = db.prepare(`PRAGMA quick_check(${MAX_PROBLEMS})`).pluck().all() as string[]
    return rows.length === 1 && rows[0] === 'ok' ? [] : rows
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || code === 'SQLITE_IOERR')
      return [`${code}: ${(err as Error).message}`]
    throw err
  }
}

/** Where the damage is, as precisely as it can be named. */
export interface DamageLocation {
  page?: number
  nodeId?: string
  seq?: number
  /** a table or index that cannot be read through (the damage is in another table than the log) */
  structure?: string
}

/**
 * Name where the damage is: the page quick_check reported ("Tree 5 page 37 cell 2: ..."), or, when
 * quick_check itself stopped on the damage (it throws SQLITE_CORRUPT on some damaged leaf pages),
 * the first audit row that cannot be read, found by walking each chain through its index.
 */
export function locateDamage(db: SqliteDatabase, problems: readonly string[]): DamageLocation {
  for (const problem of problems) {
    const m = /\bpage (\d+)/i.exec(problem)
    if (m) return { page: Number(m[1]) }
  }
  try {
    const nodes = db.prepare('SELECT node_id FROM audit_heads ORDER BY node_id').pluck().all() as string[]
    const page = db.prepare(
      'SELECT seq, hash, detail FROM exchanges WHERE node_id = ? AND seq > ? ORDER BY seq LIMIT 500',
    )
    const one = db.prepare('SELECT seq, hash, detail FROM exchanges WHERE node_id = ? AND seq = ?')
    const seqs = db
      .prepare('SELECT seq FROM exchanges WHERE node_id = ? AND seq > ? ORDER BY seq LIMIT 500')
      .pluck()
    for (const nodeId of nodes) {
      let after = 0
      for (;;) {
        let rows: Array<{ seq: number }>
        try {
          rows = page.all(nodeId, after) as Array<{ seq: number }>
        } catch {
          // the index still lists the seqs; the first whose row cannot be read is the damage
          for (const seq of seqs.all(nodeId, after) as number[]) {
            try {
              one.get(nodeId, seq)
            } catch {
              return { nodeId, seq }
            }
          }
          return { nodeId, seq: after + 1 }
        }
        if (rows.length === 0) break
        after = rows[rows.length - 1]!.seq
      }
    }
    // not in the log's rows: the first table or index that cannot be read through
    const structures = db
      .prepare(
        `SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL`,
      )
      .all() as Array<{ type: string; name: string; tbl_name: string }>
    for (const s of structures) {
      const quoted = (n: string) => `"${n.replace(/"/g, '""')}"`
      const sql =
        s.type === 'table'
          ? `SELECT * FROM ${quoted(s.name)}`
          : `SELECT count(*) FROM ${quoted(s.tbl_name)} INDEXED BY ${quoted(s.name)}`
      try {
        for (const _row of db.prepare(sql).iterate()) {
          // reading every row is the check
        }
      } catch (err) {
        if (/corrupt|malformed/i.test(String((err as Error).message)))
          return { structure: `${s.type} ${s.name}` }
      }
    }
  } catch {
    // the schema itself is unreadable: nothing more precise to say
  }
  return {}
}

/** "page 37", "seq 75 of chain node-a", or "an unknown place". */
export function describeDamage(at: DamageLocation): string {
  if (at.page !== undefined) return `page ${at.page}`
  if (at.seq !== undefined) return `seq ${at.seq} of chain ${at.nodeId === '' ? "'' (0.1 rows)" : at.nodeId}`
  if (at.structure !== undefined) return at.structure
  return 'an unknown place'
}

/**
 * Statements proving the file can grow: a head row with an 8 KiB hash (overflow pages) inserted and
 * deleted in one transaction. On a full disk or at max_page_count it fails with SQLITE_FULL and
 * leaves nothing; otherwise the pages it used go to the free list, where the next probe (or the
 * next append) finds them. The node id cannot be a real one (node ids are [A-Za-z0-9._-]).
 */
export const ALLOCATION_PROBE = [
  {
    sql: `INSERT INTO audit_heads (node_id, seq, hash, created_at, updated_at) VALUES (' space probe', 0, hex(zeroblob(4096)), 0, 0)`,
  },
  { sql: `DELETE FROM audit_heads WHERE node_id = ' space probe'` },
]

/** Rows read back from the end of each chain and of the time index by `checkRecentPages`. */
const RECENT_ROWS = 2000

/**
 * The cheap part of the start check, for a file too large to quick_check before serving: every
 * table but the audit rows checked whole (they are small), the header and schema, and the pages
 * written last (the tail of every chain and of the time index) read back. Returns the problems.
 */
export function checkRecentPages(db: SqliteDatabase): string[] {
  const problems: string[] = []
  const attempt = (what: string, run: () => unknown) => {
    try {
      run()
    } catch (err) {
      problems.push(`${what}: ${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`)
    }
  }
  let tables: string[] = []
  attempt('schema', () => {
    tables = db
      .prepare(
        `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'exchanges'`,
      )
      .pluck()
      .all() as string[]
  })
  for (const table of tables)
    attempt(`table ${table}`, () => {
      const rows = db
        .prepare(`PRAGMA quick_check("${table.replaceAll('"', '""')}")`)
        .pluck()
        .all() as string[]
      if (!(rows.length === 1 && rows[0] === 'ok')) problems.push(...rows)
    })
  attempt('recent rows', () => {
    const nodes = db.prepare('SELECT node_id FROM audit_heads').pluck().all() as string[]
    const tail = db.prepare('SELECT * FROM exchanges WHERE node_id = ? ORDER BY seq DESC LIMIT ?')
    for (const node of nodes) tail.all(node, RECENT_ROWS)
    db.prepare('SELECT ts, id, hash FROM exchanges ORDER BY ts DESC, id DESC LIMIT ?').all(RECENT_ROWS)
  })
  return problems
}
