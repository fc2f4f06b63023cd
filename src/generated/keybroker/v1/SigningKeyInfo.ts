// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface SigningKeyInfo {
  'kid'?: (string);
  'alg'?: (string);
  'created_at'?: (number | string | Long);
  'activates_at'?: (number | string | Long);
  'retired_at'?: (number | string | Long);
  'state'?: (string);
}

export interface SigningKeyInfo__Output {
  'kid': (string);
  'alg': (string);
  'created_at': (number);
  'activates_at': (number);
  'retired_at': (number);
  'state': (string);
}
