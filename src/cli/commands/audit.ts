import { type Command, InvalidArgumentError, Option } from 'commander'
import {
  ExchangeStats,
  type ExchangeStatsSummary,
  formatExchangeLine,
  MAX_LIMIT,
  type RawExchangeFilter,
  type StoredExchange,
} from '../../audit/index.js'
import { parseDuration } from '../../config/index.js'
import { type AuditSource, openAuditSource, type SourceOptions, withSourceOptions } from '../audit_source.js'
import { CliExit } from '../common.js'
import {
  ExchangeWriter,
  OUTPUT_FORMATS,
  type OutputFormat,
  Progress,
  terminalSafe,
} from '../exchange_output.js'
import { verifyLocal } from '../verify_local.js'

interface FilterOptions {
  subject?: string
  kind?: string
  decision?: string
  audience?: string
  secret?: string
  route?: string
  since?: string
  until?: string
}

/** `--since 24h` means 24 hours ago; RFC 3339 and unix seconds pass through to the query as given. */
function timeOption(value: string): string {
  const seconds = parseDuration(value)
  return seconds === undefined ? value : new Date(Date.now() - seconds * 1000).toISOString()
}

function withFilterOptions(cmd: Command): Command {
  return cmd
    .option('--subject <id>', 'caller subject (SPIFFE ID or token sub)')
    .option('--kind <kind>', 'issue, delegate, fetch, proxy, revoke, admin, auth_failure')
    .option('--decision <decision>', 'allow, deny, error')
    .option('--audience <audience>', 'token audience')
    .option('--secret <name>', 'secret name')
    .option('--route <route>', 'proxy route')
    .option('--since <time>', 'from (RFC 3339, unix seconds, or a duration ago: 24h, 7d)', timeOption)
    .option('--until <time>', 'before (same forms)', timeOption)
}

function rawFilter(opts: FilterOptions): RawExchangeFilter {
  return {
    subject: opts.subject,
    kind: opts.kind,
    decision: opts.decision,
    audience: opts.audience,
    secret_name: opts.secret,
    route: opts.route,
    since: opts.since,
    until: opts.until,
  }
}

function formatOption(fallback: OutputFormat): Option {
  return new Option('--format <format>', 'output format').choices(OUTPUT_FORMATS).default(fallback)
}

function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError(`"${value}" is not a positive whole number`)
  return n
}

async function withSource<T>(opts: SourceOptions, run: (source: AuditSource) => Promise<T>): Promise<T> {
  const source = await openAuditSource(opts)
  try {
    return await run(source)
  } finally {
    await source.close()
  }
}

