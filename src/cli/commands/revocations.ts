import { type Command, Option } from 'commander'
import type { ListRevocationsResponse__Output } from '../../generated/keybroker/v1/ListRevocationsResponse.js'
import { listRevocations, MAX_REVOCATION_LIMIT } from '../../issuer/revocation_listing.js'
import { adminCall, adminClient } from '../admin_channel.js'
import { type SourceOptions, withSourceOptions } from '../audit_source.js'
import { CliExit } from '../common.js'
import { displayTime } from '../display_time.js'
import { terminalSafe } from '../exchange_output.js'
import { openCliStorage } from '../storage_access.js'

interface RevocationView {
  tokenId: string
  subject: string
  issuer: string
  kid: string
  reason: string
  /** unix seconds */
  notAfter: number
  /** unix ms */
  revokedAt: number
}

/** A token, every token of a subject, or a signing key (kid), from the synthetic id the store keeps. */
function what(r: RevocationView): string {
  if (r.kid) return `key ${r.kid}`
  if (r.tokenId.startsWith('subject:')) return `subject ${r.subject}`
  return `token ${r.tokenId}`
}

/** `keybroker revocations list`: what is revoked now, newest first (file or --address). */
export function registerRevocationCommands(program: Command): void {
  const revocations = program
    .command('revocations')
    .description('the revocation list (tokens, subjects, retired keys)')
  withSourceOptions(revocations.command('list').description('revocations in force, newest first'))
    .option('-n, --limit <n>', `at most this many (max ${MAX_REVOCATION_LIMIT})`, '100')
    .addOption(
      new Option('-o, --format <format>', 'output format').choices(['table', 'json']).default('table'),
    )
    .addOption(new Option('--utc', 'show times in UTC (default: local time)'))
    .action(async (opts: SourceOptions & { limit: string; format: string; utc?: boolean }) => {
      const limit = Number(opts.limit)
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_REVOCATION_LIMIT)
        throw new CliExit(`--limit: "${opts.limit}" is not a whole number from 1 to ${MAX_REVOCATION_LIMIT}`)
      const rows = await read(opts, limit)
      if (opts.format === 'json') {
        process.stdout.write(
          `${JSON.stringify(
            rows.map((r) => ({
              token_id: r.tokenId,
              subject: r.subject || null,
              issuer: r.issuer || null,
              kid: r.kid || null,
              reason: r.reason || null,
              not_after: new Date(r.notAfter * 1000).toISOString(),
              revoked_at: new Date(r.revokedAt).toISOString(),
            })),
            null,
            2,
          )}\n`,
        )
        return
      }
      if (rows.length === 0) {
        process.stdout.write('nothing is revoked\n')
        return
      }
      const utc = opts.utc ?? false
      for (const r of rows)
        process.stdout.write(
          `${displayTime(r.revokedAt, utc)}  ${terminalSafe(what(r))}${r.subject && !r.kid && !r.tokenId.startsWith('subject:') ? `  subject ${terminalSafe(r.subject)}` : ''}  until ${displayTime(r.notAfter * 1000, utc)}${r.reason ? `  reason: ${terminalSafe(r.reason)}` : ''}\n`,
        )
    })
}

async function read(opts: SourceOptions, limit: number): Promise<RevocationView[]> {
  if (opts.address) {
    if (!opts.ca) throw new CliExit('--address needs --ca (and an admin --cert/--key or --token-file)')
    const client = adminClient({ ...opts, address: opts.address, ca: opts.ca })
    try {
      const res = await adminCall<ListRevocationsResponse__Output>(client, 'ListRevocations', { limit })
      return res.revocations.map((r) => ({
        tokenId: r.token_id,
        subject: r.subject,
        issuer: r.issuer,
        kid: r.kid,
        reason: r.reason,
        notAfter: Number(r.not_after),
        revokedAt: Number(r.revoked_at) * 1000,
      }))
    } finally {
      client.close()
    }
  }
  const storage = await openCliStorage(opts)
  try {
    const rows = await listRevocations(storage.revocations, Math.floor(Date.now() / 1000), limit)
    return rows.map((r) => ({
      tokenId: r.jti,
      subject: r.subject ?? '',
      issuer: r.issuer ?? '',
      kid: r.kid ?? '',
      reason: r.reason ?? '',
      notAfter: r.not_after,
      revokedAt: r.revoked_at,
    }))
  } finally {
    await storage.close()
  }
}
