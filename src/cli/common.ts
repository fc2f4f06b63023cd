import { InvalidArgumentError } from 'commander'
import { loadConfig, parseDuration } from '../config/index.js'
import { openDatabase, type SqliteDatabase } from '../storage/database.js'

/** Thrown to end a command with a message and exit code, without a stack trace. */
export class CliExit extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message)
  }
}

export function duration(value: string): number {
  const seconds = parseDuration(value)
  if (seconds === undefined) throw new InvalidArgumentError(`"${value}" is not a duration (30s, 5m, 1h)`)
  return seconds
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

/** The state database, from --db or from the config's audit.path. */
export function openStateDb(opts: { config?: string; db?: string }, readonly: boolean): SqliteDatabase {
  if (!opts.config && !opts.db) throw new CliExit('give --config <file> or --db <file>')
  const path = opts.db ?? loadConfig(opts.config!).audit.path
  try {
    return openDatabase(path, { readonly })
  } catch (err) {
    throw new CliExit(`cannot open ${path}: ${(err as Error).message}`)
  }
}
