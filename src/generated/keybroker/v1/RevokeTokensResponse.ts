// Original file: proto/keybroker/v1/broker.proto


export interface RevokeTokensResponse {
  'revoked'?: (number);
  'token_ids'?: (string)[];
  'exchange_id'?: (string);
}

export interface RevokeTokensResponse__Output {
  'revoked': (number);
  'token_ids': (string)[];
  'exchange_id': (string);
}
