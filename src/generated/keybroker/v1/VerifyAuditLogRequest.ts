// Original file: proto/keybroker/v1/broker.proto


export interface VerifyAuditLogRequest {
}

export interface VerifyAuditLogRequest__Output {
}
