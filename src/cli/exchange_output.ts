import type { StoredExchange } from '../audit/index.js'
import { displayTime } from './display_time.js'

export type OutputFormat = 'table' | 'json' | 'jsonl' | 'csv'
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'jsonl', 'csv']

/** The row as exported: every column, `ts` also as ISO time, detail as an object. */
function exportable(row: StoredExchange): Record<string, unknown> {
  return { time: new Date(row.ts).toISOString(), ...row }
}

const CSV_COLUMNS = [
  'time',
  'seq',
  'id',
  'kind',
  'decision',
  'subject',
  'auth_method',
  'issuer',
  'peer',
  'audience',
  'scopes',
  'ttl',
  'secret_name',
  'route',
  'reason',
  'token_id',
  'expires_at',
  'latency_us',
  'detail',
] as const

export interface WriterOptions {
  /** table times in UTC instead of local time */
  utc?: boolean
  /** table: every column, nothing cut */
  wide?: boolean
  out?: NodeJS.WritableStream
  width?: number
}

/**
 * Writes rows in one format as they arrive (so an export of millions of rows streams).
 * `json` is one array; `jsonl` one object per line (Splunk, ELK, Loki); `csv` has a header row;
 * `table` fits the terminal width (a long subject keeps its end, the workload name), or with
 * `wide` shows every column uncut.
 */
export class ExchangeWriter {
  #count = 0
  private readonly out: NodeJS.WritableStream
  private readonly width: number

  constructor(
    private readonly format: OutputFormat,
    private readonly options: WriterOptions = {},
  ) {
    this.out = options.out ?? process.stdout
    this.width = options.width ?? terminalWidth()
  }

  get count(): number {
    return this.#count
  }

  write(row: StoredExchange): void {
    const first = this.#count === 0
    this.#count++
    switch (this.format) {
      case 'jsonl':
        this.out.write(`${JSON.stringify(exportable(row))}\n`)
        return
      case 'json':
        this.out.write(`${first ? '[\n' : ',\n'}${JSON.stringify(exportable(row))}`)
        return
      case 'csv':
        if (first) this.out.write(`${CSV_COLUMNS.join(',')}\n`)
        this.out.write(`${CSV_COLUMNS.map((c) => csvCell(cellValue(row, c))).join(',')}\n`)
        return
      case 'table':
        if (this.options.wide) {
          if (first) this.out.write(`${wideLine(WIDE_COLUMNS.map((c) => c.title))}\n`)
          this.out.write(`${wideLine(WIDE_COLUMNS.map((c) => c.cell(row, this.options.utc ?? false)))}\n`)
          return
        }
        if (first)
          this.out.write(
            `${tableLine(
              TABLE_COLUMNS.map((c) => c.title),
              this.width,
            )}\n`,
          )
        this.out.write(`${tableLine(tableCells(row, this.options.utc ?? false), this.width)}\n`)
        return
    }
  }

