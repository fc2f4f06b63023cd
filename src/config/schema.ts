import { z } from 'zod'
import { parseRate } from '../guardrails/rate.js'
import { DEFAULT_ALGORITHMS, WORKLOAD_TOKEN_ALGORITHMS } from '../identity/oidc/algorithms.js'
import { CLAIM_TYPES, type ClaimMapping, parseClaimPath } from '../identity/oidc/claim_path.js'
import { alertsSchema, metricsSchema } from './alerts_schema.js'
import { parseDuration } from './duration.js'

/** Sections whose every key has a default may be left out; zod's input type cannot see that. */
const ALL_DEFAULTS = {} as never

/*
 * keybroker.yaml, every option with its default and a one-line doc, in one place.
 * Objects are strict: a typo'd key is an error that names its path, never silently ignored.
 * Durations are strings (`30s`, `5m`, `1h`, `7d`) and come out as whole seconds.
 */

const duration = (fallback?: string) => {
  const parsed = z.string().transform((text, ctx) => {
    const seconds = parseDuration(text)
    if (seconds === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use e.g. 30s, 5m, 1h, 24h, 7d)` })
      return z.NEVER
    }
    return seconds
  })
  return fallback === undefined ? parsed : parsed.prefault(fallback)
}

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:7443')

const nonEmpty = z.string().min(1, 'must not be empty')

const httpsUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' })

const spiffeIdPattern = z
  .string()
  .regex(
    /^spiffe:\/\/[a-z0-9._-]+((\/[A-Za-z0-9._~!$&'()+,;=:@-]+)+(\/\*)?|\/\*)$/,
    'expected a SPIFFE ID (spiffe://trust-domain/path), optionally ending in /* ; a * anywhere else is not allowed',
  )

export const tlsSchema = z.strictObject({
  /** Server certificate chain (PEM). */
  cert_file: nonEmpty,
  /** Server private key (PEM). */
  key_file: nonEmpty,
  /** CA bundles that client certificates must chain to. */
  client_ca_files: z.array(nonEmpty).min(1, 'list at least one client CA file'),
})

/** Keys fetched over plain http could be swapped by anyone on the path: the issuer's endpoints are https only. */
const issuerEndpointUrl = z.url({
  protocol: /^https$/,
  error: (issue) =>
    `${JSON.stringify(issue.input)} must be an https:// URL (keys fetched over plain http could be swapped by anyone on the path)`,
})

/**
 * `attributes` of a trusted issuer: claim path → attribute name, or `{ name, types }` to also map
 * numbers and booleans. Comes out as a list of parsed mappings.
 */
const claimMappingsSchema = z
  .record(
    z.string(),
    z.union(
      [
        nonEmpty,
        z.strictObject({
          /** Attribute name grants match on. */
          name: nonEmpty,
          /** JSON types mapped (as their JSON text); strings only by default. */
          types: z.array(z.enum(CLAIM_TYPES)).min(1).default(['string']),
        }),
      ],
      {
        error:
          'expected an attribute name, or { name: <attribute>, types: [string | number | boolean, ...] }',
      },
    ),
  )
  .default({})
  .superRefine((mappings, ctx) => {
    for (const claim of Object.keys(mappings)) {
      if (parseClaimPath(claim) === undefined)
        ctx.addIssue({
          code: 'custom',
          path: [claim],
          message:
            'is not a claim path: use a.b.c for nested claims, or a JSON Pointer such as /kubernetes.io/namespace for a claim name holding a dot',
        })
    }
  })
  .transform((mappings): ClaimMapping[] =>
    Object.entries(mappings).map(([claim, target]) => ({
      claim,
      path: parseClaimPath(claim) ?? [],
      name: typeof target === 'string' ? target : target.name,
      types: typeof target === 'string' ? ['string'] : target.types,
    })),
  )

export const trustedIssuerSchema = z
  .strictObject({
    /** Name grants refer to in `match.issuer`. */
    name: nonEmpty,
    /** kubernetes | github-actions | generic: how subject and attributes come from claims. */
    preset: z.enum(['kubernetes', 'github-actions', 'generic']).default('generic'),
    /** Exact `iss` the tokens must carry; https when jwks_uri is absent (discovery fetches from it). */
    issuer: httpsUrl,
    /** Value the token's `aud` must contain. */
    audience: nonEmpty,
    /** JWKS location (https); when absent it is discovered from `<issuer>/.well-known/openid-configuration`. */
    jwks_uri: issuerEndpointUrl.optional(),
    /** Allowed signature algorithms (asymmetric only; none and HS* never are). */
    algorithms: z
      .array(
        z.enum(WORKLOAD_TOKEN_ALGORITHMS, {
          error: (issue) =>
            `${JSON.stringify(issue.input)} is not allowed: use one of ${WORKLOAD_TOKEN_ALGORITHMS.join(', ')} (none and HS* never are)`,
        }),
      )
      .min(1)
      .default([...DEFAULT_ALGORITHMS]),
    /** Refuse tokens whose `iat` is older than this. */
    max_token_age: duration().optional(),
    /** Clock skew allowed on exp/nbf, at most 60s. */
    leeway: duration('30s').refine((s) => s <= 60, 'leeway must be at most 60s'),
    /**
     * claim path → attribute name that grants can match. `a.b` is the nested path only (never a claim
     * literally named "a.b"); `/kubernetes.io/namespace` (JSON Pointer) reaches a name holding a dot.
     * Only string claims map, unless written `{ name: level, types: [number] }` (also: boolean, string).
     */
    attributes: claimMappingsSchema,
    /** Extra CA (PEM file) for the issuer's HTTPS endpoints. */
    ca_file: nonEmpty.optional(),
    /** Deadline for one discovery or JWKS request; the issuer down → UNAVAILABLE after this. */
    fetch_timeout: duration('5s'),
  })
  .superRefine((entry, ctx) => {
    if (entry.jwks_uri === undefined && !entry.issuer.startsWith('https:'))
      ctx.addIssue({
        code: 'custom',
        path: ['issuer'],
        message: `${JSON.stringify(entry.issuer)} must be an https:// URL when jwks_uri is not set (the keys are discovered from it)`,
      })
  })

/** What an operator may do on the Admin service (see src/policy/roles.ts); `admin` when unsaid. */
export const ADMIN_ROLES = ['admin', 'auditor', 'approver'] as const
const adminRole = z
  .enum(ADMIN_ROLES, {
    error: (issue) => `${JSON.stringify(issue.input)} is not a role: use admin, auditor or approver`,
  })
  .default('admin')

const adminSpiffeId = z.string().regex(/^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._~!$&'()+,;=:@-]+)+$/, {
  message: 'expected a SPIFFE ID (an OIDC admin is written { issuer: <trust name>, subject: <sub> })',
})

