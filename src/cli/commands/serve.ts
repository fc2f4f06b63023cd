import type { Command } from 'commander'
import { loadConfig } from '../../config/index.js'
import { startBroker } from '../../server/app.js'

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the broker (gRPC + HTTP listeners)')
    .requiredOption('-c, --config <file>', 'keybroker.yaml')
    .option(
      '--new-log',
      'start a new audit log on purpose although the checkpoints or the KEK say one existed (recorded as a log_reset row naming the old log)',
    )
    .action(async (opts: { config: string; newLog?: boolean }) => {
      const broker = await startBroker(loadConfig(opts.config), { watchConfig: true, newLog: opts.newLog })
      let stopping = false
      const stop = (signal: string) => {
        if (stopping) return
        stopping = true
        process.stderr.write(`keybroker: ${signal} received, draining in-flight calls\n`)
        broker.close().then(
          () => process.exit(0),
          (err) => {
            process.stderr.write(`keybroker: shutdown failed: ${(err as Error).message}\n`)
            process.exit(1)
          },
        )
      }
      process.on('SIGTERM', () => stop('SIGTERM'))
      process.on('SIGINT', () => stop('SIGINT'))
      // systemd ExecReload / kill -HUP: re-validate and swap policy; a bad file is logged and ignored.
      process.on('SIGHUP', () => {
        if (!stopping) void broker.reload('SIGHUP')
      })
    })
}
