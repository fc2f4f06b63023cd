import type { Command } from 'commander'
import { signingKeyRows } from '../../audit/checkpoint/index.js'
import { loadConfig } from '../../config/index.js'
import { storageOptions } from '../../server/storage_wiring.js'
import { CopyRefused, copyStorage } from '../../storage/copy.js'
import { BINARY_VERSION, incompatibility, MIGRATIONS } from '../../storage/migrations.js'
import { openStorage } from '../../storage/open.js'
import { backupSqlite } from '../../storage/sqlite/backup.js'
import { CliExit } from '../common.js'
import { ProgressLine } from '../progress_line.js'
import { openCliStorage } from '../storage_access.js'
import { openEndpoint } from '../storage_endpoint.js'
import { restoreSqliteBackup } from '../storage_restore.js'

/**
 * `keybroker storage migrate|status|copy|backup|restore`: the schema, explicitly (for
 * `storage.auto_migrate: false`), and moving, backing up and restoring a broker's data.
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
        if (state.version < known) return // the tables below may not exist yet
        const [meta, heads, rows, keys] = await Promise.all([
          db.meta.get(),
          db.reader.heads(),
          db.reader.count(),
          signingKeyRows(db.keys).list(),
        ])
        const live = keys.filter((k) => k.retired_at === null).length
        process.stdout.write(
          `log ${meta?.log_id ?? '(none yet)'} for issuer ${meta?.issuer ?? '?'}: ${rows} audit row(s) in ${heads.length} chain(s); ${keys.length} signing key(s), ${live} not retired\n`,
        )
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
          `copied ${report.rows} audit row(s) in ${report.chains} chain(s), ${report.keysCopied} sealed key(s) (signing and checkpoint)` +
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

  storage
    .command('backup')
    .description(
      'SQLite: a consistent copy of the live database (online backup API; the broker may keep running)',
    )
    .requiredOption('--to <file>', 'the backup file to create (never overwritten; mode 0600)')
    .option('-c, --config <file>', 'keybroker.yaml (reads storage:)')
    .option('--db <file>', 'the SQLite database file, instead of --config')
    .action(async (opts: { to: string; config?: string; db?: string }) => {
      const db = await openCliStorage(opts)
      try {
        if (db.driver !== 'sqlite')
          throw new CliExit(
            `${db.location} is PostgreSQL: back it up with pg_dump, e.g.\n  pg_dump --format=custom --file=${opts.to} "${db.location}"\n` +
              'and keep the KEK (keys.kek_file) and storage.checkpoint_file with it; see deploy/README.md "Backup and restore"',
          )
        const { totalPages } = await backupSqlite(db, opts.to)
        process.stdout.write(
          `backed up ${db.location} to ${opts.to} (${totalPages} pages)\n` +
            'keep keys.kek_file (and storage.checkpoint_file, if set) with it: the signing keys in the backup are sealed under that KEK\n',
        )
      } catch (err) {
        if (err instanceof CliExit) throw err
        throw new CliExit(`storage backup failed: ${(err as Error).message}`)
      } finally {
        await db.close()
      }
    })

  storage
    .command('restore')
    .description(
      'SQLite: put a backup back as the live database. A restore is a rollback: refused when newer history is known unless --accept-rollback; recorded as a log_reset row; every restored signing key is retired',
    )
    .requiredOption('--from <file>', 'a backup made by keybroker storage backup')
    .requiredOption('-c, --config <file>', 'keybroker.yaml (storage.path is replaced; stop the broker first)')
    .option('--accept-rollback', 'restore even though the live database or the checkpoint file went further')
    .action(async (opts: { from: string; config: string; acceptRollback?: boolean }) => {
      const report = await restoreSqliteBackup({
        config: loadConfig(opts.config),
        from: opts.from,
        acceptRollback: opts.acceptRollback === true,
      }).catch((err: unknown) => {
        if (err instanceof CliExit) throw err
        throw new CliExit(`storage restore failed: ${(err as Error).message}`)
      })
      process.stdout.write(
        `restored ${opts.from} to ${report.livePath}: new log id ${report.newLogId} (was ${report.oldLogId ?? 'none'}); ` +
          `rollback recorded as exchange ${report.resetRowId} (kind log_reset)\n` +
          (report.rolledBack.length > 0 ? `rolled back: ${report.rolledBack.join('; ')}\n` : '') +
          `retired ${report.keysRetired.length} restored signing key(s): tokens they signed are refused; the broker makes a new key at its next start\n` +
          (report.checkpointsMovedTo
            ? `the replaced log's checkpoints were moved to ${report.checkpointsMovedTo} (keep them: they prove what the rollback removed)\n`
            : ''),
      )
    })
}