export const adminEntrySchema = z.union(
  [
    adminSpiffeId,
    /** An mTLS operator with a role: `{ spiffe_id, role }`. */
    z.strictObject({ spiffe_id: adminSpiffeId, role: adminRole }),
    z.strictObject({ issuer: nonEmpty, subject: nonEmpty, role: adminRole }),
  ],
  {
    error: (issue) => {
      const role = (issue.input as { role?: unknown } | null)?.role
      if (role !== undefined && !(ADMIN_ROLES as readonly unknown[]).includes(role))
        return `${JSON.stringify(role)} is not a role: use admin, auditor or approver`
      return 'expected a SPIFFE ID, { spiffe_id, role }, or { issuer: <trust name>, subject: <sub>, role } (role: admin | auditor | approver)'
    },
  },
)

/** Who may decide an approval: a SPIFFE ID, or `{ issuer, subject }` (each must also be in `admins`). */
export const approverSchema = z.union([
  adminSpiffeId,
  z.strictObject({ issuer: nonEmpty, subject: nonEmpty }),
])

/** `approval:` on a token grant or a secret: a person must approve each request first. */
export const approvalSchema = z.strictObject({
  /** Who may approve (admins entries with role approver or admin). */
  approvers: z.array(approverSchema).min(1, 'list at least one approver'),
  /** A request nobody decided within this expires. */
  timeout: duration('10m').refine((s) => s >= 1 && s <= 7 * 86400, 'timeout must be between 1s and 7d'),
})

