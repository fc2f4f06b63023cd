import { BrokerError } from '../../errors.js'
import type { RawTask } from '../../guardrails/task.js'
import { OAuthRefusal } from './errors.js'
import { printable } from './form.js'

export const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const GRANT_CLIENT_CREDENTIALS = 'client_credentials'
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt'
export const TOKEN_TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token'
export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'
export const CLIENT_ASSERTION_JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** Token types that name a workload JWT from a trusted issuer (Kubernetes and GitHub call theirs ID tokens). */
const WORKLOAD_TOKEN_TYPES = new Set([TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN])
/** What we issue is an access token, and it is a JWT: a client may ask for either. */
const ISSUABLE_TOKEN_TYPES = new Set([TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT])

/** What the caller asked for; `audience` may be '' (policy or the parent decides). */
interface Target {
  audience: string
  scopes: string[]
  /** Extension parameters `run_id`, `tool_call_id`, `purpose` (agent guardrails); validated by the exchange. */
  task?: RawTask
  /** Extension parameter `max_uses` (proxy requests the token may make); 0 = the grant's. */
  maxUses: number
}

/** Task context form parameters, named as in the proto's TaskContext. */
const TASK_PARAMETERS = ['run_id', 'tool_call_id', 'purpose'] as const

/** A token request, validated as far as the form alone allows; identity and policy come after. */
export type TokenRequest =
  | (Target & { grant: 'client_credentials'; clientId?: string })
  | (Target & { grant: 'token_exchange'; subjectToken: string })
  | (Target & {
      grant: 'delegation'
      parentToken: string
      /** RFC 7523 client authentication for a caller without a certificate. */
      clientAssertion?: string
      actorToken?: string
      actor: string
    })

/**
 * Form parameters → TokenRequest. `brokerIssuer` lets a subject_token whose type contradicts it be
 * refused by name (a broker token sent as `jwt`, or a workload JWT sent as `access_token`).
 * Throws OAuthRefusal.
 */
export function parseTokenRequest(form: ReadonlyMap<string, string>, brokerIssuer: string): TokenRequest {
  const grantType = form.get('grant_type')
  if (grantType === undefined) {
    throw invalidRequest(
      `grant_type is required: ${GRANT_TOKEN_EXCHANGE} (RFC 8693) or ${GRANT_CLIENT_CREDENTIALS} (with a client certificate)`,
    )
  }
  if (form.has('client_secret')) {
    throw invalidClient(
      'client_secret is not accepted: authenticate with a client certificate (tls_client_auth) or a client_assertion',
    )
  }
  if (grantType === GRANT_CLIENT_CREDENTIALS) return clientCredentials(form)
  if (grantType === GRANT_TOKEN_EXCHANGE) return tokenExchange(form, brokerIssuer)
  throw new OAuthRefusal(
    { status: 400, error: 'unsupported_grant_type' },
    new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `grant_type "${printable(grantType)}" is not supported; use ${GRANT_TOKEN_EXCHANGE} or ${GRANT_CLIENT_CREDENTIALS}`,
    ),
  )
}

/** Which kind of exchange the form asks for, as early as it can be told (for the audit row of a refusal). */
export function auditKindOf(form: ReadonlyMap<string, string> | undefined): 'issue' | 'delegate' {
  return form?.get('subject_token_type') === TOKEN_TYPE_ACCESS_TOKEN ? 'delegate' : 'issue'
}

function clientCredentials(form: ReadonlyMap<string, string>): TokenRequest {
  if (form.has('client_assertion')) {
    throw invalidClient(
      'client_credentials authenticates the client by its TLS certificate (tls_client_auth), not a client_assertion',
    )
  }
  return { grant: 'client_credentials', ...target(form), clientId: form.get('client_id') }
}

function tokenExchange(form: ReadonlyMap<string, string>, brokerIssuer: string): TokenRequest {
  const subjectToken = form.get('subject_token')
  if (subjectToken === undefined) {
    throw invalidRequest('subject_token is required for token exchange (RFC 8693 section 2.1)')
  }
  const subjectType = form.get('subject_token_type')
  if (subjectType === undefined) {
    throw invalidRequest(
      `subject_token_type is required: ${TOKEN_TYPE_JWT} for a workload JWT, ${TOKEN_TYPE_ACCESS_TOKEN} for a keybroker token to delegate`,
    )
  }
  const requested = form.get('requested_token_type')
  if (requested !== undefined && !ISSUABLE_TOKEN_TYPES.has(requested)) {
    throw invalidRequest(
      `requested_token_type "${printable(requested)}" cannot be issued; this broker issues ${TOKEN_TYPE_ACCESS_TOKEN} (a JWT)`,
    )
  }
  const fromBroker = issuedBy(subjectToken) === brokerIssuer
  if (subjectType === TOKEN_TYPE_ACCESS_TOKEN) {
    if (!fromBroker) {
      throw invalidRequest(
        `subject_token_type is ${TOKEN_TYPE_ACCESS_TOKEN} but subject_token is not a token of this broker; a workload JWT is ${TOKEN_TYPE_JWT}`,
      )
    }
    return delegation(form, subjectToken)
  }
  if (!WORKLOAD_TOKEN_TYPES.has(subjectType)) {
    throw invalidRequest(
      `subject_token_type "${printable(subjectType)}" is not supported; use ${TOKEN_TYPE_JWT} or ${TOKEN_TYPE_ACCESS_TOKEN}`,
    )
  }
  if (fromBroker) {
    throw invalidRequest(
      `subject_token is a keybroker access token, not a workload JWT: send subject_token_type=${TOKEN_TYPE_ACCESS_TOKEN} to delegate it`,
    )
  }
  if (form.has('actor_token') || form.has('actor')) {
    throw invalidRequest(
      'actor_token and actor are only accepted when delegating a keybroker token (subject_token_type access_token)',
    )
  }
  if (form.has('client_assertion')) {
    throw invalidRequest(
      'a workload subject_token authenticates the caller by itself; client_assertion is only used to delegate a keybroker token',
    )
  }
  return { grant: 'token_exchange', ...target(form), subjectToken }
}

