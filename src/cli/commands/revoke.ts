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
      .option('--reason <text>', 'why (recorded in the audit log)')
      .option('--block', 'with --subject: also refuse new tokens to it until `keybroker unblock`'),
  ).action(
    async (
      opts: SourceOptions & { tokenId?: string; subject?: string; reason?: string; block?: boolean },
    ) => {
      if (Boolean(opts.tokenId) === Boolean(opts.subject))
        throw new CliExit('give exactly one of --token-id or --subject')
      if (opts.block && !opts.subject)
        throw new CliExit('--block needs --subject (a subject is blocked, not a token)')
      const source = await openAuditSource(opts)
      try {
        const result = await source.revoke({
          tokenId: opts.tokenId,
          subject: opts.subject,
          reason: opts.reason,
          block: opts.block ?? false,
        })
        const already = result.tokenIds.length - result.revoked
        const when = opts.address
          ? 'in effect now'
          : 'a running broker applies it within 1 s (it polls the revocation list every second)'
        process.stdout.write(
          `revoked ${result.tokenIds.length} token(s)${result.tokenIds.length ? `: ${result.tokenIds.join(' ')}` : ''}${already > 0 ? ` (${already} of them already revoked)` : ''}; ${when} (audit ${result.exchangeId})\n`,
        )
        if (opts.block)
          process.stdout.write(
            `blocked ${opts.subject}: no new token until \`keybroker unblock ${opts.subject}\`\n`,
          )
      } catch (err) {
        if (err instanceof BrokerError) throw new CliExit(`keybroker: ${err.message}`)
        throw err
      } finally {
        await source.close()
      }
    },
  )
}
