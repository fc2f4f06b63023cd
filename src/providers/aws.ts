import { Agent } from 'node:https'
import {
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager'
import { BrokerError } from '../errors.js'
import { withDeadline } from './lib/deadline.js'
import { pickKey } from './lib/extract.js'
import type { Provider, SecretRef, SecretValue } from './provider.js'

export interface AwsSecretsManagerProviderOptions {
  name: string
  region: string
  /** Override the service endpoint (VPC endpoint, LocalStack, test fakes). */
  endpoint?: string
  /** Bound on one `get()`, the SDK's retries included. */
  timeoutMs: number
  /** SDK attempts per call (standard retry mode, exponential backoff); default 3. */
  maxAttempts?: number
  /** PEM bundle trusted for the endpoint's certificate (e.g. a TLS-inspecting proxy or private endpoint). */
  caPem?: string
}

/** Error names that mean "the caller's identity or key policy says no". */
const REFUSED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'MissingAuthenticationTokenException',
  'DecryptionFailure',
])
const UNAVAILABLE = new Set([
  'ThrottlingException',
  'InternalServiceError',
  'ServiceUnavailable',
  'RequestLimitExceeded',
])
const TIMEOUT = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException'])

/**
 * Secrets from AWS Secrets Manager (`GetSecretValue`), credentials from the SDK's default chain.
 *
 * @example
 * const aws = new AwsSecretsManagerProvider({ name: 'aws', region: 'eu-west-1', timeoutMs: 5000 })
 * const { value } = await aws.get({ name: 'openai-key', secretId: 'prod/openai', jsonKey: 'api_key' })
 */
export class AwsSecretsManagerProvider implements Provider {
  readonly type = 'aws-secrets-manager' as const
  readonly name: string
  readonly #opts: AwsSecretsManagerProviderOptions
  readonly #client: SecretsManagerClient

  constructor(opts: AwsSecretsManagerProviderOptions) {
    this.name = opts.name
    this.#opts = opts
    this.#client = new SecretsManagerClient({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      maxAttempts: opts.maxAttempts ?? 3,
      // the SDK builds its NodeHttpHandler from these options, so @smithy/node-http-handler needs no import
      requestHandler: {
        connectionTimeout: opts.timeoutMs,
        requestTimeout: opts.timeoutMs,
        ...(opts.caPem ? { httpsAgent: new Agent({ ca: opts.caPem, keepAlive: true }) } : {}),
      },
    })
  }

  async get(ref: SecretRef, signal?: AbortSignal): Promise<SecretValue> {
    const where = `secret ${ref.name} in aws-secrets-manager provider '${this.name}'`
    if (!ref.secretId)
      throw new BrokerError('ERR_FAILED_PRECONDITION', `${where} has no secret_id configured`)
    const command = new GetSecretValueCommand({
      SecretId: ref.secretId,
      ...(ref.versionStage ? { VersionStage: ref.versionStage } : {}),
    })
    let out: GetSecretValueCommandOutput
    try {
      out = await withDeadline(
        (abortSignal) => this.#client.send(command, { abortSignal }),
        this.#opts.timeoutMs,
        signal,
        `aws-secrets-manager provider '${this.name}' reading secret ${ref.name}`,
      )
    } catch (err) {
      throw err instanceof BrokerError ? err : this.#mapFailure(ref, err)
    }

    let value: Buffer
    if (out.SecretString !== undefined) {
      value = ref.jsonKey
        ? fromJson(out.SecretString, ref.jsonKey, where)
        : Buffer.from(out.SecretString, 'utf8')
    } else if (out.SecretBinary !== undefined) {
      const bytes = Buffer.from(out.SecretBinary)
      value = ref.jsonKey ? fromJson(bytes.toString('utf8'), ref.jsonKey, where) : bytes
    } else {
      throw new BrokerError('ERR_FAILED_PRECONDITION', `${where} has neither SecretString nor SecretBinary`)
    }
    return { value, ...(out.VersionId ? { version: out.VersionId } : {}) }
  }

  async close(): Promise<void> {
    this.#client.destroy()
  }

  #mapFailure(ref: SecretRef, err: unknown): BrokerError {
    const p = `aws-secrets-manager provider '${this.name}'`
    const e = err as {
      name?: string
      message?: string
      code?: string
      $fault?: string
      $metadata?: { httpStatusCode?: number; attempts?: number; requestId?: string }
    }
    const name = e?.name ?? 'Error'
    const status = e?.$metadata?.httpStatusCode
    const attempts = e?.$metadata?.attempts
    // AWS messages name ARNs and principals, not values: fine for logs (cause), not for callers
    const cause = {
      cause: new Error(
        `${name}${status ? ` (HTTP ${status})` : ''}${e?.$metadata?.requestId ? ` request ${e.$metadata.requestId}` : ''}: ${String(e?.message ?? '').slice(0, 300)}`,
      ),
    }
    const tries = attempts && attempts > 1 ? ` after ${attempts} attempts` : ''
    if (name === 'ResourceNotFoundException') {
      return new BrokerError(
        'ERR_UPSTREAM_NOT_FOUND',
        `secret ${ref.name} not found in ${p} at its configured secret_id${ref.versionStage ? ` and version stage` : ''}`,
        cause,
      )
    }
    if (REFUSED.has(name) || status === 403) {
      return new BrokerError(
        'ERR_UPSTREAM_REFUSED',
        `${p} refused access to secret ${ref.name} (${name})`,
        cause,
      )
    }
    if (name === 'CredentialsProviderError') {
      return new BrokerError(
        'ERR_FAILED_PRECONDITION',
        `${p} found no AWS credentials in the default chain, so secret ${ref.name} cannot be fetched`,
        cause,
      )
    }
    if (TIMEOUT.has(name) || e?.code === 'ETIMEDOUT') {
      return new BrokerError(
        'ERR_UPSTREAM_TIMEOUT',
        `${p} did not answer within ${this.#opts.timeoutMs} ms reading secret ${ref.name}${tries}`,
        cause,
      )
    }
    if (UNAVAILABLE.has(name) || e?.$fault === 'server' || (status !== undefined && status >= 500)) {
      return new BrokerError(
        'ERR_UPSTREAM_UNAVAILABLE',
        `${p} is unavailable (${name}${tries}) reading secret ${ref.name}`,
        cause,
      )
    }
    if (status === undefined) {
      return new BrokerError(
        'ERR_UPSTREAM_UNAVAILABLE',
        `${p} is unreachable (${e?.code ?? name}) reading secret ${ref.name}`,
        cause,
      )
    }
    // InvalidRequestException (e.g. scheduled for deletion), InvalidParameterException, ...
    return new BrokerError(
      'ERR_FAILED_PRECONDITION',
      `${p} rejected the read of secret ${ref.name} (${name})`,
      cause,
    )
  }
}

function fromJson(text: string, key: string, where: string): Buffer {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new BrokerError(
      'ERR_FAILED_PRECONDITION',
      `${where} is not JSON, so json_key '${key}' cannot apply`,
    )
  }
  return pickKey(parsed, key, 'json_key', where)
}
