import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { BrokerConfig } from '../config/index.js'
import type { Exchange } from '../exchange/index.js'
import type { SigningKeys } from '../issuer/signing_keys.js'
import { PROXY_PREFIX, proxyHandler, type UpstreamPool } from '../proxy/index.js'
import { type HttpRoute, type HttpRoutes, sendJson } from './http_listener.js'
import { INTROSPECTION_PATH, introspectionRoute } from './introspect_route.js'
import type { BrokerMetrics } from './metrics.js'
import { oauthRoutes } from './oauth/index.js'
import type { Readiness } from './readiness.js'

export interface HttpRouteDeps {
  config: BrokerConfig
  clock: Clock
  keys: SigningKeys
  exchange: Exchange
  metrics: BrokerMetrics
  readiness: Readiness
  upstreams: UpstreamPool
  logger: Logger
  onUnexpected: (err: unknown) => void
  /** GET /audit/checkpoint: the newest signed checkpoint and its public key */
  checkpoint: HttpRoute
}

/**
 * Every route of the HTTP listener: JWKS, OAuth token endpoint and discovery, introspection,
 * metrics, health, readiness, and the injection proxy under /proxy/. Health and readiness answer
 * from memory: neither ever waits on storage.
 */
export function brokerHttpRoutes(deps: HttpRouteDeps): HttpRoutes {
  const { config, keys, exchange, metrics, readiness } = deps
  return {
    exact: {
      '/.well-known/jwks.json': (_req, res) => {
        const body = keys.jwksText()
        res.writeHead(200, {
          'content-type': 'application/jwk-set+json',
          'content-length': Buffer.byteLength(body),
          // Short cache: a key published ahead must reach verifiers before it signs.
          'cache-control': `public, max-age=${Math.min(300, Math.max(0, config.keys.publish_ahead / 2))}`,
        })
        res.end(body)
      },
      // POST /oauth2/token and the RFC 8414 / OIDC discovery documents
      ...oauthRoutes({ exchange, clock: deps.clock, onUnexpected: deps.onUnexpected, config }),
      [INTROSPECTION_PATH]: introspectionRoute(exchange),
      '/metrics': async (_req, res) => {
        const { contentType, body } = await metrics.exposition()
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) })
        res.end(body)
      },
      '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
      '/audit/checkpoint': deps.checkpoint,
      '/readyz': (_req, res) => {
        const problem = readiness.problem()
        sendJson(
          res,
          problem ? 503 : 200,
          problem ? { status: 'unavailable', reason: problem } : { status: 'ready' },
        )
      },
    },
    prefix: [
      [
        PROXY_PREFIX,
        proxyHandler({
          exchange: exchange.proxy,
          upstreams: deps.upstreams,
          logger: deps.logger,
          onLeakRedacted: (route, count) => metrics.proxyLeaksRedacted.inc({ route }, count),
        }),
      ],
    ],
  }
}
