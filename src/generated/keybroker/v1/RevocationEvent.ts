// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface RevocationEvent {
  'token_id'?: (string);
  'subject'?: (string);
  'issuer'?: (string);
  'kid'?: (string);
  'not_after'?: (number | string | Long);
  'cursor'?: (string);
  'descendants'?: (string)[];
}

export interface RevocationEvent__Output {
  'token_id': (string);
  'subject': (string);
  'issuer': (string);
  'kid': (string);
  'not_after': (number);
  'cursor': (string);
  'descendants': (string)[];
}
