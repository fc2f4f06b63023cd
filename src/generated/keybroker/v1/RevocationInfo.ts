// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface RevocationInfo {
  'token_id'?: (string);
  'subject'?: (string);
  'issuer'?: (string);
  'kid'?: (string);
  'reason'?: (string);
  'not_after'?: (number | string | Long);
  'revoked_at'?: (number | string | Long);
}

export interface RevocationInfo__Output {
  'token_id': (string);
  'subject': (string);
  'issuer': (string);
  'kid': (string);
  'reason': (string);
  'not_after': (number);
  'revoked_at': (number);
}
