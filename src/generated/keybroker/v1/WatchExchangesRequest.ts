// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface WatchExchangesRequest {
  'subject'?: (string);
  'kind'?: (string);
  'decision'?: (string);
  'since'?: (string);
  'until'?: (string);
  'after_seq'?: (number | string | Long);
  'audience'?: (string);
  'secret_name'?: (string);
  'route'?: (string);
  'token_id'?: (string);
  'peer'?: (string);
  'run_id'?: (string);
  'subject_prefix'?: (string);
  'cursor'?: (string);
}

export interface WatchExchangesRequest__Output {
  'subject': (string);
  'kind': (string);
  'decision': (string);
  'since': (string);
  'until': (string);
  'after_seq': (number);
  'audience': (string);
  'secret_name': (string);
  'route': (string);
  'token_id': (string);
  'peer': (string);
  'run_id': (string);
  'subject_prefix': (string);
  'cursor': (string);
}
