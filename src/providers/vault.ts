import { readFile } from 'node:fs/promises'
import nodeVault from 'node-vault'
import { type Clock, systemClock } from '../clock.js'
import { BrokerError } from '../errors.js'
import type { CircuitBreaker } from './circuit_breaker.js'
import { withDeadline } from './lib/deadline.js'
import { pickKey } from './lib/extract.js'
import type { Provider, ProviderLogger, SecretRef, SecretValue } from './provider.js'

export type VaultAuthOptions =
  | { method: 'token'; tokenFile: string }
  | { method: 'approle'; roleIdFile: string; secretIdFile: string; mount?: string }
  | { method: 'kubernetes'; role: string; tokenFile?: string; mount?: string }

export interface VaultProviderOptions {
  name: string
  /** e.g. `https://vault:8200` */
  address: string
  /** Vault Enterprise namespace, sent as X-Vault-Namespace on every request (logins included). */
  namespace?: string
  /** PEM bundle trusted for the Vault server certificate (instead of the system roots). */
  caPem?: string
  /** Bound on one `get()`, logins and the one retry included. */
  timeoutMs: number
  auth: VaultAuthOptions
  clock?: Clock
  logger?: ProviderLogger
  /**
   * The breaker guarding this provider's reads (the resolver wraps `get()` in it). Background token
   * renewal goes through it too, so a Vault the breaker has given up on is not renewed against either.
   */
  circuit?: Pick<CircuitBreaker, 'run'>
}

const DEFAULT_K8S_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token'
/** Renew at two thirds of the token's life: early enough to retry, late enough not to chatter. */
const RENEW_AT = 2 / 3

interface Session {
  token: string
  /** ms on the injected clock; Infinity for a token without a ttl (root, periodic-less) */
  renewAt: number
  expiresAt: number
  renewable: boolean
}

interface HttpFailure {
  status?: number
  errors: string[]
  code?: string
}

/**
 * Secrets from HashiCorp Vault through node-vault: KV v2 and leased (dynamic) secrets.
 * The broker logs in itself (token file, AppRole or Kubernetes auth), renews its token at
 * 2/3 of its life, logs in again when renewal fails, and on a 403 logs in again and retries once.
 *
 * @example
 * const vault = new VaultProvider({ name: 'vault', address: 'https://vault:8200', timeoutMs: 5000,
 *   auth: { method: 'approle', roleIdFile: '/etc/kb/role_id', secretIdFile: '/etc/kb/secret_id' } })
 * const { value, version } = await vault.get({ name: 'stripe-key', path: 'secret/data/payments/stripe', field: 'api_key' })
 */
export class VaultProvider implements Provider {
  readonly type = 'vault' as const
  readonly name: string
  readonly #opts: VaultProviderOptions
  readonly #clock: Clock
  readonly #client: nodeVault.client
  #session: Session | undefined
  #authInFlight: Promise<Session> | undefined
  #renewTimer: NodeJS.Timeout | undefined
  #closed = false

