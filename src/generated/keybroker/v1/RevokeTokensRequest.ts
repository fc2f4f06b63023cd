// Original file: proto/keybroker/v1/broker.proto


export interface RevokeTokensRequest {
  'token_id'?: (string);
  'subject'?: (string);
  'reason'?: (string);
}

export interface RevokeTokensRequest__Output {
  'token_id': (string);
  'subject': (string);
  'reason': (string);
}