/** A token grant's default_ttl when it names none (and max_ttl allows it). */
const DEFAULT_TOKEN_TTL_SECONDS = 300

export const grantTokenSchema = z
  .strictObject({
    /** Audience of the minted token (`proxy:<route>` for the injection proxy). */
    audience: nonEmpty,
    /** Scopes a caller may request for this audience. */
    scopes: z.array(nonEmpty).default([]),
    /** Lifetime when the request says 0; default min(5m, max_ttl). */
    default_ttl: duration().optional(),
    /** Longer requests are capped to this. */
    max_ttl: duration('1h'),
    /** A person must approve each request for this audience first (Broker.WaitForApproval). */
    approval: approvalSchema.optional(),

    /** Proxy requests one token may make (proxy: audiences only); caps a request's max_uses; 1 = one-use tokens. */
    max_uses: z.number().int().min(1).max(1_000_000_000).optional(),
    /** Refuse a request that names no task.run_id (agent tokens must say which run they are for). */
    require_task: z.boolean().default(false),
  })
  // Only a default_ttl the operator wrote can contradict max_ttl; the default follows max_ttl down.
  .superRefine((token, ctx) => {
    if (token.default_ttl !== undefined && token.default_ttl > token.max_ttl)
      ctx.addIssue({ code: 'custom', path: ['default_ttl'], message: 'is longer than max_ttl' })
    if (token.max_uses !== undefined && !token.audience.startsWith('proxy:'))
      ctx.addIssue({
        code: 'custom',
        path: ['max_uses'],
        message: `budgets are counted by the injection proxy only; audience "${token.audience}" is not proxy:<route>`,
      })
  })
  .transform((token) => ({
    ...token,
    default_ttl: token.default_ttl ?? Math.min(DEFAULT_TOKEN_TTL_SECONDS, token.max_ttl),
  }))

/** `60/m`, `600/minute`, `5/s`: events per period (s, m, h, d). */
const rate = z.string().transform((text, ctx) => {
  const parsed = parseRate(text)
  if (!parsed) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not a rate: write count/unit with unit s, m, h or d (e.g. 60/m)`,
    })
    return z.NEVER
  }
  return { ...parsed, text }
})

/** Token buckets per (issuer, subject), per replica: N replicas allow N× the rate. */
export const rateLimitSchema = z.strictObject({
  /** IssueToken and DelegateToken calls. */
  issue: rate.optional(),
  /** Requests through the injection proxy with this grant's tokens. */
  proxy: rate.optional(),
  /** Bucket size: calls allowed back to back (default: the rate's count). */
  burst: z.number().int().min(1).max(1_000_000).optional(),
})

export const grantSchema = z.strictObject({
  /** Unique name, shown in WhoAmI and audit. */
  name: nonEmpty,
  match: z.strictObject({
    /** Exact SPIFFE ID, or one ending in `/*` matching everything below that path. */
    spiffe_id: spiffeIdPattern.optional(),
    /** Name of a `trust.oidc[]` entry. */
    issuer: nonEmpty.optional(),
    /** Token subject, exact or with `*` globs. */
    subject: nonEmpty.optional(),
    /** Attribute name → exact value or `*` glob; all must match. */
    attributes: z.record(z.string(), z.string()).optional(),
  }),
  tokens: z.array(grantTokenSchema).default([]),
  /** Names from `secrets:` this identity may fetch. */
  secrets: z.array(nonEmpty).default([]),
  delegation: z
    .strictObject({
      /** How many hops of sub-delegation are allowed (0 = off). */
      max_depth: z.number().int().min(0).max(10).default(0),
      /** Audiences a delegated token may switch to (default: the parent's only). */
      audiences: z.array(nonEmpty).default([]),
    })
    .prefault(ALL_DEFAULTS),
  /** `{ watch: true }`: may follow the revocation feed (Broker.WatchRevocations), as resource servers do. */
  revocations: z.strictObject({ watch: z.boolean() }).optional(),
  /** Audiences whose tokens this identity may introspect (POST /oauth2/introspect, mTLS). */
  introspect: z
    .strictObject({ audiences: z.array(nonEmpty).min(1, 'list at least one audience') })
    .optional(),
  /** Per-identity rate limits; when several matching grants set one, the strictest wins. */
  rate_limit: rateLimitSchema.optional(),
})

