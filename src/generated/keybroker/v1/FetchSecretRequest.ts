// Original file: proto/keybroker/v1/broker.proto


export interface FetchSecretRequest {
  'name'?: (string);
}

export interface FetchSecretRequest__Output {
  'name': (string);
}
