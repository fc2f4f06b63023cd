// Original file: proto/keybroker/v1/broker.proto


export interface RotateSigningKeyRequest {
}

export interface RotateSigningKeyRequest__Output {
}
