import * as grpc from '@grpc/grpc-js'
import { pendingApprovalId, waitForApproval } from './approval.js'
import { CredentialFiles } from './credential_files.js'
import { BrokerError, configError, fromServiceError, noAnswer } from './errors.js'
import { HttpsFetcher } from './https_fetch.js'
import { mayRetry, ReplicaChannels, replicaAddresses } from './replicas.js'
import { settleBy, withRetries } from './retry.js'
import { type BrokerToken, TokenCache } from './token_cache.js'
import type { FetchSecretResponseWire, IssueTokenResponseWire, WhoAmIResponseWire } from './wire/messages.js'
import { serviceClientConstructor } from './wire/service.js'

/**
 * Options of {@link BrokerClient}.
 *
 * @example
 * ```ts
 * const options: BrokerClientOptions = {
 *   address: 'keybroker.internal:7443',
 *   tls: { caFile: '/run/spire/bundle.pem', certFile: '/run/spire/svid.pem', keyFile: '/run/spire/svid-key.pem' },
 *   deadlineMs: 3_000,
 *   onError: (err) => console.warn(err.code, err.message),
 * }
 * ```
 */
export interface BrokerClientOptions {
  /**
   * The broker's gRPC address, `host:port`; or several replicas: a list (or a comma-separated
   * string) of `host:port`, or one `dns:///name:port` whose addresses are all used. Calls are
   * spread over the replicas and move off a dead one; see {@link BrokerClient} for what is retried.
   */
  address: string | readonly string[]
  tls: {
    /** CA bundle (PEM) that signed the broker's certificate. */
    caFile: string
    /** Workload certificate (PEM, e.g. a SPIFFE X.509-SVID): the mTLS identity. Re-read when it changes. */
    certFile?: string
    /** Its private key (PEM). Re-read when it changes. */
    keyFile?: string
    /** Name to verify in the broker's certificate when it differs from the host in `address`. */
    serverName?: string
  }
  /** A workload JWT (e.g. a Kubernetes projected service-account token) sent as the bearer identity; re-read when it changes. */
  workloadTokenFile?: string
  /** Alternative to `workloadTokenFile`: called before every call for the current workload JWT. */
  workloadToken?: () => Promise<string>
  /** Deadline of each call, retries included (default 5000 ms). */
  deadlineMs?: number
  /** Told about problems no caller sees: a rotated file that does not parse, a failed background refresh. */
  onError?: (error: BrokerError) => void
  /** How often, at most, files are checked for changes (default 1000 ms; checked on use). */
  fileCheckIntervalMs?: number
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions
  /**
   * The broker's HTTPS base URL, for {@link BrokerClient.proxyFetch} (default: `https://<host of
   * address>:7080`, the broker's default HTTP port).
   */
  httpUrl?: string
}

/**
 * What {@link BrokerClient.token} asks for.
 *
 * @example
 * ```ts
 * const request: TokenRequest = { audience: 'payments-api', scopes: ['payments:read'], ttlSeconds: 300 }
 * ```
 */
export interface TokenRequest {
  /** The service the token is for (`aud`). */
  audience: string
  /** Scopes to ask for; none = everything the grant allows for this audience. */
  scopes?: string[]
  /** Lifetime to ask for; policy caps it (0 or absent = the grant's default). */
  ttlSeconds?: number
  /** Bind the token to this client's certificate (`cnf.x5t#S256`, RFC 8705); needs mTLS. */
  bindToCertificate?: boolean
  /**
   * When the grant needs a person's approval, wait for it (Broker.WaitForApproval) instead of failing
   * with ERR_APPROVAL_PENDING. Such a token is never cached nor refreshed by the SDK: each one is approved.
   */
  waitForApproval?: boolean

  /** The agent run this token is for (claim `kb_task`; audit run_id / tool_call_id). Never cached. */
  task?: TaskContext
  /** Proxy requests the token may make (`proxy:` audiences; capped by the grant). Never cached. */
  maxUses?: number
}

/**
 * Which agent run (and tool call) a token is for; each field at most 128 printable characters.
 *
 * @example
 * ```ts
 * const task: TaskContext = { runId: 'run-2f9c', toolCallId: 'call-7', purpose: 'refund order 1234' }
 * ```
 */
