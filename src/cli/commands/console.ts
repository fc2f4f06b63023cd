import { type Command, InvalidArgumentError, Option } from 'commander'
import { ConsoleStartError, startConsole } from '../../console/server.js'
import { type SourceOptions, withSourceOptions } from '../audit_source.js'
import { CliExit } from '../common.js'

/** `keybroker console`: the operator web console on 127.0.0.1, over a running broker's Admin API. */
export function registerConsoleCommand(program: Command): void {
  withSourceOptions(
    program
      .command('console')
      .description('a local web console (exchanges live, charts, revocations, keys) over the Admin API')
      .addOption(
        new Option('--port <port>', 'local port on 127.0.0.1 (default: a free one)').argParser(portArg),
      ),
    // --server-name comes with the shared source options
  ).action(async (opts: SourceOptions & { port?: number; serverName?: string }) => {
    if (!opts.address) throw new CliExit('keybroker console needs --address <host:port> of a running broker')
    if (!opts.ca) throw new CliExit('--address needs --ca (and an admin --cert/--key or --token-file)')
    if (opts.config || opts.db)
      throw new CliExit('keybroker console reads a running broker (--address), not a file')
    try {
      const running = await startConsole({ ...opts, address: opts.address, ca: opts.ca, port: opts.port })
      process.stdout.write(`keybroker console for ${opts.address}: open this URL once (it logs you in):\n`)
      process.stdout.write(`  ${running.url}\n`)
      const stop = () => {
        running.close().then(() => process.exit(0))
      }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    } catch (err) {
      if (err instanceof ConsoleStartError) throw new CliExit(`keybroker console: ${err.message}`)
      throw err
    }
  })
}

function portArg(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a port`)
  return n
}
