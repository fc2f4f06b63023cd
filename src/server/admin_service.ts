import * as grpc from '@grpc/grpc-js'
import type { AdminHandlers } from '../generated/keybroker/v1/Admin.js'

const unimplemented = (method: string) => ({
  code: grpc.status.UNIMPLEMENTED,
  details: `Admin.${method} is not available in this build`,
})

/** The Admin service (operators). Methods land with their issue; until then they say so. */
export function adminHandlers(): AdminHandlers {
  return {
    ListExchanges: (_call, callback) => callback(unimplemented('ListExchanges')),
    WatchExchanges: (call) => call.emit('error', unimplemented('WatchExchanges')),
    RevokeTokens: (_call, callback) => callback(unimplemented('RevokeTokens')),
    VerifyAuditLog: (_call, callback) => callback(unimplemented('VerifyAuditLog')),
    RotateSigningKey: (_call, callback) => callback(unimplemented('RotateSigningKey')),
  }
}
