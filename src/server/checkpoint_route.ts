import type { CheckpointWriter } from '../audit/checkpoint/index.js'
import { type HttpRoute, sendJson } from './http_listener.js'

/**
 * GET /audit/checkpoint: `{ "checkpoint": "<compact JWS>", "key": <public JWK> }`, the newest
 * signed checkpoint, for witnesses that keep copies outside this host. Public, like JWKS: it holds
 * hashes and sequence numbers, nothing about any exchange.
 */
export function checkpointRoute(checkpoints: CheckpointWriter | undefined): HttpRoute {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return sendJson(res, 405, { error: 'method_not_allowed', message: 'use GET' })
    const latest = checkpoints?.latest
    if (!latest)
      return sendJson(res, 404, { error: 'not_found', message: 'no checkpoint has been written yet' })
    sendJson(res, 200, { checkpoint: latest.checkpoint, key: latest.key }, { 'cache-control': 'no-store' })
  }
}
