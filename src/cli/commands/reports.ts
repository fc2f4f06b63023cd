import type * as grpc from '@grpc/grpc-js'
import { type Command, Option } from 'commander'
import { systemClock } from '../../clock.js'
import { loadConfig } from '../../config/index.js'
import type { AdminClient } from '../../generated/keybroker/v1/Admin.js'
import type { Alert__Output } from '../../generated/keybroker/v1/Alert.js'
import type { GetUsageResponse__Output } from '../../generated/keybroker/v1/GetUsageResponse.js'
import { loadBrokerProto } from '../../proto/load.js'
import { usageReport } from '../../reports/usage.js'
import { alertToWire, parseAlertQuery, usageToWire } from '../../server/report_service.js'
import { brokerChannelCredentials, callFailed } from '../admin_channel.js'
import { type SourceOptions, withSourceOptions } from '../audit_source.js'
import { CliExit } from '../common.js'
import { csvCell, terminalSafe } from '../exchange_output.js'
import { openCliStorage } from '../storage_access.js'

type Format = 'table' | 'json' | 'csv'

function adminClient(opts: SourceOptions): AdminClient {
  if (!opts.ca)
    throw new CliExit('--address needs --ca (and an admin or auditor --cert/--key or --token-file)')
  const proto = loadBrokerProto()
  return new proto.keybroker.v1.Admin(
    opts.address!,
    brokerChannelCredentials({ ...opts, address: opts.address!, ca: opts.ca }),
  )
}

async function remoteCall<Res>(
  opts: SourceOptions,
  method: 'GetUsage' | 'ListAlerts',
  request: object,
): Promise<Res> {
  const client = adminClient(opts)
  try {
    return await new Promise<Res>((resolve, reject) => {
      const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!.bind(client)
      fn(request, { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null, res: Res) =>
        err ? reject(callFailed(err)) : resolve(res),
      )
    })
  } finally {
    client.close()
  }
}

const iso = (unixSeconds: number) => (unixSeconds > 0 ? new Date(unixSeconds * 1000).toISOString() : '-')

/** Rows as an aligned table, CSV with a header, or a JSON array. */
function print(format: Format, columns: string[], rows: Array<Array<string | number>>, json: unknown): void {
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
    return
  }
  if (format === 'csv') {
    for (const line of [columns, ...rows])
      process.stdout.write(`${line.map((c) => csvCell(String(c))).join(',')}\n`)
    return
  }
  const cells = [columns, ...rows.map((r) => r.map((c) => terminalSafe(String(c))))]
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)))
  for (const line of cells)
    process.stdout.write(
      `${line
        .map((c, i) => String(c).padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    )
}

const formatOption = (choices: Format[]) =>
  new Option('-o, --output <format>', choices.join(', ')).choices(choices).default('table')

/** `keybroker usage` and `keybroker alerts list`: over --address (Admin service), or from the database. */
export function registerReportCommands(program: Command): void {
  withSourceOptions(
    program
      .command('usage')
      .description('exchanges per grant and subject; with --unused, grants and secrets nobody used')
      .option('--since <when>', 'a duration ago (7d), RFC 3339 or unix seconds', '30d')
      .option(
        '--unused <duration>',
        'also list grants and secrets with no allowed exchange in this long (90d)',
      )
      .addOption(formatOption(['table', 'json', 'csv'])),
  ).action(async (opts: SourceOptions & { since: string; unused?: string; output: Format }) => {
    let report: GetUsageResponse__Output
    if (opts.address) {
      report = await remoteCall(opts, 'GetUsage', { since: opts.since, unused_for: opts.unused ?? '' })
    } else {
      if (opts.unused && !opts.config)
        throw new CliExit('--unused needs --config: the grants and secrets come from keybroker.yaml')
      const config = opts.config ? loadConfig(opts.config) : { grants: [], secrets: {} }
      const storage = await openCliStorage(opts)
      try {
        const input = { since: opts.since, unusedFor: opts.unused }
        report = usageToWire(
          await usageReport(storage.reports, config, input, systemClock.now()),
        ) as GetUsageResponse__Output
      } catch (err) {
        throw new CliExit((err as Error).message)
      } finally {
        await storage.close()
      }
    }
    const usage = report.rows.map((r) => [
      r.grant_name || '(none)',
      r.subject,
      Number(r.allowed),
      Number(r.denied),
      iso(Number(r.last_used)),
      r.distinct_peers,
      r.live_tokens,
    ])
    if (opts.output === 'json') {
      print('json', [], [], report)
      return
    }
    print(
      opts.output,
      ['GRANT', 'SUBJECT', 'ALLOWED', 'DENIED', 'LAST_USED', 'PEERS', 'LIVE_TOKENS'],
      usage,
      null,
    )
    if (opts.unused) {
      if (opts.output === 'table') process.stdout.write(`\nunused for ${opts.unused}:\n`)
      const unused = report.unused.map((u) => [u.kind, u.name, iso(Number(u.last_used))])
      if (unused.length === 0 && opts.output === 'table')
        process.stdout.write('nothing: every grant and secret was used\n')
      else print(opts.output, ['KIND', 'NAME', 'LAST_USED'], unused, null)
    }
  })

  const alerts = program
    .command('alerts')
    .description('alerts raised by the rules and their delivery to sinks')
  withSourceOptions(
    alerts
      .command('list')
      .description('recent alerts, newest first, with their delivery state per sink')
      .option('--state <state>', 'pending, delivered, failed, recorded')
      .option('--limit <n>', 'at most this many (up to 1000)', (v) => Number.parseInt(v, 10), 100)
      .addOption(formatOption(['table', 'json'])),
  ).action(async (opts: SourceOptions & { state?: string; limit: number; output: 'table' | 'json' }) => {
    let rows: Alert__Output[]
    if (opts.address) {
      rows = (
        await remoteCall<{ alerts: Alert__Output[] }>(opts, 'ListAlerts', {
          state: opts.state ?? '',
          limit: opts.limit,
        })
      ).alerts
    } else {
      const storage = await openCliStorage(opts)
      try {
        let query: ReturnType<typeof parseAlertQuery>
        try {
          query = parseAlertQuery({ state: opts.state, limit: opts.limit })
        } catch (err) {
          throw new CliExit((err as Error).message)
        }
        rows = (await storage.alerts.list(query)).map((r) => alertToWire(r) as Alert__Output)
      } finally {
        await storage.close()
      }
    }
    if (opts.output === 'json') {
      print('json', [], [], rows)
      return
    }
    if (rows.length === 0) {
      process.stdout.write('no alerts\n')
      return
    }
    print(
      'table',
      ['CREATED', 'RULE', 'SUBJECT', 'SINK', 'STATE', 'ATTEMPTS', 'SUMMARY / LAST ERROR', 'ID'],
      rows.map((a) => [
        iso(Number(a.created_at)),
        a.rule,
        a.subject,
        a.sink || '-',
        a.state,
        a.attempts,
        a.state === 'pending' && a.last_error ? a.last_error : a.summary,
        a.id,
      ]),
      null,
    )
  })
}