export interface TaskContext {
  runId?: string
  toolCallId?: string
  purpose?: string
}

/**
 * What {@link BrokerClient.delegate} asks for.
 *
 * @example
 * ```ts
 * const request: DelegateRequest = { actor: 'sub-agent-7', scopes: ['GET /v1/charges*'], ttlSeconds: 30 }
 * ```
 */
export interface DelegateRequest {
  /** Who the child token is for: becomes the outermost `act.sub`. */
  actor: string
  /** A subset of the parent's scopes; none = all of the parent's. */
  scopes?: string[]
  /** Capped by the parent's remaining life and the grant's max_ttl (0 or absent = the grant's default). */
  ttlSeconds?: number
  /** Another audience, only if the grant's `delegation.audiences` lists it (default: the parent's). */
  audience?: string
  /** Another tool call in the parent's run (a different runId is refused). Default: the parent's. */
  task?: TaskContext
  /** At most what the parent has left. */
  maxUses?: number
}

/**
 * An upstream secret fetched through the broker.
 *
 * @example
 * ```ts
 * const secret: BrokerSecret = await broker.secret('stripe-key')
 * process.stdout.write(`version ${secret.version}, expires ${new Date(secret.expiresAt * 1000).toISOString()}\n`)
 * ```
 */
export interface BrokerSecret {
  value: Buffer
  version: string
  /** Unix seconds; 0 when the provider gave no expiry. */
  expiresAt: number
  exchangeId: string
}

/**
 * Who the broker thinks this client is.
 *
 * @example
 * ```ts
 * const me: WhoAmI = await broker.whoami()
 * if (!me.grants.includes('billing')) throw new Error(`${me.subject} has no billing grant`)
 * ```
 */
export interface WhoAmI {
  subject: string
  authMethod: string
  issuer: string
  attributes: Record<string, string>
  /** Names of the grants that match. */
  grants: string[]
  certThumbprint: string
}

type Method = 'IssueToken' | 'DelegateToken' | 'FetchSecret' | 'WhoAmI' | 'GetJwks'
type UnaryMethod<Res> = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, res: Res) => void,
) => grpc.ClientUnaryCall

/** The Broker service's client class, from the descriptor embedded at build time (no .proto read). */
const BrokerService = serviceClientConstructor('keybroker.v1.Broker')
type RawBrokerClient = InstanceType<typeof BrokerService>

const DEFAULT_DEADLINE_MS = 5_000
/** How long after its deadline a call is failed by the SDK itself if grpc-js has not reported back. */
const DEADLINE_BACKSTOP_MS = 1_000
/** Reconnect quickly after a broker restart; grpc-js would otherwise back off for up to two minutes. */
const CHANNEL_DEFAULTS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
  'grpc.keepalive_time_ms': 30_000,
}

/**
 * A client of the keybroker: short-lived tokens with one call and no expiry bookkeeping.
 *
 * Tokens are cached per (audience, scopes, binding) and refreshed in the background at about 80% of
 * their life; concurrent callers of a cold entry share one request; an expired token is never
 * returned. With several replicas (`address: ['broker-0:7443', 'broker-1:7443']` or a `dns:///` name)
 * calls are spread over them and move off a dead one. IssueToken, DelegateToken, WhoAmI and GetJwks
 * retry UNAVAILABLE with backoff, on another replica, within their deadline; FetchSecret only when
 * the request never reached a broker (a Vault dynamic read mints a credential each time it runs).
 * Every other failure is a {@link BrokerError} at once. Certificate and workload-token files are re-read when they change.
 *
 * @example
 * ```ts
 * import { BrokerClient } from '@keybroker/client'
 *
 * const broker = new BrokerClient({
 *   address: 'keybroker.internal:7443',
 *   tls: { caFile: '/run/spire/bundle.pem', certFile: '/run/spire/svid.pem', keyFile: '/run/spire/svid-key.pem' },
 * })
 * const { token } = await broker.token({ audience: 'payments-api', scopes: ['payments:read'] })
 * ```
 */
