/**
 * One self-overwriting progress line for long operator commands (`storage copy`): on a terminal
 * only (stderr), never in a pipe or a log, at most a few times a second.
 *
 * @example
 * const line = new ProgressLine('copied', 'audit rows')
 * line.update(1200, 50000)
 * line.done()
 */
export class ProgressLine {
  readonly #stream: NodeJS.WritableStream & { isTTY?: boolean }
  readonly #now: () => number
  readonly #started: number
  #lastDraw = 0
  #drawn = false

  constructor(
    private readonly verb: string,
    private readonly unit: string,
    options: { stream?: NodeJS.WritableStream & { isTTY?: boolean }; now?: () => number } = {},
  ) {
    this.#stream = options.stream ?? process.stderr
    this.#now = options.now ?? Date.now
    this.#started = this.#now()
  }

  get enabled(): boolean {
    return this.#stream.isTTY === true
  }

  update(done: number, total: number): void {
    if (!this.enabled) return
    const now = this.#now()
    if (now - this.#lastDraw < 250 && done < total) return
    this.#lastDraw = now
    this.#drawn = true
    this.#stream.write(`\r\x1b[2K${formatProgress(this.verb, this.unit, done, total, now - this.#started)}`)
  }

  /** End the line (so the next output starts on its own line). */
  done(): void {
    if (this.#drawn) this.#stream.write('\n')
    this.#drawn = false
  }
}

/** `copied 12,000 / 50,000 audit rows (24%), ETA 38 s` — the ETA from the average rate so far. */
export function formatProgress(
  verb: string,
  unit: string,
  done: number,
  total: number,
  elapsedMs: number,
): string {
  const n = (x: number) => x.toLocaleString('en-US')
  const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100
  let eta = ''
  if (done > 0 && done < total && elapsedMs > 0) {
    const seconds = Math.ceil(((total - done) * elapsedMs) / done / 1000)
    eta = seconds >= 120 ? `, ETA ${Math.ceil(seconds / 60)} min` : `, ETA ${seconds} s`
  }
  return `${verb} ${n(done)} / ${n(total)} ${unit} (${pct}%)${eta}`
}
