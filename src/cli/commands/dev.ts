import type { Command } from 'commander'
import { initDevEnvironment } from '../dev_env.js'

export function registerDevCommands(program: Command): void {
  program
    .command('dev-init')
    .description('create a development PKI and config (used by make run); existing files are kept')
    .option('--dir <dir>', 'where to write', '.dev')
    .action(async (opts: { dir: string }) => {
      const created = await initDevEnvironment(opts.dir)
      process.stdout.write(
        created
          ? `dev environment written to ${opts.dir}\n`
          : `dev environment in ${opts.dir} already exists\n`,
      )
    })
}
