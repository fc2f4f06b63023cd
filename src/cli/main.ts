import { Command } from 'commander'
import { BrokerError } from '../errors.js'
import { registerAgentCommand } from './commands/agent.js'
import { registerApprovalCommands } from './commands/approvals.js'
import { registerAuditCommands } from './commands/audit.js'
import { registerClientCommands } from './commands/client.js'
import { registerConfigCommands } from './commands/config.js'
import { registerConsoleCommand } from './commands/console.js'
import { registerDevCommands } from './commands/dev.js'
import { registerKeyCommands } from './commands/keys.js'
import { registerReportCommands } from './commands/reports.js'
import { registerRevocationCommands } from './commands/revocations.js'
import { registerRevokeCommand } from './commands/revoke.js'
import { registerServe } from './commands/serve.js'
import { registerStorageCommands } from './commands/storage.js'
import { registerUnblockCommand } from './commands/unblock.js'
import { CliExit } from './common.js'

const program = new Command()
  .name('keybroker')
  .description('A secrets broker for workloads: identity in, short-lived scoped credentials out.')
  .showHelpAfterError()

registerServe(program)
registerConfigCommands(program)
registerClientCommands(program)
registerAgentCommand(program)
registerKeyCommands(program)
registerAuditCommands(program)
registerRevokeCommand(program)
registerUnblockCommand(program)

registerRevocationCommands(program)
registerDevCommands(program)
registerStorageCommands(program)
registerApprovalCommands(program)
registerConsoleCommand(program)

registerReportCommands(program)

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CliExit) {
    if (err.message) process.stderr.write(`${err.message}\n`)
    process.exit(err.exitCode)
  }
  if (err instanceof BrokerError) {
    process.stderr.write(`keybroker: ${err.message}\n`)
    process.exit(err.code === 'ERR_CONFIG' ? 2 : 1)
  }
  process.stderr.write(`keybroker: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
