/**
 * keybroker client SDK (`keybroker/client`): tokens, secrets and delegation for services and agent
 * runtimes. Shares only the proto with the server.
 */
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
