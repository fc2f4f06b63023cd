// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface CountEntry {
  'key'?: (string);
  'count'?: (number | string | Long);
}

export interface CountEntry__Output {
  'key': (string);
  'count': (number);
}
