export { httpCallerCredentials } from '../identity/http_credentials.js'
export {
  PROXY_PREFIX,
  type ProxyHandlerOptions,
  type ProxyLogger,
  proxyHandler,
} from './handler.js'
export { callerResponseHeaders, upstreamRequestHeaders } from './headers.js'
export { errorName, HTTP_STATUS } from './http_status.js'
export { UpstreamPool } from './upstream.js'