  end(): void {
    if (this.format === 'json') this.out.write(this.#count === 0 ? '[]\n' : '\n]\n')
    if (this.format === 'table' && this.#count === 0) this.out.write('no exchanges match\n')
  }
}

function cellValue(row: StoredExchange, column: (typeof CSV_COLUMNS)[number]): string {
  if (column === 'time') return new Date(row.ts).toISOString()
  if (column === 'detail') return row.detail ? JSON.stringify(row.detail) : ''
  const value = row[column]
  return value === null || value === undefined ? '' : String(value)
}

/** RFC 4180 quoting, plus a leading ' on values a spreadsheet would run as a formula. */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe
}

interface Column {
  title: string
  /** fixed columns keep their width; flexible ones share what the terminal has left */
  width?: number
  min?: number
  weight?: number
  /** cut from the left, keeping the end (a SPIFFE ID's workload name) */
  keepEnd?: boolean
}

const TABLE_COLUMNS: Column[] = [
  { title: 'TIME', width: 25 },
  { title: 'KIND', width: 12 },
  { title: 'DECISION', width: 8 },
  { title: 'SUBJECT', min: 12, weight: 5, keepEnd: true },
  { title: 'TARGET', min: 6, weight: 2 },
  { title: 'REASON', min: 6, weight: 3 },
  { title: 'ID', width: 26 },
]

/** `--wide`: every column, nothing cut (lines are as long as their values). */
const WIDE_COLUMNS: Array<{ title: string; cell: (row: StoredExchange, utc: boolean) => string }> = [
  { title: 'TIME', cell: (r, utc) => displayTime(r.ts, utc) },
  { title: 'KIND', cell: (r) => r.kind },
  { title: 'DECISION', cell: (r) => r.decision },
  { title: 'SUBJECT', cell: (r) => r.subject ?? '-' },
  { title: 'AUTH', cell: (r) => r.auth_method ?? '-' },
  { title: 'PEER', cell: (r) => r.peer ?? '-' },
  { title: 'AUDIENCE', cell: (r) => r.audience ?? '-' },
  { title: 'SCOPES', cell: (r) => r.scopes ?? '-' },
  { title: 'SECRET', cell: (r) => r.secret_name ?? '-' },
  { title: 'ROUTE', cell: (r) => r.route ?? '-' },
  { title: 'REASON', cell: (r) => r.reason ?? '-' },
  { title: 'TOKEN_ID', cell: (r) => r.token_id ?? '-' },
  { title: 'RUN_ID', cell: (r) => r.run_id ?? '-' },
  { title: 'LATENCY_US', cell: (r) => (r.latency_us === null ? '-' : String(r.latency_us)) },
  { title: 'NODE', cell: (r) => r.node_id || '-' },
  { title: 'SEQ', cell: (r) => String(r.seq) },
  { title: 'ID', cell: (r) => r.id },
]

function wideLine(cells: string[]): string {
  return cells.map((c) => terminalSafe(c === '' ? '-' : c)).join('  ')
}
/** Below this many columns the exchange id is left out (it is in every other format). */
const ID_COLUMN_FROM_WIDTH = 150

function tableCells(row: StoredExchange, utc: boolean): string[] {
  const target =
    row.audience ?? row.secret_name ?? (row.route ? `route:${row.route}` : null) ?? row.token_id ?? ''
  return [
    displayTime(row.ts, utc),
    row.kind,
    row.decision,
    row.subject ?? '-',
    target,
    row.reason ?? '',
    row.id,
  ]
}

function tableLine(cells: string[], width: number): string {
  const columns = width >= ID_COLUMN_FROM_WIDTH ? TABLE_COLUMNS : TABLE_COLUMNS.slice(0, -1)
  const fixed = columns.reduce((n, c) => n + (c.width ?? 0), 0) + (columns.length - 1) * 2
  const weights = columns.reduce((n, c) => n + (c.weight ?? 0), 0)
  const spare = Math.max(0, width - fixed)
  const line = columns
    .map((column, i) => {
      const w =
        column.width ?? Math.max(column.min ?? 4, Math.floor((spare * (column.weight ?? 0)) / weights))
      return fitCell(terminalSafe(cells[i] ?? ''), w, i === columns.length - 1, column.keepEnd ?? false)
    })
    .join('  ')
  // very narrow terminals: never wrap, cut the line
  return line.length > width ? `${line.slice(0, width - 1)}…` : line.trimEnd()
}

function fitCell(text: string, width: number, last: boolean, keepEnd: boolean): string {
  if (text.length > width && keepEnd) return `…${text.slice(text.length - Math.max(0, width - 1))}`
  if (text.length > width) return `${text.slice(0, Math.max(0, width - 1))}…`
  return last ? text : text.padEnd(width)
}

/** A hostile subject or reason must not move the cursor or forge rows in an operator's terminal. */
export function terminalSafe(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?')
}

function terminalWidth(): number {
  const columns = process.stdout.columns
  return columns && columns > 40 ? columns : Number(process.env.COLUMNS) || 160
}

/**
 * Progress for long runs (verify, export), on stderr so stdout stays clean for redirection, and
 * only on a terminal: piped or redirected, nothing extra is written. With a total it shows the
 * share done and an estimate of the time left; it redraws one line at most 4 times a second.
 */
export class Progress {
  #lastDraw = 0
  #started: number
  #total: number | undefined
  readonly #out: NodeJS.WritableStream & { isTTY?: boolean }
  readonly #now: () => number

  constructor(
    private readonly verb: string,
    options: { out?: NodeJS.WritableStream & { isTTY?: boolean }; now?: () => number; total?: number } = {},
  ) {
    this.#out = options.out ?? process.stderr
    this.#now = options.now ?? Date.now
    this.#started = this.#now()
    this.#total = options.total
  }

  /** Whether anything will be shown (a terminal); callers skip the work of finding a total otherwise. */
  get visible(): boolean {
    return this.#out.isTTY === true
  }

  set total(total: number | undefined) {
    this.#total = total
  }

  tick(count: number): void {
    if (!this.visible) return
    const now = this.#now()
    if (now - this.#lastDraw < 250) return
    this.#lastDraw = now
    this.#draw(count, now)
  }

  done(count: number): void {
    if (!this.visible) return
    this.#draw(count, this.#now(), true)
  }

  #draw(count: number, now: number, final = false): void {
    const total = this.#total
    let text = `keybroker: ${this.verb} ${count.toLocaleString('en-US')}`
    if (total !== undefined && total > 0) {
      const share = Math.min(1, count / total)
      text += ` / ${total.toLocaleString('en-US')} exchanges (${Math.floor(share * 100)}%)`
      const elapsed = (now - this.#started) / 1000
      if (!final && count > 0 && elapsed >= 1) {
        const left = Math.max(0, Math.round((elapsed / count) * (total - count)))
        text += `, about ${left < 90 ? `${left} s` : `${Math.round(left / 60)} min`} left`
      }
    } else text += ' exchanges'
    if (final) text += ` in ${((now - this.#started) / 1000).toFixed(1)} s`
    this.#out.write(`\r\u001b[2K${text}${final ? '\n' : ''}`)
  }
}
