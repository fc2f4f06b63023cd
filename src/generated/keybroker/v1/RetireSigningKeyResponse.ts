// Original file: proto/keybroker/v1/broker.proto


export interface RetireSigningKeyResponse {
  'kid'?: (string);
  'exchange_id'?: (string);
  'published_kids'?: (string)[];
}

export interface RetireSigningKeyResponse__Output {
  'kid': (string);
  'exchange_id': (string);
  'published_kids': (string)[];
}
