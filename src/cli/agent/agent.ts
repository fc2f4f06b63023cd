import { spawn } from 'node:child_process'
import { status } from '@grpc/grpc-js'
import { BrokerClient, BrokerError } from '../../client/index.js'
import { currentContent, type FileTarget, writeFileAtomically } from './atomic_file.js'
import type { AgentConfig } from './config.js'

/** The part of a pino logger the agent uses. */
export interface AgentLogger {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
}

/** One fetched value: the file's new content and when it stops being good (unix s; 0 = no expiry). */
interface Fetched {
  content: Buffer
  expiresAt: number
  /** Safe to log: ids and times, never the value. */
  facts: Record<string, unknown>
}

/** A file the agent keeps fresh. */
interface Output {
  kind: 'token' | 'secret'
  /** audience or secret name */
  name: string
  target: FileTarget
  /** Re-fetch interval for a value without expiry (seconds). */
  refreshSeconds: number
  fetch(): Promise<Fetched>
}

/** Refresh at about 80% of a value's life, ±5% so a fleet of sidecars does not refresh in step. */
const REFRESH_AT = 0.8
const JITTER = 0.05
const MIN_DELAY_MS = 1_000
const INITIAL_BACKOFF_MS = 1_000
const MAX_BACKOFF_MS = 30_000
/** Changes close together run `exec` once. */
const EXEC_DEBOUNCE_MS = 200

/**
 * The sidecar: keeps token and secret files fresh for a workload in any language.
 *
 * Each output is fetched, written atomically (temp file + rename, final mode and owner), and fetched
 * again at about 80% of its life. When the broker is away, the last good file stays in place, the
 * error is logged, and the fetch is retried with exponential backoff. `exec` runs after changes.
 */
export class SidecarAgent {
  private readonly client: BrokerClient
  private readonly outputs: Output[]
  private readonly timers = new Set<NodeJS.Timeout>()
  private stopped = false
  private exec: { timer?: NodeJS.Timeout; running?: Promise<boolean>; again: boolean } = { again: false }

  constructor(
    private readonly config: AgentConfig,
    private readonly logger: AgentLogger,
    private readonly now: () => number = Date.now,
  ) {
    const { broker, credentials } = config
    this.client = new BrokerClient({
      address: broker.address,
      tls: {
        caFile: credentials.ca_file,
        certFile: credentials.cert_file,
        keyFile: credentials.key_file,
        serverName: broker.server_name,
      },
      workloadTokenFile: credentials.token_file,
      deadlineMs: broker.timeout * 1000,
      onError: (err) => logger.warn({ code: err.code }, err.message),
    })
    this.outputs = [
      ...config.outputs.tokens.map(
        (t): Output => ({
          kind: 'token',
          name: t.audience,
          target: t,
          refreshSeconds: 0,
          fetch: async () => {
            const token = await this.client.issueToken({
              audience: t.audience,
              scopes: t.scopes,
              ttlSeconds: t.ttl,
              bindToCertificate: t.bind_to_certificate,
            })
            return {
              content: Buffer.from(token.token, 'utf8'),
              expiresAt: token.expiresAt,
              facts: { token_id: token.tokenId, exchange_id: token.exchangeId, expires_at: token.expiresAt },
            }
          },
        }),
      ),
      ...config.outputs.secrets.map(
        (s): Output => ({
          kind: 'secret',
          name: s.name,
          target: s,
          refreshSeconds: s.refresh,
          fetch: async () => {
            const secret = await this.client.secret(s.name)
            return {
              content: secret.value,
              expiresAt: secret.expiresAt,
              facts: {
                version: secret.version,
                exchange_id: secret.exchangeId,
                expires_at: secret.expiresAt,
              },
            }
          },
        }),
      ),
    ]
  }