  constructor(opts: VaultProviderOptions) {
    this.name = opts.name
    this.#opts = opts
    this.#clock = opts.clock ?? systemClock
    const config = {
      endpoint: opts.address,
      namespace: opts.namespace,
      // node-vault reads VAULT_SKIP_VERIFY from the environment; the broker never skips verification
      rpDefaults: { strictSSL: true },
      requestOptions: { timeout: opts.timeoutMs, ...(opts.caPem ? { ca: opts.caPem } : {}) },
      // its debug output includes request bodies (secret IDs, service-account JWTs): keep it silent
      debug: () => {},
    } as nodeVault.VaultOptions
    this.#client = nodeVault(config)
    // node-vault falls back to VAULT_TOKEN / VAULT_NAMESPACE / VAULT_PREFIX from the environment and
    // remembers tokens from logins. Pin all three so the only token sent is the one we pass per request.
    Object.defineProperty(this.#client, 'token', { get: () => '', set: () => {}, configurable: true })
    const client = this.#client as unknown as { namespace?: string; pathPrefix: string }
    client.namespace = opts.namespace
    client.pathPrefix = ''
  }

  async get(ref: SecretRef, signal?: AbortSignal): Promise<SecretValue> {
    if (this.#closed)
      throw new BrokerError('ERR_UPSTREAM_UNAVAILABLE', `vault provider '${this.name}' is closed`)
    const path = ref.path?.replace(/^\/+/, '').replace(/^v1\//, '')
    if (!path) {
      throw new BrokerError(
        'ERR_FAILED_PRECONDITION',
        `secret ${ref.name} has no path for vault provider '${this.name}'`,
      )
    }
    return withDeadline(
      () => this.#read(ref, path),
      this.#opts.timeoutMs,
      signal,
      `vault provider '${this.name}' reading secret ${ref.name}`,
    )
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#renewTimer)
    this.#session = undefined
  }

  async #read(ref: SecretRef, path: string): Promise<SecretValue> {
    const session = await this.#ensureSession(ref)
    let body: unknown
    try {
      body = await this.#client.read(path, { headers: { 'X-Vault-Token': session.token } })
    } catch (err) {
      const failure = describeFailure(err)
      if (failure.status !== 403) throw this.#mapReadFailure(ref, failure, false)
      // the token was revoked or expired upstream before we noticed: log in again, retry once
      const fresh = await this.#relogin(ref, session)
      try {
        body = await this.#client.read(path, { headers: { 'X-Vault-Token': fresh.token } })
      } catch (retryErr) {
        throw this.#mapReadFailure(ref, describeFailure(retryErr), true)
      }
    }
    return this.#toSecretValue(ref, body)
  }

  #toSecretValue(ref: SecretRef, body: unknown): SecretValue {
    const where = `secret ${ref.name} in vault provider '${this.name}'`
    const response = (body ?? {}) as {
      data?: unknown
      lease_id?: string
      lease_duration?: number
    }
    const data = response.data as { data?: unknown; metadata?: { version?: number } } | null | undefined
    if (data === null || data === undefined) {
      throw new BrokerError('ERR_FAILED_PRECONDITION', `${where} returned no data at its configured path`)
    }
    // KV v2 wraps the secret in {data, metadata}; everything else (KV v1, dynamic engines) is flat
    if (typeof data === 'object' && isObject(data.metadata) && 'data' in data) {
      if (data.data === null) {
        throw new BrokerError(
          'ERR_UPSTREAM_NOT_FOUND',
          `${where}: its current version is deleted or destroyed`,
        )
      }
      const version = data.metadata?.version
      return {
        value: pickKey(data.data, ref.field, 'field', where),
        ...(version !== undefined ? { version: String(version) } : {}),
      }
    }
    const value = pickKey(data, ref.field, 'field', where)
    // KV v1 also reports lease_duration (a refresh hint) but no lease_id: only a real lease expires
    if (response.lease_id && typeof response.lease_duration === 'number' && response.lease_duration > 0) {
      return { value, expiresAt: Math.floor(this.#clock.now() / 1000) + response.lease_duration }
    }
    return { value }
  }

  async #ensureSession(ref: SecretRef): Promise<Session> {
    const session = this.#session
    const now = this.#clock.now()
    if (session && now < session.renewAt) return session
    // while someone else renews, a token that has not expired yet is still good to read with
    if (this.#authInFlight) return session && now < session.expiresAt ? session : this.#authInFlight
    if (session?.renewable && now < session.expiresAt) return this.#single(() => this.#renew(ref, session))
    return this.#single(() => this.#login(ref))
  }

  /** Called after a 403: replace the session unless a concurrent caller already did. */
  async #relogin(ref: SecretRef, failed: Session): Promise<Session> {
    if (this.#authInFlight) return this.#authInFlight
    if (this.#session && this.#session !== failed) return this.#session
    this.#session = undefined
    this.#opts.logger?.warn(
      { provider: this.name, secret: ref.name },
      'vault refused the broker token; logging in again',
    )
    return this.#single(() => this.#login(ref))
  }

  /** One login or renewal at a time; everyone waiting shares its outcome. */
  #single(run: () => Promise<Session>): Promise<Session> {
    const flight = run()
      .then((session) => {
        this.#setSession(session)
        return session
      })
      .finally(() => {
        if (this.#authInFlight === flight) this.#authInFlight = undefined
      })
    this.#authInFlight = flight
    return flight
  }

  async #renew(ref: SecretRef, session: Session): Promise<Session> {
    try {
      const res = (await this.#client.tokenRenewSelf({
        requestOptions: { headers: { 'X-Vault-Token': session.token } },
      })) as { auth?: { lease_duration?: number; renewable?: boolean } }
      const ttl = res.auth?.lease_duration ?? 0
      if (ttl > 0) return this.#newSession(session.token, ttl, res.auth?.renewable !== false)
    } catch (err) {
      const failure = describeFailure(err)
      this.#opts.logger?.warn(
        { provider: this.name, status: failure.status, code: failure.code },
        'vault token renewal failed; logging in again',
      )
    }
    // renewal refused, failed or hit the token's max ttl: a fresh login is the only way forward
    return this.#login(ref)
  }

  async #login(ref: SecretRef): Promise<Session> {
    const auth = this.#opts.auth
    try {
      if (auth.method === 'token') {
        const token = await this.#readCredential(ref, auth.tokenFile, 'token_file')
        const res = (await this.#client.tokenLookupSelf({
          requestOptions: { headers: { 'X-Vault-Token': token } },
        })) as { data?: { ttl?: number; renewable?: boolean } }
        return this.#newSession(token, res.data?.ttl ?? 0, res.data?.renewable === true)
      }
      const res = (
        auth.method === 'approle'
          ? await this.#client.approleLogin({
              role_id: await this.#readCredential(ref, auth.roleIdFile, 'role_id_file'),
              secret_id: await this.#readCredential(ref, auth.secretIdFile, 'secret_id_file'),
              mount_point: auth.mount ?? 'approle',
            })
          : await this.#client.kubernetesLogin({
              role: auth.role,
              // projected service-account tokens rotate: read the file at every login
              jwt: await this.#readCredential(ref, auth.tokenFile ?? DEFAULT_K8S_TOKEN_FILE, 'token_file'),
              // node-vault 0.12 renders `/auth//login` without an explicit mount_point
              mount_point: auth.mount ?? 'kubernetes',
            })
      ) as { auth?: { client_token?: string; lease_duration?: number; renewable?: boolean } }
      if (!res.auth?.client_token) {
        throw new BrokerError('ERR_UPSTREAM_REFUSED', `vault provider '${this.name}' login returned no token`)
      }
      return this.#newSession(
        res.auth.client_token,
        res.auth.lease_duration ?? 0,
        res.auth.renewable === true,
      )
    } catch (err) {
      if (err instanceof BrokerError) throw err
      throw this.#mapLoginFailure(ref, describeFailure(err))
    }
  }

  async #readCredential(ref: SecretRef, file: string, option: string): Promise<string> {
    try {
      return (await readFile(file, 'utf8')).trim()
    } catch (err) {
      throw new BrokerError(
        'ERR_FAILED_PRECONDITION',
        `vault provider '${this.name}' cannot read its auth ${option} (${(err as NodeJS.ErrnoException).code ?? 'error'}), so secret ${ref.name} cannot be fetched`,
      )
    }
  }

  #newSession(token: string, ttlSeconds: number, renewable: boolean): Session {
    const now = this.#clock.now()
    if (ttlSeconds <= 0)
      return { token, renewAt: Number.POSITIVE_INFINITY, expiresAt: Number.POSITIVE_INFINITY, renewable }
    return {
      token,
      renewAt: now + ttlSeconds * 1000 * RENEW_AT,
      expiresAt: now + ttlSeconds * 1000,
      renewable,
    }
  }

  #setSession(session: Session): void {
    this.#session = session
    clearTimeout(this.#renewTimer)
    if (this.#closed || !Number.isFinite(session.renewAt)) return
    // renew in the background too, so an idle broker keeps its token; unref'd so it never holds the process
    const delay = Math.max(1000, session.renewAt - this.#clock.now())
    this.#renewTimer = setTimeout(() => {
      // not due, or a read is renewing already: nothing to ask Vault, so nothing to tell the breaker
      if (this.#session !== session || this.#authInFlight || this.#clock.now() < session.renewAt) return
      const upkeep = () => this.#ensureSession({ name: '(background renewal)' })
      const run = this.#opts.circuit ? this.#opts.circuit.run(upkeep, 'renewing its token') : upkeep()
      // on failure (or an open circuit) no new timer: the next read renews or logs in, through the breaker
      run.catch((err: unknown) => {
        this.#opts.logger?.warn(
          { provider: this.name, code: (err as BrokerError).code },
          'vault token upkeep failed',
        )
      })
    }, delay)
    this.#renewTimer.unref()
  }

  #mapReadFailure(ref: SecretRef, f: HttpFailure, afterRelogin: boolean): BrokerError {
    const p = `vault provider '${this.name}'`
    const cause = { cause: new Error(summarize(f)) }
    if (f.status === 404) {
      return new BrokerError(
        'ERR_UPSTREAM_NOT_FOUND',
        `secret ${ref.name} not found in ${p} at its configured path`,
        cause,
      )
    }
    if (f.status === 403) {
      return new BrokerError(
        'ERR_UPSTREAM_REFUSED',
        `${p} refused access to secret ${ref.name} (HTTP 403${afterRelogin ? ', after logging in again' : ''})`,
        cause,
      )
    }
    return this.#mapCommon(f, `reading secret ${ref.name}`, cause)
  }

  #mapLoginFailure(ref: SecretRef, f: HttpFailure): BrokerError {
    const p = `vault provider '${this.name}'`
    const cause = { cause: new Error(summarize(f)) }
    if (f.status === 400 || f.status === 401 || f.status === 403) {
      return new BrokerError(
        'ERR_UPSTREAM_REFUSED',
        `${p} refused the broker's ${this.#opts.auth.method} login (HTTP ${f.status}), so secret ${ref.name} cannot be fetched`,
        cause,
      )
    }
    return this.#mapCommon(f, `logging in for secret ${ref.name}`, cause)
  }

  #mapCommon(f: HttpFailure, doing: string, cause: { cause: Error }): BrokerError {
    const p = `vault provider '${this.name}'`
    if (f.status === undefined) {
      if (f.code === 'ECONNABORTED' || f.code === 'ETIMEDOUT') {
        return new BrokerError(
          'ERR_UPSTREAM_TIMEOUT',
          `${p} did not answer within ${this.#opts.timeoutMs} ms ${doing}`,
          cause,
        )
      }
      return new BrokerError(
        'ERR_UPSTREAM_UNAVAILABLE',
        `${p} is unreachable (${f.code ?? 'network error'}) ${doing}`,
        cause,
      )
    }
    if (f.errors.some((e) => /\bsealed\b/i.test(e))) {
      return new BrokerError('ERR_UPSTREAM_UNAVAILABLE', `${p} is sealed (HTTP ${f.status}) ${doing}`, cause)
    }
    // 412: a performance standby has not caught up yet; 429: rate limited; 5xx: server side
    if (f.status >= 500 || f.status === 429 || f.status === 412) {
      return new BrokerError(
        'ERR_UPSTREAM_UNAVAILABLE',
        `${p} is unavailable (HTTP ${f.status}) ${doing}`,
        cause,
      )
    }
    return new BrokerError(
      'ERR_FAILED_PRECONDITION',
      `${p} rejected the request (HTTP ${f.status}) ${doing}`,
      cause,
    )
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/**
 * Reduce a node-vault / axios error to status, Vault's error strings and a network code.
 * The raw axios error is never kept: its `config` holds request headers, X-Vault-Token included.
 */
function describeFailure(err: unknown): HttpFailure {
  const e = err as { response?: { statusCode?: number; status?: number; body?: unknown }; code?: string }
  const status = e?.response?.statusCode ?? e?.response?.status
  const body = e?.response?.body as { errors?: unknown } | undefined
  const errors = Array.isArray(body?.errors)
    ? body.errors.filter((x): x is string => typeof x === 'string')
    : []
  return {
    ...(typeof status === 'number' ? { status } : {}),
    errors,
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
  }
}

function summarize(f: HttpFailure): string {
  const what = f.status !== undefined ? `HTTP ${f.status}` : (f.code ?? 'network error')
  // Vault's own error strings name paths and policies, not secret values or tokens
  return f.errors.length ? `${what}: ${f.errors.join('; ').slice(0, 300)}` : what
}
