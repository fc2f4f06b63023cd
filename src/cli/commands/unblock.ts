import type { Command } from 'commander'
import { BrokerError } from '../../errors.js'
import { openAuditSource, type SourceOptions, withSourceOptions } from '../audit_source.js'
import { CliExit } from '../common.js'

/** `keybroker unblock SUBJECT`: lift `revoke --subject SUBJECT --block` (through a broker, or in the file). */
export function registerUnblockCommand(program: Command): void {
  withSourceOptions(
    program
      .command('unblock')
      .description('let a subject blocked by `revoke --subject S --block` be issued tokens again')
      .argument('<subject>', 'the blocked subject')
      .option('--reason <text>', 'why (recorded in the audit log)'),
  ).action(async (subject: string, opts: SourceOptions & { reason?: string }) => {
    const source = await openAuditSource(opts)
    try {
      const result = await source.unblock(subject, opts.reason)
      const when = opts.address ? 'in effect now' : 'a running broker applies it within 1 s'
      process.stdout.write(
        result.unblocked
          ? `unblocked ${subject}; ${when} (audit ${result.exchangeId})\n`
          : `${subject} was not blocked (audit ${result.exchangeId})\n`,
      )
    } catch (err) {
      if (err instanceof BrokerError) throw new CliExit(`keybroker: ${err.message}`)
      throw err
    } finally {
      await source.close()
    }
  })
}
