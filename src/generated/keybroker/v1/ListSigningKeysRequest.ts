// Original file: proto/keybroker/v1/broker.proto


export interface ListSigningKeysRequest {
}

export interface ListSigningKeysRequest__Output {
}
