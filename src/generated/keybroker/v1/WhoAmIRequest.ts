// Original file: proto/keybroker/v1/broker.proto


export interface WhoAmIRequest {
}

export interface WhoAmIRequest__Output {
}
