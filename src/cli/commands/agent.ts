import { type Command, Option } from 'commander'
import { pino } from 'pino'
import { SidecarAgent } from '../agent/agent.js'
import { AgentConfigError, loadAgentConfig } from '../agent/config.js'
import { CliExit, duration } from '../common.js'

/**
 * `keybroker agent`: the sidecar that keeps token and secret files fresh for workloads in any
 * language (as Vault Agent and the SPIFFE helper do). Logs JSON lines on stderr; never a credential.
 */
export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('keep token and secret files fresh for an app (sidecar); --once for init containers and CI')
    .requiredOption('-c, --config <file>', 'agent config (YAML): broker, credentials, outputs, exec')
    .option('--once', 'fetch everything once, write all files or none, exit 0 only if all were written')
    .addOption(
      new Option(
        '--timeout <duration>',
        'with --once: how long to keep retrying a broker that does not answer',
      )
        .argParser(duration)
        .default(30, '30s'),
    )
    .action(async (opts: { config: string; once?: boolean; timeout: number }) => {
      let config: ReturnType<typeof loadAgentConfig>
      try {
        config = loadAgentConfig(opts.config)
      } catch (err) {
        if (err instanceof AgentConfigError) throw new CliExit(`keybroker agent: ${err.message}`, 2)
        throw err
      }
      const logger = pino(
        { base: { component: 'keybroker-agent' } },
        pino.destination({ dest: 2, sync: true }),
      )
      const agent = new SidecarAgent(config, logger)
      if (opts.once) {
        const ok = await agent.once(opts.timeout * 1000)
        if (!ok) throw new CliExit('', 1)
        return
      }
      agent.start()
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, 'stopping')
          void agent.stop().then(resolve)
        }
        process.once('SIGTERM', () => stop('SIGTERM'))
        process.once('SIGINT', () => stop('SIGINT'))
      })
    })
}
