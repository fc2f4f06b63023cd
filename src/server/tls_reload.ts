import { createSecureContext } from 'node:tls'
import type { Logger } from 'pino'
import type { BrokerConfig } from '../config/index.js'
import { readTlsMaterial } from './config_wiring.js'
import type { TlsMaterial } from './grpc_listener.js'

export interface TlsReloadResult {
  ok: boolean
  changed: boolean
  problem?: string
}

/**
 * Certificate rotation without restart (cert-manager, SPIRE, Vault PKI rewrite the same paths):
 * new material is validated as a whole before either listener switches; invalid material is
 * refused and the current certificate keeps serving.
 */
export class TlsReloader {
  #current: TlsMaterial | undefined
  readonly #listeners: Array<{ updateTls(next: TlsMaterial): void }> = []

  constructor(
    initial: TlsMaterial | undefined,
    private readonly config: () => BrokerConfig,
    private readonly logger: Logger,
  ) {
    this.#current = initial
  }

  /** A listener that switches to new material (gRPC, HTTP). */
  attach(listener: { updateTls(next: TlsMaterial): void } | undefined): void {
    if (listener) this.#listeners.push(listener)
  }

  get enabled(): boolean {
    return this.#current !== undefined
  }

  reload(trigger: string): TlsReloadResult {
    const current = this.#current
    if (!current) return { ok: true, changed: false }
    let next: TlsMaterial | undefined
    try {
      next = readTlsMaterial(this.config())
      if (!next) return { ok: true, changed: false }
      createSecureContext({ cert: next.cert, key: next.key, ca: next.clientCa })
    } catch (err) {
      const problem = (err as Error).message
      this.logger.error({ trigger, problem }, 'tls reload refused: the current certificate keeps serving')
      return { ok: false, changed: false, problem }
    }
    if (
      next.cert.equals(current.cert) &&
      next.key.equals(current.key) &&
      next.clientCa.equals(current.clientCa)
    )
      return { ok: true, changed: false }
    for (const listener of this.#listeners) listener.updateTls(next)
    this.#current = next
    this.logger.info({ trigger }, 'tls material reloaded')
    return { ok: true, changed: true }
  }
}
