// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface StatsBucket {
  'start'?: (number | string | Long);
  'allow'?: (number | string | Long);
  'deny'?: (number | string | Long);
  'error'?: (number | string | Long);
  'pending'?: (number | string | Long);
  'latency_p50_us'?: (number | string | Long);
  'latency_p99_us'?: (number | string | Long);
}

export interface StatsBucket__Output {
  'start': (number);
  'allow': (number);
  'deny': (number);
  'error': (number);
  'pending': (number);
  'latency_p50_us': (number);
  'latency_p99_us': (number);
}
