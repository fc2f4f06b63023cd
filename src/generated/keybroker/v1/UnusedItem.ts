// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface UnusedItem {
  'kind'?: (string);
  'name'?: (string);
  'last_used'?: (number | string | Long);
}

export interface UnusedItem__Output {
  'kind': (string);
  'name': (string);
  'last_used': (number);
}
