import type { Command } from 'commander'
import { BrokerError } from '../../errors.js'
import { openAuditSource, type SourceOptions, withSourceOptions } from '../audit_source.js'
import { CliExit } from '../common.js'

/** `keybroker revoke --token-id ID | --subject ID`: through a running broker, or straight into the file. */
export function registerRevokeCommand(program: Command): void {
  withSourceOptions(
    program
      .command('revoke')
      .description('revoke one token, or every live token of a subject (kept until each token expires)')
      .option('--token-id <jti>', 'the token id (jti) to revoke')
      .option('--subject <id>', 'revoke every unexpired token minted to this subject')
      .option('--reason <text>', 'why (recorded in the audit log)'),
  ).action(async (opts: SourceOptions & { tokenId?: string; subject?: string; reason?: string }) => {
    if (Boolean(opts.tokenId) === Boolean(opts.subject))
      throw new CliExit('give exactly one of --token-id or --subject')
    const source = openAuditSource(opts, 'write')
    try {
      const result = await source.revoke({
        tokenId: opts.tokenId,
        subject: opts.subject,
        reason: opts.reason,
      })
      process.stdout.write(
        `revoked ${result.revoked} new token(s)${result.tokenIds.length ? `: ${result.tokenIds.join(' ')}` : ''} (audit ${result.exchangeId})\n`,
      )
    } catch (err) {
      if (err instanceof BrokerError) throw new CliExit(`keybroker: ${err.message}`)
      throw err
    } finally {
      source.close()
    }
  })
}
