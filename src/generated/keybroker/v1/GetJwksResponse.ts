// Original file: proto/keybroker/v1/broker.proto


export interface GetJwksResponse {
  'jwks_json'?: (string);
}

export interface GetJwksResponse__Output {
  'jwks_json': (string);
}
