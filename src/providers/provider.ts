/**
 * The seam between the exchange and upstream secret stores. Nothing here knows a vendor SDK;
 * `vault.ts` and `aws.ts` each own one; `file.ts` reads a local JSON file.
 */

/** Where a configured secret lives upstream. Built from config, never from caller input. */
export interface SecretRef {
  /** Broker-side secret name (`secrets.<name>` in config); used in messages, never the upstream path. */
  name: string
  /** Vault: full API path after `/v1/` (KV v2: `secret/data/...`). */
  path?: string
  /** Vault / file: one key of the secret's data; without it the whole data object is returned as JSON. */
  field?: string
  /** AWS Secrets Manager: secret name or ARN. */
  secretId?: string
  /** AWS Secrets Manager: `AWSCURRENT` by default. */
  versionStage?: string
  /** AWS Secrets Manager: one key of a JSON SecretString. */
  jsonKey?: string
}

export interface SecretValue {
  value: Buffer
  /** Upstream version (Vault KV v2 metadata.version, AWS VersionId), when the store has one. */
  version?: string
  /** Unix seconds at which the upstream lease ends (Vault dynamic secrets). */
  expiresAt?: number
}

export type ProviderType = 'vault' | 'aws-secrets-manager' | 'file'

export interface Provider {
  /** Config name (`providers.<name>`). */
  readonly name: string
  readonly type: ProviderType
  /**
   * Fetch one secret. Rejects only with BrokerError; messages name the secret and provider and
   * never contain the value or a credential. Settles within the provider's `timeoutMs`.
   */
  get(ref: SecretRef, signal?: AbortSignal): Promise<SecretValue>
  /** Stop timers and release connections. */
  close?(): Promise<void>
}

/** Minimal logger shape (pino-compatible) so providers can say why they re-logged in. */
export interface ProviderLogger {
  warn(obj: object, msg: string): void
}
