// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface FetchSecretResponse {
  'value'?: (Buffer | Uint8Array | string);
  'version'?: (string);
  'expires_at'?: (number | string | Long);
  'exchange_id'?: (string);
}

export interface FetchSecretResponse__Output {
  'value': (Buffer);
  'version': (string);
  'expires_at': (number);
  'exchange_id': (string);
}
