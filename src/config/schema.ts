import { z } from 'zod'
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
    /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._~!$&'()+,;=:@-]+)*(\/\*)?$/,
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

export const trustedIssuerSchema = z.strictObject({
  /** Name grants refer to in `match.issuer`. */
  name: nonEmpty,
  /** kubernetes | github-actions | generic: how subject and attributes come from claims. */
  preset: z.enum(['kubernetes', 'github-actions', 'generic']).default('generic'),
  /** Exact `iss` the tokens must carry. */
  issuer: httpsUrl,
  /** Value the token's `aud` must contain. */
  audience: nonEmpty,
  /** JWKS location; when absent it is discovered from `<issuer>/.well-known/openid-configuration`. */
  jwks_uri: httpsUrl.optional(),
  /** Allowed signature algorithms (asymmetric only). */
  algorithms: z
    .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
    .min(1)
    .default(['RS256', 'ES256']),
  /** Refuse tokens whose `iat` is older than this. */
  max_token_age: duration().optional(),
  /** Clock skew allowed on exp/nbf, at most 60s. */
  leeway: duration('30s').refine((s) => s <= 60, 'leeway must be at most 60s'),
  /** claim (dotted path allowed) → attribute name that grants can match. */
  attributes: z.record(z.string(), nonEmpty).default({}),
  /** Extra CA (PEM file) for the issuer's HTTPS endpoints. */
  ca_file: nonEmpty.optional(),
  /** Deadline for one discovery or JWKS request; the issuer down → UNAVAILABLE after this. */
  fetch_timeout: duration('5s'),
})

export const adminEntrySchema = z.union([
  z.string().regex(/^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._~!$&'()+,;=:@-]+)*$/, {
    message: 'expected a SPIFFE ID (an OIDC admin is written { issuer: <trust name>, subject: <sub> })',
  }),
  z.strictObject({ issuer: nonEmpty, subject: nonEmpty }),
])

export const grantTokenSchema = z.strictObject({
  /** Audience of the minted token (`proxy:<route>` for the injection proxy). */
  audience: nonEmpty,
  /** Scopes a caller may request for this audience. */
  scopes: z.array(nonEmpty).default([]),
  /** Lifetime when the request says 0. */
  default_ttl: duration('5m'),
  /** Longer requests are capped to this. */
  max_ttl: duration('1h'),
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

export const providerSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('vault'),
    address: httpsUrl,
    /** Vault Enterprise / HCP namespace. */
    namespace: nonEmpty.optional(),
    ca_file: nonEmpty.optional(),
    timeout: duration('5s'),
    auth: vaultAuthSchema,
  }),
  z.strictObject({
    type: z.literal('aws-secrets-manager'),
    region: nonEmpty,
    /** Override endpoint (VPC endpoint, LocalStack). */
    endpoint: httpsUrl.optional(),
    ca_file: nonEmpty.optional(),
    timeout: duration('5s'),
    max_attempts: z.number().int().min(1).max(10).default(3),
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
  audit: z
    .strictObject({
      /** SQLite file holding audit rows, signing keys and revocations. */
      path: nonEmpty.default('./data/keybroker.db'),
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
  server: z
    .strictObject({
      /** Serve gRPC server reflection (grpcurl, Postman list the services): off unless asked for. */
      reflection: z.boolean().default(false),
    })
    .prefault(ALL_DEFAULTS),
})

export type BrokerConfig = z.output<typeof configSchema> & {
  /** Absolute path of the file this config came from (relative paths inside resolve against its folder). */
  sourceFile: string
}
export type GrantConfig = z.output<typeof grantSchema>
export type AdminEntry = z.output<typeof adminEntrySchema>
export type GrantTokenConfig = z.output<typeof grantTokenSchema>
export type TrustedIssuerConfig = z.output<typeof trustedIssuerSchema>
export type SecretConfig = z.output<typeof secretSchema>
export type ProviderConfig = z.output<typeof providerSchema>
export type RouteConfig = z.output<typeof routeSchema>
