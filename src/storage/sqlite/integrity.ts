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

/**
 * The damaged page named in quick_check's first message ("Tree 5 page 37 cell 2: ..." or
 * "Page 12: never used"), for messages that say where; undefined when it names none.
 */
export function damagedPage(problems: readonly string[]): number | undefined {
  for (const problem of problems) {
    const m = /\bpage (\d+)/i.exec(problem)
    if (m) return Number(m[1])
  }
  return undefined
}
