// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface UsageRow {
  'grant_name'?: (string);
  'subject'?: (string);
  'allowed'?: (number | string | Long);
  'denied'?: (number | string | Long);
  'last_used'?: (number | string | Long);
  'distinct_peers'?: (number);
  'live_tokens'?: (number);
}

export interface UsageRow__Output {
  'grant_name': (string);
  'subject': (string);
  'allowed': (number);
  'denied': (number);
  'last_used': (number);
  'distinct_peers': (number);
  'live_tokens': (number);
}