const cacheOverrides = {
  /** How long a fetched value is served from memory. */
  cache_ttl: duration().optional(),
  /** After cache_ttl, how long a cached value may still be served while the upstream fails. */
  stale_ttl: duration().optional(),
  /** Largest value served, in bytes. */
  max_bytes: z.number().int().positive().optional(),
}

export const secretSchema = z.strictObject({
  /** Name of an entry in `providers:`. */
  provider: nonEmpty,
  /** Vault: full API path after /v1/ (KV v2: secret/data/...). */
  path: nonEmpty.optional(),
  /** Vault / file: one field of the data; whole data as JSON when absent. */
  field: nonEmpty.optional(),
  /** AWS: SecretId (name or ARN). */
  secret_id: nonEmpty.optional(),
  /** AWS: VersionStage (AWSCURRENT by default). */
  version_stage: nonEmpty.optional(),
  /** AWS: key to extract from a JSON SecretString. */
  json_key: nonEmpty.optional(),
  /** A person must approve each fetch first (Broker.WaitForApproval). */
  approval: approvalSchema.optional(),
  ...cacheOverrides,
})

const vaultAuthSchema = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('token'), token_file: nonEmpty }),
  z.strictObject({
    method: z.literal('approle'),
    role_id_file: nonEmpty,
    secret_id_file: nonEmpty,
    mount: nonEmpty.default('approle'),
  }),
  z.strictObject({
    method: z.literal('kubernetes'),
    role: nonEmpty,
    token_file: nonEmpty.default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
    mount: nonEmpty.default('kubernetes'),
  }),
])

/** Circuit breaker per provider: a failing upstream is asked once per open period, not on every call. */
const circuitSchema = z
  .strictObject({
    /** Consecutive failures (unavailable or timed out) that open the circuit. */
    failures: z.number().int().min(1).max(1000).default(5),
    /** How long it stays open before one probe call is let through. */
    open_for: duration('5s').refine((s) => s >= 1, 'open_for must be at least 1s'),
    /** Each failed probe doubles the open period, up to this. */
    max_open_for: duration('1m'),
  })
  .refine((c) => c.max_open_for >= c.open_for, {
    message: 'max_open_for must be at least open_for',
    path: ['max_open_for'],
  })
  .prefault(ALL_DEFAULTS)

export const providerSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('vault'),
    address: httpsUrl,
    /** Vault Enterprise / HCP namespace. */
    namespace: nonEmpty.optional(),
    ca_file: nonEmpty.optional(),
    timeout: duration('5s'),
    auth: vaultAuthSchema,
    circuit: circuitSchema,
  }),
  z.strictObject({
    type: z.literal('aws-secrets-manager'),
    region: nonEmpty,
    /** Override endpoint (VPC endpoint, LocalStack). */
    endpoint: httpsUrl.optional(),
    ca_file: nonEmpty.optional(),
    timeout: duration('5s'),
    max_attempts: z.number().int().min(1).max(10).default(3),
    circuit: circuitSchema,
  }),
  z.strictObject({
    type: z.literal('file'),
    /** JSON object of name → string value, mode 0600 (a secret's `field` picks the key). */
    path: nonEmpty,
  }),
])

export const routeSchema = z.strictObject({
  /** Base URL requests are forwarded under. */
  upstream: httpsUrl,
  /** Name from `secrets:` injected into each request. */
  secret: nonEmpty,
  /** Header carrying the key. */
  header: nonEmpty.default('Authorization'),
  /** How the key is written into the header; {secret} is replaced. */
  template: z.string().default('Bearer {secret}'),
  /** Put the key in this query parameter instead of a header. */
  query_param: nonEmpty.optional(),
  /** Methods allowed through this route (all when absent). */
  allowed_methods: z.array(z.string().regex(/^[A-Z]+$/, 'expected an upper-case HTTP method')).optional(),
  /** Extra CA (PEM file) for the upstream. */
  ca_file: nonEmpty.optional(),
  /** Deadline for the upstream's response headers. */
  timeout: duration('30s'),
  /**
   * Mask copies of the injected key in response bodies (best effort; headers are always scanned).
   * Turn off only for binary streams from an upstream that never echoes the key.
   */
  scan_response: z.boolean().default(true),
})