  /**
   * Fetch every output (retrying an unreachable broker with backoff until `timeoutMs`), then write
   * them all, or none if any failed. Resolves true when every file was written (and `exec`, if set,
   * succeeded): the exit code of `keybroker agent --once`.
   */
  async once(timeoutMs: number): Promise<boolean> {
    const deadline = this.now() + timeoutMs
    try {
      const fetched = await Promise.all(this.outputs.map((o) => this.fetchUntil(o, deadline)))
      if (fetched.some((f) => f === undefined)) {
        this.logger.error({}, 'not every output could be fetched: no file written')
        return false
      }
      let changed = false
      for (const [i, output] of this.outputs.entries()) {
        changed = (await this.write(output, fetched[i]!)) || changed
      }
      return changed && this.config.exec ? await this.runExec() : true
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'writing the outputs failed')
      return false
    } finally {
      this.client.close()
    }
  }

  /** Keep every output fresh until {@link stop}. */
  start(): void {
    for (const output of this.outputs) void this.refresh(output, INITIAL_BACKOFF_MS)
  }

  /** Stop refreshing and close the connection (files stay as they are). */
  async stop(): Promise<void> {
    this.stopped = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    clearTimeout(this.exec.timer)
    await this.exec.running
    this.client.close()
  }

  private async refresh(output: Output, backoffMs: number): Promise<void> {
    if (this.stopped) return
    let fetched: Fetched
    try {
      fetched = await output.fetch()
    } catch (err) {
      if (this.stopped) return
      const kept = (await currentContent(output.target.file)) !== undefined
      this.logger.error(
        { ...describe(output), ...errorFacts(err), retry_in_ms: backoffMs, kept_last_good: kept },
        `cannot refresh ${output.kind} ${output.name}${kept ? '; the last good file stays in place' : ''}`,
      )
      this.schedule(() => this.refresh(output, Math.min(MAX_BACKOFF_MS, backoffMs * 2)), jittered(backoffMs))
      return
    }
    try {
      if (await this.write(output, fetched)) this.requestExec()
    } catch (err) {
      this.logger.error({ ...describe(output), ...errorFacts(err) }, `cannot write ${output.target.file}`)
      this.schedule(() => this.refresh(output, Math.min(MAX_BACKOFF_MS, backoffMs * 2)), jittered(backoffMs))
      return
    }
    this.schedule(() => this.refresh(output, INITIAL_BACKOFF_MS), this.nextRefreshMs(output, fetched))
  }

  /** At ~80% of the remaining life; a value without expiry is re-fetched every `refresh`. */
  private nextRefreshMs(output: Output, fetched: Fetched): number {
    const lifeMs =
      fetched.expiresAt > 0
        ? fetched.expiresAt * 1000 - this.now()
        : (output.refreshSeconds * 1000) / REFRESH_AT
    const at = REFRESH_AT + (Math.random() * 2 - 1) * JITTER
    return Math.max(MIN_DELAY_MS, lifeMs * at)
  }

  /** Write the file if its content changed; true when it did. */
  private async write(output: Output, fetched: Fetched): Promise<boolean> {
    const before = await currentContent(output.target.file)
    const changed = !before?.equals(fetched.content)
    if (changed) await writeFileAtomically(output.target, fetched.content)
    this.logger.info(
      { ...describe(output), ...fetched.facts, changed },
      changed ? `wrote ${output.target.file}` : `${output.target.file} is up to date`,
    )
    return changed
  }

  /** Retry an unreachable broker with backoff until `deadline`; any other refusal ends at once. */
  private async fetchUntil(output: Output, deadline: number): Promise<Fetched | undefined> {
    for (let backoff = INITIAL_BACKOFF_MS; ; backoff = Math.min(MAX_BACKOFF_MS, backoff * 2)) {
      try {
        return await output.fetch()
      } catch (err) {
        const retriable = err instanceof BrokerError && err.grpcCode === status.UNAVAILABLE
        const wait = jittered(backoff)
        const giveUp = !retriable || this.now() + wait > deadline
        this.logger.error(
          { ...describe(output), ...errorFacts(err), ...(giveUp ? {} : { retry_in_ms: wait }) },
          `cannot fetch ${output.kind} ${output.name}${giveUp ? '' : '; retrying'}`,
        )
        if (giveUp) return undefined
        await new Promise((resolve) => setTimeout(resolve, wait))
      }
    }
  }

  private schedule(run: () => Promise<void>, delayMs: number): void {
    if (this.stopped) return
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      void run()
    }, delayMs)
    this.timers.add(timer)
  }

  private requestExec(): void {
    if (!this.config.exec || this.stopped) return
    clearTimeout(this.exec.timer)
    this.exec.timer = setTimeout(() => {
      if (this.exec.running) {
        this.exec.again = true
        return
      }
      this.exec.running = this.runExec().finally(() => {
        this.exec.running = undefined
        if (this.exec.again) {
          this.exec.again = false
          this.requestExec()
        }
      })
    }, EXEC_DEBOUNCE_MS)
  }

  /** Run `exec.command` (no shell) and wait for it, killing it after `exec.timeout`. */
  private runExec(): Promise<boolean> {
    const exec = this.config.exec!
    const [program, ...args] = exec.command
    return new Promise((resolve) => {
      const child = spawn(program!, args, { stdio: ['ignore', 'inherit', 'inherit'] })
      const timer = setTimeout(() => child.kill('SIGKILL'), exec.timeout * 1000)
      child.on('error', (err) => {
        clearTimeout(timer)
        this.logger.error({ command: exec.command, err: err.message }, 'exec could not start')
        resolve(false)
      })
      child.on('exit', (code, signal) => {
        clearTimeout(timer)
        const ok = code === 0
        const log = ok ? this.logger.info.bind(this.logger) : this.logger.error.bind(this.logger)
        log({ command: exec.command, exit_code: code, signal }, ok ? 'exec ran' : 'exec failed')
        resolve(ok)
      })
    })
  }
}

function describe(output: Output): Record<string, unknown> {
  return { output: output.kind, name: output.name, file: output.target.file }
}

function errorFacts(err: unknown): Record<string, unknown> {
  return err instanceof BrokerError
    ? { code: err.code, status: err.grpcStatus, err: err.message }
    : { err: (err as Error).message ?? String(err) }
}

function jittered(ms: number): number {
  return Math.round(ms * (1 - JITTER + Math.random() * 2 * JITTER))
}
