// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface IssueTokenResponse {
  'token'?: (string);
  'token_type'?: (string);
  'expires_at'?: (number | string | Long);
  'scopes'?: (string)[];
  'audience'?: (string);
  'token_id'?: (string);
  'exchange_id'?: (string);
  'max_uses'?: (number);
}

export interface IssueTokenResponse__Output {
  'token': (string);
  'token_type': (string);
  'expires_at': (number);
  'scopes': (string)[];
  'audience': (string);
  'token_id': (string);
  'exchange_id': (string);
  'max_uses': (number);
}