export const limitsSchema = z
  .strictObject({
    /** A connection must complete its TLS handshake within this (both listeners). */
    handshake_timeout: duration('10s'),
    /** HTTP: a request's headers must all arrive within this. */
    headers_timeout: duration('30s'),
    /** HTTP: a whole request, body included, must arrive within this (proxy uploads too). */
    request_timeout: duration('5m'),
    /** HTTP: how long a connection waits for its next request after a response. */
    keep_alive_timeout: duration('5s'),
    /** HTTP: a connection with no traffic for this long is closed; gRPC: one with no call. */
    idle_timeout: duration('5m'),
    /** gRPC: the broker pings each connection this often, to drop peers that vanished. */
    grpc_keepalive_time: duration('2m'),
    /** gRPC: a ping not answered within this closes the connection. */
    grpc_keepalive_timeout: duration('20s'),
    /** Connections one peer address may hold open at once, per listener (0 = no limit). */
    max_connections_per_peer: z.number().int().min(0).default(256),
  })
  .refine((l) => l.headers_timeout <= l.request_timeout, {
    message: 'headers_timeout must not be longer than request_timeout',
    path: ['headers_timeout'],
  })

export const configSchema = z.strictObject({
  /** `iss` of minted tokens; also the OIDC discovery issuer. */
  issuer: httpsUrl,
  listen: z
    .strictObject({
      grpc: hostPort.default('127.0.0.1:7443'),
      http: hostPort.default('127.0.0.1:7080'),
    })
    .prefault(ALL_DEFAULTS),
  /** TLS for both listeners. Required to serve gRPC (mTLS is the default identity). */
  tls: tlsSchema.optional(),
  /** This process's audit chain id; default `<hostname>-<random at start>`. A configured id is held by a lease. */
  node_id: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-" only, at most 64')
    .optional(),
  storage: z
    .strictObject({
      /** sqlite (embedded, the default) or postgres (a cluster of replicas). */
      driver: z.enum(['sqlite', 'postgres']).default('sqlite'),
      /** sqlite: the database file (audit rows, signing keys, revocations). Default ./data/keybroker.db */
      path: nonEmpty.optional(),
      /** postgres: postgres://user@host:5432/db (keep the password in password_file). */
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
        .optional(),
      password_file: nonEmpty.optional(),
      pool_size: z.number().int().min(1).max(200).default(10),
      statement_timeout: duration('2s'),
      /** Apply pending schema migrations at start (else `keybroker storage migrate`). */
      auto_migrate: z.boolean().default(true),
      /** Where signed audit checkpoints are appended (outside the database). Default for sqlite: `<name>.checkpoints` beside the database. */
      checkpoint_file: nonEmpty.optional(),
      /** A signed checkpoint every `rows` rows or every `interval` when the log moved, whichever first. */
      checkpoint_every: z
        .strictObject({ rows: z.number().int().min(1).default(1000), interval: duration('10s') })
        .prefault(ALL_DEFAULTS),
      /** Not ready when the database's filesystem has less free space than this (MiB; sqlite). */
      min_free_mb: z.number().int().min(0).default(64),
      tls: z.strictObject({ ca_file: nonEmpty }).optional(),
    })
    .prefault(ALL_DEFAULTS)
    .superRefine((storage, ctx) => {
      if (storage.driver === 'postgres' && !storage.url)
        ctx.addIssue({
          code: 'custom',
          path: ['url'],
          message: 'driver postgres needs url (postgres://user@host:5432/db)',
        })
      if (storage.driver === 'sqlite' && storage.url)
        ctx.addIssue({
          code: 'custom',
          path: ['url'],
          message: 'url is for driver postgres; sqlite uses path',
        })
    }),
  audit: z
    .strictObject({
      /** Deprecated alias of storage.path. */
      path: nonEmpty.optional(),
      /** Rows older than this many days are pruned behind a checkpoint. */
      retention_days: z.number().int().min(1).default(90),
      /** How long a write waits on a locked database before the call fails UNAVAILABLE. */
      write_timeout: duration('2s'),
      /** A WatchExchanges stream that stops reading is dropped once the log is this many rows ahead of it. */
      watch_max_lag: z.number().int().min(1).default(10000),
    })
    .prefault(ALL_DEFAULTS),
  keys: z
    .strictObject({
      algorithm: z.enum(['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256']).default('ES256'),
      /** A new signing key takes over after this long. */
      rotation_period: duration('24h'),
      /** A new key is in JWKS this long before it signs, so verifiers' caches pick it up. */
      publish_ahead: duration('5m'),
      /** 32 random bytes (base64) encrypting stored private keys; created 0600 if absent. */
      kek_file: nonEmpty.default('./data/kek'),
    })
    .prefault(ALL_DEFAULTS),
  trust: z.strictObject({ oidc: z.array(trustedIssuerSchema).default([]) }).prefault(ALL_DEFAULTS),
  /**
   * Who may call the Admin service: a SPIFFE ID (matches mTLS callers only), or
   * `{ issuer: <trust.oidc name>, subject: <sub> }` for a workload-token caller of that one issuer.
   */
  admins: z.array(adminEntrySchema).default([]),
  cache: z
    .strictObject({
      ttl: duration('60s'),
      stale_ttl: duration('5m'),
      max_bytes: z.number().int().positive().default(1048576),
    })
    .prefault(ALL_DEFAULTS),
  secrets: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/), secretSchema).default({}),
  providers: z.record(z.string(), providerSchema).default({}),
  routes: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/), routeSchema).default({}),
  grants: z.array(grantSchema).default([]),
  /** Bounds on slow, idle and numerous client connections (both listeners); applied at start. */
  limits: limitsSchema.prefault(ALL_DEFAULTS),
  /** Alert rules over the audit log and the webhooks they are POSTed to (src/config/alerts_schema.ts). */
  alerts: alertsSchema.optional(),
  metrics: metricsSchema.prefault(ALL_DEFAULTS),

  /** `reflection: true` serves gRPC server reflection (grpcurl, Postman); off by default. */
  server: z.strictObject({ reflection: z.boolean().default(false) }).prefault(ALL_DEFAULTS),
  /**
   * `otlp_endpoint`: export a span per exchange as OTLP/HTTP JSON to `{otlp_endpoint}/v1/traces`
   * (e.g. an OpenTelemetry Collector at http://127.0.0.1:4318); absent = tracing off.
   */
  telemetry: z
    .strictObject({
      otlp_endpoint: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
      service_name: nonEmpty.default('keybroker'),
    })
    .prefault(ALL_DEFAULTS),
})

type ParsedConfig = z.output<typeof configSchema>

export type BrokerConfig = Omit<ParsedConfig, 'audit' | 'storage'> & {
  /** `audit.path` is resolved into storage.path (and kept here, for old callers, as the same file). */
  audit: Omit<ParsedConfig['audit'], 'path'> & { path: string }
  storage: ParsedConfig['storage'] & { path: string }
  /** Absolute path of the file this config came from (relative paths inside resolve against its folder). */
  sourceFile: string
  /** Deprecations and risky settings worth a warning at start and in `config check`. */
  warnings: string[]
}
export type GrantConfig = z.output<typeof grantSchema>
export type AdminEntry = z.output<typeof adminEntrySchema>
export type AdminRole = (typeof ADMIN_ROLES)[number]
export type ApproverEntry = z.output<typeof approverSchema>
export type ApprovalConfig = z.output<typeof approvalSchema>
export type GrantTokenConfig = z.output<typeof grantTokenSchema>
export type TrustedIssuerConfig = z.output<typeof trustedIssuerSchema>
export type SecretConfig = z.output<typeof secretSchema>
export type ProviderConfig = z.output<typeof providerSchema>
export type RouteConfig = z.output<typeof routeSchema>
