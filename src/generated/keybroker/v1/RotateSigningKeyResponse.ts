// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface RotateSigningKeyResponse {
  'new_kid'?: (string);
  'activates_at'?: (number | string | Long);
  'published_kids'?: (string)[];
}

export interface RotateSigningKeyResponse__Output {
  'new_kid': (string);
  'activates_at': (number);
  'published_kids': (string)[];
}
