import type { SubjectBlockRow, SubjectBlockRows } from '../storage/ports.js'

/**
 * Subjects refused new tokens (`revoke --subject S --block`), mirrored in memory like revocations:
 * the issue path asks `isBlocked` without I/O; `refresh()` (polled by the broker every second)
 * picks up blocks written by the CLI or another replica.
 */
export class SubjectBlocks {
  #blocked = new Map<string, SubjectBlockRow>()

  constructor(private readonly rows: SubjectBlockRows) {}

  isBlocked(subject: string): boolean {
    return this.#blocked.has(subject)
  }

  async refresh(): Promise<void> {
    const rows = await this.rows.list()
    this.#blocked = new Map(rows.map((r) => [r.subject, r]))
  }

  /** Block now (this process at once, others within their next refresh); true when it is new. */
  async block(row: SubjectBlockRow): Promise<boolean> {
    const added = await this.rows.add(row)
    this.#blocked.set(row.subject, row)
    return added
  }

  async unblock(subject: string): Promise<boolean> {
    const removed = await this.rows.remove(subject)
    this.#blocked.delete(subject)
    return removed
  }

  list(): SubjectBlockRow[] {
    return [...this.#blocked.values()]
  }
}
