import { type Command, InvalidArgumentError, Option } from 'commander'
import {
  formatExchangeLine,
  MAX_LIMIT,
  type RawExchangeFilter,
  type StoredExchange,
} from '../../audit/index.js'
import { parseDuration } from '../../config/index.js'
import { type AuditSource, openAuditSource, type SourceOptions, withSourceOptions } from '../audit_source.js'
import { CliExit } from '../common.js'
import { displayTime } from '../display_time.js'
import { ExchangeWriter, OUTPUT_FORMATS, type OutputFormat, Progress } from '../exchange_output.js'
import { renderExchange } from '../exchange_show.js'
import { renderStats, statsJson } from '../stats_output.js'
import { verifyLocal } from '../verify_local.js'

interface FilterOptions {
  subject?: string
  tokenId?: string
  peer?: string
  runId?: string
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
    .option(
      '--subject <id>',
      "caller subject (SPIFFE ID or token sub); a trailing * matches a prefix: 'spiffe://example.org/ns/agents/*'",
    )
    .option('--token-id <jti>', 'rows about one token (its issue, uses, revocation)')
    .option('--peer <address>', 'caller network address as recorded (e.g. 10.0.0.7:51234)')
    .option('--run-id <id>', 'rows of one agent run (TaskContext.run_id)')
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
    token_id: opts.tokenId,
    peer: opts.peer,
    run_id: opts.runId,
    kind: opts.kind,
    decision: opts.decision,
    audience: opts.audience,
    secret_name: opts.secret,
    route: opts.route,
    since: opts.since,
    until: opts.until,
  }
}

function formatOption(fallback: string, choices: readonly string[] = OUTPUT_FORMATS): Option {
  return new Option('-o, --format <format>', 'output format').choices(choices).default(fallback)
}

