/**
 * keybroker client SDK (`@keybroker/client`; the broker package re-exports it as `keybroker/client`
 * for one release): tokens, secrets and delegation for services and agent runtimes. Shares only the
 * proto (embedded at build time) and the error-code list (`src/errors/codes.ts`) with the server.
 */

export { BROKER_ERROR_CODES, CLIENT_ERROR_CODES } from '../errors/codes.js'
export {
  BrokerClient,
  type BrokerClientOptions,
  type BrokerSecret,
  type DelegateRequest,
  type TaskContext,
  type TokenRequest,
  type WhoAmI,
} from './broker_client.js'
export { BrokerError, type BrokerErrorCode, BudgetExhaustedError, RateLimitedError } from './errors.js'
export type { BrokerToken } from './token_cache.js'
