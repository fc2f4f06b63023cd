// Original file: proto/keybroker/v1/broker.proto


export interface RevokeTokensRequest {
  'token_id'?: (string);
  'subject'?: (string);
  'reason'?: (string);
  'block'?: (boolean);
}

export interface RevokeTokensRequest__Output {
  'token_id': (string);
  'subject': (string);
  'reason': (string);
  'block': (boolean);
}