const utcOption = () => new Option('--utc', 'show times in UTC (default: local time with its offset)')

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
    .addOption(utcOption())
    .option('--wide', 'table: every column, nothing cut')
    .option('-n, --limit <n>', `rows per page (max ${MAX_LIMIT})`, positiveInt, 100)
    .option('--page-token <token>', 'continue a previous query (same filters)')
    .option('--all', 'follow every page to the end (progress on a terminal)')
    .action(
      async (
        opts: SourceOptions &
          FilterOptions & {
            format: OutputFormat
            limit: number
            pageToken?: string
            all?: boolean
            utc?: boolean
            wide?: boolean
          },
      ) => {
        await withSource(opts, async (source) => {
          const writer = new ExchangeWriter(opts.format, { utc: opts.utc, wide: opts.wide })
          const progress = new Progress('read')
          let token = opts.pageToken
          do {
            const page = await source.list(rawFilter(opts), Math.min(opts.limit, MAX_LIMIT), token)
            for (const row of page.rows) writer.write(row)
            token = page.next
            if (opts.all) progress.tick(writer.count)
          } while (opts.all && token)
          writer.end()
          if (opts.all) progress.done(writer.count)
          if (!opts.all && token) process.stderr.write(`more rows: add --page-token ${token}\n`)
        })
      },
    )

  withSourceOptions(withFilterOptions(audit.command('tail').description('print the latest exchanges')))
    .option('-n, --lines <n>', 'how many', positiveInt, 20)
    .option('-f, --follow', 'keep printing new exchanges (reconnects from the last one seen)')
    .addOption(formatOption('line', ['line', 'jsonl']))
    .addOption(utcOption())
    .action(
      async (
        opts: SourceOptions &
          FilterOptions & { lines: number; follow?: boolean; format: string; utc?: boolean },
      ) => {
        const time = (ms: number) => displayTime(ms, opts.utc ?? false)
        const print = (row: StoredExchange) =>
          process.stdout.write(
            `${opts.format === 'jsonl' ? JSON.stringify(row) : formatExchangeLine(row, time)}\n`,
          )
        await withSource(opts, async (source) => {
          const filter = rawFilter(opts)
          const latest = (await source.list(filter, Math.min(opts.lines, MAX_LIMIT))).rows.reverse()
          for (const row of latest) print(row)
          if (!opts.follow) return
          // the live part starts at the newest row printed (inclusive, by time) and skips what was printed
          const printed = new Set(latest.map((r) => r.id))
          const last = latest.at(-1)
          const since = last ? new Date(last.ts).toISOString() : filter.since
          await source.stream(
            { ...filter, since },
            since ? 'beginning' : 'now',
            (row) => {
              if (!printed.has(row.id)) print(row)
            },
            { follow: true },
          )
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
    .addOption(formatOption('text', ['text', 'json']))
    .action(async (opts: SourceOptions & { format: string; checkpoint?: string }) => {
      // the database itself (file pages, chains, checkpoint); JSON output reports the chains only
      if (!opts.address && opts.format !== 'json') {
        for (const line of await verifyLocal(opts)) process.stdout.write(`${line}\n`)
        return
      }
      if (opts.checkpoint && opts.address)
        throw new CliExit('--checkpoint checks the database itself: use it with --db or --config')
      const progress = new Progress('verified')
      const result = await withSource(opts, async (source) => {
        if (progress.visible) progress.total = await source.totalRows()
        const verified = await source.verify((n) => progress.tick(n))
        progress.done(verified.rowsChecked)
        return verified
      })
      if (opts.format === 'json') {
        process.stdout.write(
          `${JSON.stringify({
            ok: result.ok,
            rows_checked: result.rowsChecked,
            first_bad_node_id: result.firstBadNodeId ?? null,
            first_bad_seq: result.firstBadSeq ?? null,
            first_bad_id: result.firstBadId ?? null,
            problem: result.problem ?? null,
          })}\n`,
        )
        if (!result.ok) throw new CliExit('', 1)
        return
      }
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
    .addOption(utcOption())
    .action(async (opts: SourceOptions & FilterOptions & { format: OutputFormat; utc?: boolean }) => {
      const writer = new ExchangeWriter(opts.format, { utc: opts.utc })
      const progress = new Progress('exported')
      const filter = rawFilter(opts)
      await withSource(opts, async (source) => {
        if (progress.visible) progress.total = await source.count(filter)
        await source.export(filter, (row) => {
          writer.write(row)
          progress.tick(writer.count)
        })
      })
      writer.end()
      progress.done(writer.count)
    })

  withSourceOptions(
    audit
      .command('show')
      .description('one exchange with every field')
      .argument(
        '<exchange-id>',
        'the exchange id (the ID column, keybroker-exchange-id, audit ids in output)',
      ),
  )
    .addOption(formatOption('text', ['text', 'json']))
    .addOption(utcOption())
    .action(async (id: string, opts: SourceOptions & { format: string; utc?: boolean }) => {
      const row = await withSource(opts, (source) => source.show(id.trim()))
      if (!row) throw new CliExit(`keybroker: no exchange ${terminalSafeId(id)} in this log`)
      process.stdout.write(
        opts.format === 'json'
          ? `${JSON.stringify({ time: new Date(row.ts).toISOString(), ...row }, null, 2)}\n`
          : renderExchange(row, opts.utc ?? false),
      )
    })

  withSourceOptions(
    withFilterOptions(
      audit
        .command('stats')
        .description(
          'counts by decision, kind, subject and audience, refusals by reason, and per time bucket (latency p50/p99); computed by the store',
        ),
    ),
  )
    .addOption(formatOption('table', ['table', 'json']))
    .addOption(utcOption())
    .option('--bucket <duration>', 'time bucket size: 1m, 5m, 1h, 1d', '1h')
    .option('--top <n>', 'how many subjects, audiences and reasons to list', positiveInt, 10)
    .action(
      async (
        opts: SourceOptions & FilterOptions & { format: string; top: number; bucket: string; utc?: boolean },
      ) => {
        const filter = rawFilter({ ...opts, since: opts.since ?? timeOption('24h') })
        const stats = await withSource(opts, (source) => source.stats(filter, opts.bucket, opts.top))
        process.stdout.write(
          opts.format === 'json'
            ? `${JSON.stringify(statsJson(stats, filter, opts.bucket), null, 2)}\n`
            : renderStats(stats, filter, opts.bucket, opts.utc ?? false),
        )
      },
    )
}

/** An id echoed in a message: bounded, printable. */
function terminalSafeId(id: string): string {
  return id.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)
}
