/**
 * keybroker client SDK (`keybroker/client`): tokens, secrets and delegation for services and agent
 * runtimes. Shares only the proto with the server.
 */
export {
  BrokerClient,
  type BrokerClientOptions,
  type BrokerSecret,
  type DelegateRequest,
  type TokenRequest,
  type WhoAmI,
} from './broker_client.js'
export { BrokerError, type BrokerErrorCode } from './errors.js'
export type { BrokerToken } from './token_cache.js'