export class BrokerClient {
  private readonly files: CredentialFiles
  private readonly cache: TokenCache
  private readonly https = new HttpsFetcher()
  private readonly deadlineMs: number
  private readonly onError: (error: BrokerError) => void
  private channel?: { replicas: ReplicaChannels<RawBrokerClient>; version: number }
  private readonly addresses: string[]
  private closed = false

  /**
   * Reads the CA, certificate, key and workload-token files once (a missing or bad file throws a
   * {@link BrokerError} with code `ERR_CLIENT_CONFIG`); no connection is made until the first call.
   *
   * @example
   * ```ts
   * // In Kubernetes, with a projected service-account token as the identity:
   * const broker = new BrokerClient({
   *   address: 'keybroker.keybroker.svc:7443',
   *   tls: { caFile: '/etc/keybroker/ca.pem' },
   *   workloadTokenFile: '/var/run/secrets/tokens/keybroker',
   *   onError: (err) => logger.warn({ code: err.code }, err.message),
   * })
   * ```
   */
  constructor(private readonly options: BrokerClientOptions) {
    if (!options.address || options.address.length === 0)
      throw configError('address is required (host:port of the broker)')
    this.addresses = replicaAddresses(options.address)
    if (!options.tls?.caFile) throw configError('tls.caFile is required (the CA that signed the broker)')
    if (options.workloadTokenFile && options.workloadToken) {
      throw configError('give workloadTokenFile or workloadToken, not both')
    }
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS
    this.onError = options.onError ?? (() => {})
    this.files = new CredentialFiles(
      { ...options.tls, workloadTokenFile: options.workloadTokenFile },
      { checkIntervalMs: options.fileCheckIntervalMs ?? 1_000, now: Date.now, onError: this.onError },
    )
    this.cache = new TokenCache({
      now: Date.now,
      onError: (err) => this.onError(err instanceof BrokerError ? err : configError(String(err), err)),
    })
  }

  /**
   * A token for `audience`, from the cache when it has a valid one (cached per audience, sorted scopes,
   * binding and requested ttl). Concurrent callers share one
   * request; the token is renewed in the background before it expires.
   *
   * @example
   * ```ts
   * const { token, expiresAt } = await broker.token({ audience: 'search-api', scopes: ['search:read'] })
   * await fetch('https://search.internal/q?x=1', { headers: { authorization: `Bearer ${token}` } })
   * ```
   */
  token(request: TokenRequest): Promise<BrokerToken> {
    const scopes = [...new Set(request.scopes ?? [])].sort()
    const bind = request.bindToCertificate ?? false
    if (request.waitForApproval)
      return this.approvedToken(request.audience, scopes, bind, request.ttlSeconds ?? 0)

    // A task-bound or budgeted token belongs to one caller: never cached, never shared.
    if (request.task !== undefined || request.maxUses !== undefined)
      return this.#uncachedToken(request, scopes, bind)
    // The requested ttl is part of the key: a caller asking for a 2-minute token must not be handed a
    // cached 15-minute one.
    const key = JSON.stringify([request.audience, scopes, bind, request.ttlSeconds ?? 0])
    return this.cache.get(key, () => this.issueToken({ ...request, scopes, bindToCertificate: bind }))
  }

  /**
   * A new token from the broker on every call, neither taken from nor added to the cache: for a
   * caller that schedules its own renewals (the `keybroker agent` sidecar writing token files).
   *
   * @example
   * ```ts
   * const fresh = await broker.issueToken({ audience: 'payments-api', scopes: ['payments:read'] })
   * writeFileSync('/run/keybroker/payments.jwt', fresh.token, { mode: 0o600 })
   * ```
   */
  async issueToken(request: TokenRequest): Promise<BrokerToken> {
    return toToken(
      await this.call<IssueTokenResponseWire>('IssueToken', {
        audience: request.audience,
        scopes: [...new Set(request.scopes ?? [])].sort(),
        ttl_seconds: request.ttlSeconds ?? 0,
        bind_to_certificate: request.bindToCertificate ?? false,
      }),
    )
  }

