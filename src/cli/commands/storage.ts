import type { Command } from 'commander'
import { loadConfig } from '../../config/index.js'
import { storageOptions } from '../../server/storage_wiring.js'
import { CopyRefused, copyStorage } from '../../storage/copy.js'
import { BINARY_VERSION, incompatibility, MIGRATIONS } from '../../storage/migrations.js'
import { openStorage } from '../../storage/open.js'
import { CliExit } from '../common.js'
import { ProgressLine } from '../progress_line.js'
import { openEndpoint } from '../storage_endpoint.js'

/**
 * `keybroker storage migrate|status|copy`: the schema, explicitly (for `storage.auto_migrate: false`),
 * and moving a broker's data to another database.
 */
export function registerStorageCommands(program: Command): void {
  const storage = program
    .command('storage')
    .description('the broker database: schema migrations, copy, backup and restore')

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

  storage
    .command('copy')
    .description(
      'copy every audit chain (rows unchanged: the log still verifies), sealed signing keys, revocations and log metadata into another database',
    )
    .requiredOption(
      '--from <db>',
      'source: a SQLite file, a postgres:// URL, or a keybroker.yaml (its storage:)',
    )
    .requiredOption(
      '--to <db>',
      'target: same forms; migrated first; must hold no audit rows unless --append',
    )
    .option(
      '--append',
      'add the chains to a target that already holds rows (a chain present in both is refused)',
    )
    .action(async (opts: { from: string; to: string; append?: boolean }) => {
      const source = await openEndpoint(opts.from, 'source')
      let target: Awaited<ReturnType<typeof openEndpoint>> | undefined
      const progress = new ProgressLine('copied', 'audit rows')
      try {
        target = await openEndpoint(opts.to, 'target')
        if (source.location === target.location) throw new CliExit('--from and --to are the same database')
        const report = await copyStorage(source, target, {
          append: opts.append === true,
          onProgress: (done, total) => progress.update(done, total),
        })
        progress.done()
        process.stdout.write(
          `copied ${report.rows} audit row(s) in ${report.chains} chain(s), ${report.keysCopied} sealed signing key(s)` +
            `${report.keysSkipped ? ` (${report.keysSkipped} already there)` : ''}, ${report.revocations} revocation(s) ` +
            `from ${source.location} to ${target.location}
` +
            (report.rowsNotCopied
              ? `note: ${report.rowsNotCopied} source row(s) were not copied (appended after the copy started, or in no chain): stop the broker and copy into an empty database for everything
`
              : '') +
            `the target broker needs the same keys.kek_file (the keys are still sealed under it); check with: keybroker audit verify --config <its config>
`,
        )
      } catch (err) {
        progress.done()
        if (err instanceof CopyRefused) throw new CliExit(`storage copy refused: ${err.message}`)
        if (err instanceof CliExit) throw err
        throw new CliExit(`storage copy failed: ${(err as Error).message}`)
      } finally {
        await target?.close()
        await source.close()
      }
    })
}