function delegation(form: ReadonlyMap<string, string>, parentToken: string): TokenRequest {
  const assertionType = form.get('client_assertion_type')
  const clientAssertion = form.get('client_assertion')
  if ((assertionType === undefined) !== (clientAssertion === undefined)) {
    throw invalidRequest('client_assertion and client_assertion_type go together (RFC 7523 section 2.2)')
  }
  if (assertionType !== undefined && assertionType !== CLIENT_ASSERTION_JWT_BEARER) {
    throw invalidClient(
      `client_assertion_type "${printable(assertionType)}" is not supported; use ${CLIENT_ASSERTION_JWT_BEARER} with your workload JWT`,
    )
  }
  const actorToken = form.get('actor_token')
  const actorType = form.get('actor_token_type')
  if (actorToken !== undefined && (actorType === undefined || !WORKLOAD_TOKEN_TYPES.has(actorType))) {
    throw invalidRequest(
      `actor_token needs actor_token_type=${TOKEN_TYPE_JWT} (the sub-agent's own workload JWT)`,
    )
  }
  if (actorToken === undefined && actorType !== undefined) {
    throw invalidRequest('actor_token_type is given without an actor_token')
  }
  return {
    grant: 'delegation',
    ...target(form),
    parentToken,
    clientAssertion,
    actorToken,
    actor: form.get('actor') ?? '',
  }
}

/** `audience` and/or `resource` (RFC 8693 allows both), one target; `scope` split on spaces. */
function target(form: ReadonlyMap<string, string>): Target {
  const audience = form.get('audience')
  const resource = form.get('resource')
  if (audience !== undefined && resource !== undefined && audience !== resource) {
    throw new OAuthRefusal(
      { status: 400, error: 'invalid_target' },
      new BrokerError(
        'ERR_INVALID_ARGUMENT',
        'audience and resource name different targets; a keybroker token has exactly one audience',
      ),
    )
  }
  const scope = form.get('scope') ?? ''
  return {
    audience: audience ?? resource ?? '',
    scopes: scope.split(' ').filter((s) => s.length > 0),
    task: taskOf(form),
    maxUses: maxUsesOf(form),
  }
}

/** The task context parameters that were sent (undefined when none was). */
function taskOf(form: ReadonlyMap<string, string>): RawTask | undefined {
  const task: RawTask = {}
  for (const name of TASK_PARAMETERS) {
    const value = form.get(name)
    if (value !== undefined) task[name] = value
  }
  return Object.keys(task).length > 0 ? task : undefined
}

/** `max_uses` as decimal digits; range and audience are the exchange's to judge, as over gRPC. */
function maxUsesOf(form: ReadonlyMap<string, string>): number {
  const value = form.get('max_uses')
  if (value === undefined) return 0
  if (!/^[0-9]{1,12}$/.test(value))
    throw invalidRequest(
      `max_uses must be a whole number of proxy requests (0 = the grant default), not "${printable(value)}"`,
    )
  return Number(value)
}

/** The unverified `iss` of a compact JWS, only to tell token types apart; undefined if it is not one. */
function issuedBy(token: string): string | undefined {
  const payload = token.split('.')[1]
  if (payload === undefined || payload.length > 16 * 1024) return undefined
  try {
    const iss = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: unknown }).iss
    return typeof iss === 'string' ? iss : undefined
  } catch {
    return undefined
  }
}

function invalidRequest(message: string): OAuthRefusal {
  return new OAuthRefusal(
    { status: 400, error: 'invalid_request' },
    new BrokerError('ERR_INVALID_ARGUMENT', message),
  )
}

function invalidClient(message: string): OAuthRefusal {
  return new OAuthRefusal(
    { status: 401, error: 'invalid_client' },
    new BrokerError('ERR_INVALID_ARGUMENT', message),
  )
}