  async #uncachedToken(request: TokenRequest, scopes: string[], bind: boolean): Promise<BrokerToken> {
    return toToken(
      await this.call<IssueTokenResponseWire>('IssueToken', {
        audience: request.audience,
        scopes,
        ttl_seconds: request.ttlSeconds ?? 0,
        bind_to_certificate: bind,
        task: wireTask(request.task),
        max_uses: wireMaxUses(request.maxUses),
      }),
    )
  }

  /**
   * Hand a narrower, shorter-lived copy of a token you hold to a sub-agent (`actor`). The child's
   * `act` claim records the chain; it dies when the parent expires or is revoked. Not cached.
   *
   * @example
   * ```ts
   * const parent = await broker.token({ audience: 'proxy:stripe', ttlSeconds: 120 })
   * const child = await broker.delegate(parent.token, {
   *   actor: 'sub-agent-7',
   *   scopes: ['GET /v1/charges*'],
   *   ttlSeconds: 30,
   * })
   * ```
   */
  async delegate(parentToken: string, request: DelegateRequest): Promise<BrokerToken> {
    return toToken(
      await this.call<IssueTokenResponseWire>('DelegateToken', {
        parent_token: parentToken,
        scopes: request.scopes ?? [],
        ttl_seconds: request.ttlSeconds ?? 0,
        actor: request.actor,
        audience: request.audience ?? '',
        task: wireTask(request.task),
        max_uses: wireMaxUses(request.maxUses),
      }),
    )
  }

  /**
   * Fetch an upstream secret the broker's policy grants you, by name. Not cached by the SDK (the
   * broker caches upstream reads).
   *
   * @example
   * ```ts
   * const { value } = await broker.secret('stripe-key')
   * const stripeKey = value.toString('utf8')
   * ```
   */
  async secret(name: string, options: { waitForApproval?: boolean } = {}): Promise<BrokerSecret> {
    let res: FetchSecretResponseWire
    try {
      res = await this.call<FetchSecretResponseWire>('FetchSecret', { name })
    } catch (err) {
      const approvalId = options.waitForApproval ? pendingApprovalId(err) : undefined
      if (!approvalId) throw err
      const update = await waitForApproval(this.replicas().pick(), await this.metadata(), approvalId)
      res = update.secret as unknown as FetchSecretResponseWire
    }
    return { value: res.value, version: res.version, expiresAt: res.expires_at, exchangeId: res.exchange_id }
  }

  /**
   * The identity the broker sees for this client and the grants that match it.
   *
   * @example
   * ```ts
   * const me = await broker.whoami()
   * console.log(me.subject, me.grants) // spiffe://example.org/ns/prod/sa/billing [ 'billing' ]
   * ```
   */
  async whoami(): Promise<WhoAmI> {
    const res = await this.call<WhoAmIResponseWire>('WhoAmI', {})
    return {
      subject: res.subject,
      authMethod: res.auth_method,
      issuer: res.issuer,
      attributes: { ...res.attributes },
      grants: [...res.grants],
      certThumbprint: res.cert_thumbprint,
    }
  }

  /**
   * grpc-js call credentials that attach a fresh broker token (`authorization: Bearer …`) to every
   * call made to another service. Combine them with that service's channel credentials.
   *
   * @example
   * ```ts
   * import * as grpc from '@grpc/grpc-js'
   *
   * const creds = grpc.credentials.combineChannelCredentials(
   *   grpc.credentials.createSsl(caPem),
   *   broker.callCredentials({ audience: 'payments-api', scopes: ['payments:write'] }),
   * )
   * const payments = new PaymentsClient('payments.internal:443', creds)
   * ```
   */
  callCredentials(request: Pick<TokenRequest, 'audience' | 'scopes'>): grpc.CallCredentials {
    return grpc.credentials.createFromMetadataGenerator((_params, callback) => {
      this.token(request).then(
        ({ token }) => {
          const metadata = new grpc.Metadata()
          metadata.set('authorization', `Bearer ${token}`)
          callback(null, metadata)
        },
        (err: unknown) => {
          const error = err instanceof BrokerError ? err : configError(String(err), err)
          // grpc-js reads a numeric `code` to fail the outgoing call with the broker's status.
          callback(Object.assign(new Error(`keybroker: ${error.message}`), { code: error.grpcCode }))
        },
      )
    })
  }

  /**
   * `fetch` with `Authorization: Bearer <broker token>` for `audience` added (replacing any
   * authorization header in `init`). HTTPS trusts the broker's CA (`tls.caFile`) besides the public
   * roots, so the broker's own endpoints work without `NODE_EXTRA_CA_CERTS`; with
   * `bindToCertificate` the token is bound to this client's certificate and the connection presents
   * it (RFC 8705). Redirects are returned, not followed, so the token never travels to another URL.
   *
   * @example
   * ```ts
   * const res = await broker.fetch('https://keybroker.internal:7080/proxy/stripe/v1/charges', undefined, {
   *   audience: 'proxy:stripe',
   *   scopes: ['GET /v1/charges*'],
   * })
   * ```
   */
  async fetch(
    url: string | URL,
    init: RequestInit | undefined,
    request: Pick<TokenRequest, 'audience' | 'scopes' | 'ttlSeconds' | 'bindToCertificate'>,
  ): Promise<Response> {
    const { token } = await this.token(request)
    const headers = new Headers(init?.headers)
    headers.set('authorization', `Bearer ${token}`)
    const material = this.files.channelMaterial()
    return this.https.fetch(url, { ...init, headers }, material, request.bindToCertificate ?? false)
  }

  /**
   * Call an upstream API through the broker's injection proxy: `path` on route `route`
   * (`<httpUrl>/proxy/<route>/<path>`), with a token for audience `proxy:<route>`. The broker adds
   * the upstream's key; this process never holds it.
   *
   * @example
   * ```ts
   * const res = await broker.proxyFetch('stripe', '/v1/charges?limit=3', { method: 'GET' })
   * if (!res.ok) throw new Error(`stripe via keybroker: ${res.status}`)
   * const charges = await res.json()
   * ```
   */
  proxyFetch(
    route: string,
    path: string,
    init?: RequestInit,
    token: Omit<TokenRequest, 'audience'> = {},
  ): Promise<Response> {
    const base = this.options.httpUrl ?? defaultHttpUrl(this.addresses[0] ?? '')
    const url = `${base.replace(/\/+$/, '')}/proxy/${encodeURIComponent(route)}/${path.replace(/^\/+/, '')}`
    return this.fetch(url, init, { ...token, audience: `proxy:${route}` })
  }

  /**
   * The broker's signing keys (JWKS JSON text), as served by every replica: what a resource
   * server verifies broker tokens with. Retried on another replica like {@link token}.
   *
   * @example
   * ```ts
   * const jwks = JSON.parse(await broker.jwks()) as { keys: Array<{ kid: string }> }
   * logger.info({ kids: jwks.keys.map((k) => k.kid) }, 'broker signing keys')
   * ```
   */
  async jwks(): Promise<string> {
    const res = await this.call<{ jwks_json: string }>('GetJwks', {})
    return res.jwks_json
  }

  /**
   * Stop background refreshes and close the connection. Calls made afterwards fail.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => broker.close())
   * ```
   */
  close(): void {
    this.closed = true
    this.cache.close()
    this.https.close()
    this.channel?.replicas.close()
    this.channel = undefined
  }

  /** IssueToken; when parked for approval, wait for the decision and take the token minted for it. */
  private async approvedToken(
    audience: string,
    scopes: string[],
    bind: boolean,
    ttl: number,
  ): Promise<BrokerToken> {
    try {
      return toToken(
        await this.call<IssueTokenResponseWire>('IssueToken', {
          audience,
          scopes,
          ttl_seconds: ttl,
          bind_to_certificate: bind,
        }),
      )
    } catch (err) {
      const approvalId = pendingApprovalId(err)
      if (!approvalId) throw err
      const update = await waitForApproval(this.replicas().pick(), await this.metadata(), approvalId)
      return toToken(update.token as unknown as IssueTokenResponseWire)
    }
  }

  private call<Res>(method: Method, request: object): Promise<Res> {
    const started = Date.now()
    // replicas that failed this call: the retry goes to another one while any is left
    const tried = new Set<RawBrokerClient>()
    const work = withRetries(
      async (deadline) => {
        if (this.closed)
          throw new BrokerError('ERR_CLIENT_CLOSED', grpc.status.CANCELLED, 'BrokerClient is closed')
        const client = this.replicas().pick(tried)
        tried.add(client)
        const metadata = await this.metadata()
        return new Promise<Res>((resolve, reject) => {
          const fn = (client as unknown as Record<Method, UnaryMethod<Res>>)[method].bind(client)
          fn(request, metadata, { deadline }, (err, res) =>
            err ? reject(fromServiceError(err)) : resolve(res),
          )
        })
      },
      {
        deadlineMs: this.deadlineMs,
        initialBackoffMs: 100,
        maxBackoffMs: 1_000,
        now: Date.now,
        retryable: (err) => mayRetry(method, err),
      },
    ).catch((err: unknown) => {
      throw this.explainNoAnswer(err)
    })
    // grpc-js enforces the deadline itself; this backstop (a ref'd timer) keeps the process alive while
    // the call is pending and rejects even if the transport never reports back.
    return settleBy(
      work,
      started + this.deadlineMs + DEADLINE_BACKSTOP_MS,
      () => noAnswer(this.addressText, this.deadlineMs, 'the call did not settle before its deadline'),
      Date.now,
    )
  }

  /** The address(es) as the caller gave them, for messages. */
  private get addressText(): string {
    return this.addresses.join(', ')
  }

  /** A failure where no broker answered becomes one ERR_UNREACHABLE error naming the address. */
  private explainNoAnswer(err: unknown): unknown {
    if (!(err instanceof BrokerError) || err.code !== 'ERR_UNREACHABLE') return err
    const detail =
      err.grpcCode === grpc.status.DEADLINE_EXCEEDED
        ? 'no connection or no reply before the deadline'
        : err.message
    return noAnswer(this.addressText, this.deadlineMs, detail, err)
  }

  /** The channels (one per replica) for the current TLS material; rebuilt when a rotated certificate is loaded. */
  private replicas(): ReplicaChannels<RawBrokerClient> {
    const material = this.files.channelMaterial()
    if (this.channel?.version === material.version) return this.channel.replicas
    const previous = this.channel?.replicas
    const { tls, channelOptions } = this.options
    const credentials = grpc.credentials.createSsl(material.ca, material.key ?? null, material.cert ?? null)
    const replicas = new ReplicaChannels(
      this.addresses,
      (address, balancing) =>
        new BrokerService(address, credentials, {
          ...CHANNEL_DEFAULTS,
          ...balancing,
          ...(tls.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {}),
          ...channelOptions,
        }) as RawBrokerClient,
    )
    this.channel = { replicas, version: material.version }
    // Calls already on the old channel may finish; it is closed once they have run out of time.
    if (previous) setTimeout(() => previous.close(), this.deadlineMs + 1_000).unref()
    return replicas
  }

  private async metadata(): Promise<grpc.Metadata> {
    const metadata = new grpc.Metadata()
    let token = this.files.workloadToken()
    if (this.options.workloadToken) {
      try {
        token = await this.options.workloadToken()
      } catch (err) {
        throw configError(`workloadToken() failed: ${(err as Error).message ?? String(err)}`, err)
      }
    }
    if (token) metadata.set('authorization', `Bearer ${token}`)
    return metadata
  }
}

/** `https://<host>:7080` for a gRPC `host:port` (IPv6 literals keep their brackets). */
function defaultHttpUrl(address: string): string {
  const host = address.replace(/:\d+$/, '')
  return `https://${host}:7080`
}

function toToken(res: IssueTokenResponseWire): BrokerToken {
  return Object.freeze({
    token: res.token,
    expiresAt: res.expires_at,
    scopes: Object.freeze([...res.scopes]),
    audience: res.audience,
    tokenId: res.token_id,
    exchangeId: res.exchange_id,
    maxUses: res.max_uses ?? 0,
  })
}

function wireTask(task: TaskContext | undefined) {
  if (!task) return undefined
  return { run_id: task.runId ?? '', tool_call_id: task.toolCallId ?? '', purpose: task.purpose ?? '' }
}

/** A negative or fractional budget would arrive at the broker as something else entirely: refuse it here. */
function wireMaxUses(maxUses: number | undefined): number {
  if (maxUses === undefined) return 0
  if (!Number.isInteger(maxUses) || maxUses < 0 || maxUses > 0xffffffff)
    throw configError(`maxUses must be a whole number ≥ 0 (got ${maxUses})`)
  return maxUses
}
