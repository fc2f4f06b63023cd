import type { Command } from 'commander'
import { DEV_UPSTREAM_PORT, initDevEnvironment } from '../dev_env.js'
import { startDevUpstream } from '../dev_upstream.js'

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

  program
    .command('dev-upstream')
    .description(
      'a demo HTTPS API for the dev config\'s "demo" route: reports whether the injected key was right',
    )
    .option('--dir <dir>', 'the dev-init folder', '.dev')
    .option('--port <port>', 'port on 127.0.0.1', (v) => Number.parseInt(v, 10), DEV_UPSTREAM_PORT)
    .action(async (opts: { dir: string; port: number }) => {
      const upstream = await startDevUpstream({
        dir: opts.dir,
        port: opts.port,
        onRequest: (r) =>
          process.stdout.write(
            `${r.method} ${r.path} key_ok=${r.keyOk} saw_broker_token=${r.sawBrokerToken}\n`,
          ),
      })
      process.stdout.write(`demo upstream listening on ${upstream.url} (Ctrl-C to stop)\n`)
      const stop = () => void upstream.close().then(() => process.exit(0))
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
}
