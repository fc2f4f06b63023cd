import type { StoredExchange } from '../audit/index.js'

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

/**
 * Writes rows in one format as they arrive (so an export of millions of rows streams).
 * `json` is one array; `jsonl` one object per line (Splunk, ELK, Loki); `csv` has a header row;
 * `table` fits the terminal width, truncating the wide columns.
 */
export class ExchangeWriter {
  #count = 0

  constructor(
    private readonly format: OutputFormat,
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly width = terminalWidth(),
  ) {}

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
        if (first)
          this.out.write(
            `${tableLine(
              TABLE_COLUMNS.map((c) => c.title),
              this.width,
            )}\n`,
          )
        this.out.write(`${tableLine(tableCells(row), this.width)}\n`)
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
}

const TABLE_COLUMNS: Column[] = [
  { title: 'TIME', width: 20 },
  { title: 'KIND', width: 12 },
  { title: 'DECISION', width: 8 },
  { title: 'SUBJECT', min: 6, weight: 3 },
  { title: 'TARGET', min: 6, weight: 2 },
  { title: 'REASON', min: 6, weight: 3 },
  { title: 'ID', width: 26 },
]
/** Below this many columns the exchange id is left out (it is in every other format). */
const ID_COLUMN_FROM_WIDTH = 120

function tableCells(row: StoredExchange): string[] {
  const target =
    row.audience ?? row.secret_name ?? (row.route ? `route:${row.route}` : null) ?? row.token_id ?? ''
  return [
    new Date(row.ts).toISOString().replace(/\.\d{3}Z$/, 'Z'),
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
      return fitCell(terminalSafe(cells[i] ?? ''), w, i === columns.length - 1)
    })
    .join('  ')
  // very narrow terminals: never wrap, cut the line
  return line.length > width ? `${line.slice(0, width - 1)}…` : line.trimEnd()
}

function fitCell(text: string, width: number, last: boolean): string {
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

/** Progress for long runs, on stderr so stdout stays clean for redirection. */
export class Progress {
  #last = 0
  constructor(
    private readonly verb: string,
    private readonly every = 10_000,
  ) {}

  tick(count: number): void {
    if (count - this.#last < this.every) return
    this.#last = count
    process.stderr.write(`keybroker: ${this.verb} ${count} exchanges…\n`)
  }

  done(count: number): void {
    process.stderr.write(`keybroker: ${this.verb} ${count} exchanges\n`)
  }
}
