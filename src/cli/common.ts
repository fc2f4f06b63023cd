import { InvalidArgumentError } from 'commander'
import { parseDuration } from '../config/index.js'

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