/** `keybroker audit query|tail|verify|export|stats`, against the file or a running broker. */
export function registerAuditCommands(program: Command): void {
  const audit = program
    .command('audit')
    .description('the exchange log: review, search, stream, export, verify')

  withSourceOptions(withFilterOptions(audit.command('query').description('search exchanges, newest first')))
    .addOption(formatOption('table'))
    .option('-n, --limit <n>', `rows per page (max ${MAX_LIMIT})`, positiveInt, 100)
    .option('--page-token <token>', 'continue a previous query (same filters)')
    .option('--all', 'follow every page to the end (progress on stderr)')
    .action(
      async (
        opts: SourceOptions &
          FilterOptions & { format: OutputFormat; limit: number; pageToken?: string; all?: boolean },
      ) => {
        await withSource(opts, async (source) => {
          const writer = new ExchangeWriter(opts.format)
          const progress = new Progress('read')
          let token = opts.pageToken
          do {
            const page = await source.list(rawFilter(opts), Math.min(opts.limit, MAX_LIMIT), token)
            for (const row of page.rows) writer.write(row)
            token = page.next
            if (opts.all) progress.tick(writer.count)
          } while (opts.all && token)
          writer.end()
          if (opts.all && writer.count >= 10_000) progress.done(writer.count)
          if (!opts.all && token) process.stderr.write(`more rows: add --page-token ${token}\n`)
        })
      },
    )

  withSourceOptions(withFilterOptions(audit.command('tail').description('print the latest exchanges')))
    .option('-n, --lines <n>', 'how many', positiveInt, 20)
    .option('-f, --follow', 'keep printing new exchanges (reconnects from the last one seen)')
    .addOption(new Option('--format <format>', 'output format').choices(['line', 'jsonl']).default('line'))
    .action(
      async (opts: SourceOptions & FilterOptions & { lines: number; follow?: boolean; format: string }) => {
        const print = (row: StoredExchange) =>
          process.stdout.write(`${opts.format === 'jsonl' ? JSON.stringify(row) : formatExchangeLine(row)}\n`)
        await withSource(opts, async (source) => {
          const filter = rawFilter(opts)
          const latest = (await source.list(filter, Math.min(opts.lines, MAX_LIMIT))).rows.reverse()
          for (const row of latest) print(row)
          if (!opts.follow) return
          const after = latest.at(-1)?.seq ?? 0
          // "since" served the first page; the live part continues strictly after what was printed
          await source.stream({ ...filter, since: after === 0 ? filter.since : undefined }, after, print, {
            follow: true,
          })
        })
      },
    )

  withSourceOptions(
    audit
      .command('verify')
      .description(
        'check the file, every hash chain, and the heads against the newest signed checkpoint; exit 1 naming the first bad row, 2 when the database file is damaged',
      ),
  )
    .option(
      '--checkpoint <file|url>',
      'checkpoint file, or URL of a broker GET /audit/checkpoint (default: the broker checkpoint file)',
    )
    .action(async (opts: SourceOptions & { checkpoint?: string }) => {
      if (!opts.address) {
        for (const line of await verifyLocal(opts)) process.stdout.write(`${line}\n`)
        return
      }
      if (opts.checkpoint)
        throw new CliExit('--checkpoint checks the database itself: use it with --db or --config')
      const result = await withSource(opts, (source) => source.verify())
      if (result.ok) {
        process.stdout.write(`audit log OK: ${result.rowsChecked} rows, chain intact\n`)
        return
      }
      throw new CliExit(
        `audit log BROKEN at seq ${result.firstBadSeq ?? '?'} (id ${result.firstBadId ?? '?'}): ${result.problem}\n` +
          `rows checked before the fault: ${result.rowsChecked}`,
      )
    })

  withSourceOptions(
    withFilterOptions(
      audit
        .command('export')
        .description('write exchanges oldest first, for Splunk / ELK / Loki (default jsonl)'),
    ),
  )
    .addOption(formatOption('jsonl'))
    .action(async (opts: SourceOptions & FilterOptions & { format: OutputFormat }) => {
      const writer = new ExchangeWriter(opts.format)
      const progress = new Progress('exported')
      await withSource(opts, (source) =>
        source.stream(
          rawFilter(opts),
          0,
          (row) => {
            writer.write(row)
            progress.tick(writer.count)
          },
          { follow: false },
        ),
      )
      writer.end()
      progress.done(writer.count)
    })

  withSourceOptions(
    withFilterOptions(
      audit
        .command('stats')
        .description('counts per subject, kind and decision over a window; top refused subjects'),
    ),
  )
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--top <n>', 'how many subjects to list', positiveInt, 10)
    .action(async (opts: SourceOptions & FilterOptions & { format: string; top: number }) => {
      const filter = rawFilter({ ...opts, since: opts.since ?? timeOption('24h') })
      const stats = new ExchangeStats()
      const progress = new Progress('counted')
      let n = 0
      await withSource(opts, (source) =>
        source.stream(
          filter,
          0,
          (row) => {
            stats.add(row)
            progress.tick(++n)
          },
          { follow: false },
        ),
      )
      const summary = stats.summary(opts.top)
      if (opts.format === 'json') process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
      else process.stdout.write(renderStats(summary, filter))
    })
}

function renderStats(s: ExchangeStatsSummary, filter: RawExchangeFilter): string {
  const window = `${filter.since ?? 'start'} … ${filter.until ?? 'now'}`
  const section = (title: string, rows: Array<[string, number]>) => {
    if (rows.length === 0) return `${title}\n  (none)\n`
    const width = Math.max(...rows.map(([, n]) => String(n).length))
    return `${title}\n${rows.map(([k, n]) => `  ${String(n).padStart(width)}  ${terminalSafe(k)}`).join('\n')}\n`
  }
  return [
    `window: ${window}\ntotal exchanges: ${s.total}\n`,
    section('by decision', s.byDecision),
    section('by kind', s.byKind),
    section('by subject (top)', s.bySubject),
    section('top refused subjects', s.topRefused),
  ].join('\n')
}
