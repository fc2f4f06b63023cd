import type { Command } from 'commander'
import { formatExchangeLine, SqliteAuditStore, verifyChain } from '../../audit/index.js'
import { systemClock } from '../../clock.js'
import { CliExit, openStateDb } from '../common.js'

/** `keybroker audit tail|verify` against the database file. */
export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the exchange log')

  audit
    .command('tail')
    .description('print the latest exchanges')
    .option('-c, --config <file>', 'keybroker.yaml')
    .option('--db <file>', 'audit database (instead of --config)')
    .option('-n, --lines <n>', 'how many', (v) => Number.parseInt(v, 10), 20)
    .option('-f, --follow', 'keep printing new exchanges')
    .action(async (opts: { config?: string; db?: string; lines: number; follow?: boolean }) => {
      const db = openStateDb(opts, true)
      const store = new SqliteAuditStore(db, { clock: systemClock })
      let last = 0
      for (const row of store.tail(opts.lines)) {
        process.stdout.write(`${formatExchangeLine(row)}\n`)
        last = row.seq
      }
      if (!opts.follow) {
        db.close()
        return
      }
      // Poll: the broker writes from another process; WAL lets us read without blocking it.
      setInterval(() => {
        for (const row of store.after(last, 1000)) {
          process.stdout.write(`${formatExchangeLine(row)}\n`)
          last = row.seq
        }
      }, 500)
    })

  audit
    .command('verify')
    .description('check the hash chain; exit 1 naming the first bad row')
    .option('-c, --config <file>', 'keybroker.yaml')
    .option('--db <file>', 'audit database (instead of --config)')
    .action((opts: { config?: string; db?: string }) => {
      const db = openStateDb(opts, true)
      const result = verifyChain(db)
      db.close()
      if (result.ok) {
        process.stdout.write(`audit log OK: ${result.rowsChecked} rows, chain intact\n`)
        return
      }
      throw new CliExit(
        `audit log BROKEN at seq ${result.firstBadSeq ?? '?'} (id ${result.firstBadId ?? '?'}): ${result.problem}\n` +
          `rows checked before the fault: ${result.rowsChecked}`,
      )
    })
}
