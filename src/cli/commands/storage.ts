import type { Command } from 'commander'
import { loadConfig } from '../../config/index.js'
import { storageOptions } from '../../server/storage_wiring.js'
import { BINARY_VERSION, incompatibility, MIGRATIONS } from '../../storage/migrations.js'
import { openStorage } from '../../storage/open.js'
import { CliExit } from '../common.js'

/** `keybroker storage migrate|status`: the schema, explicitly (for `storage.auto_migrate: false`). */
export function registerStorageCommands(program: Command): void {
  const storage = program.command('storage').description('the broker database: schema migrations')

  storage
    .command('migrate')
    .description('apply pending schema migrations (serialized across processes; safe to run twice)')
    .requiredOption('-c, --config <file>', 'keybroker.yaml (reads storage:)')
    .action(async (opts: { config: string }) => {
      const db = await openStorage(storageOptions(loadConfig(opts.config))).catch((err: Error) => {
        throw new CliExit(`cannot open the broker database: ${err.message}`)
      })
      try {
        const refusal = incompatibility(await db.schema())
        if (refusal) throw new CliExit(refusal)
        const applied = await db.migrate(BINARY_VERSION)
        const { version } = await db.schema()
        process.stdout.write(
          applied.length > 0
            ? `applied migration(s) ${applied.join(', ')} to ${db.location}; schema version ${version}\n`
            : `nothing to do: ${db.location} is at schema version ${version}\n`,
        )
      } finally {
        await db.close()
      }
    })

  storage
    .command('status')
    .description('schema version of the database and of this binary')
    .requiredOption('-c, --config <file>', 'keybroker.yaml (reads storage:)')
    .action(async (opts: { config: string }) => {
      const db = await openStorage(storageOptions(loadConfig(opts.config))).catch((err: Error) => {
        throw new CliExit(`cannot open the broker database: ${err.message}`)
      })
      try {
        const state = await db.schema()
        const known = MIGRATIONS[MIGRATIONS.length - 1]!.version
        process.stdout.write(
          `${db.driver} ${db.location}: schema version ${state.version} (needs keybroker ≥ ${state.minBinary}); this binary ${BINARY_VERSION} knows version ${known}\n`,
        )
        const refusal = incompatibility(state)
        if (refusal) throw new CliExit(refusal)
      } finally {
        await db.close()
      }
    })
}
