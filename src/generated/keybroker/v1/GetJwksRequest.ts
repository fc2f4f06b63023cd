// Original file: proto/keybroker/v1/broker.proto


export interface GetJwksRequest {
}

export interface GetJwksRequest__Output {
}
