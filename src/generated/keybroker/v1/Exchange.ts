// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface Exchange {
  'seq'?: (number | string | Long);
  'id'?: (string);
  'ts_ms'?: (number | string | Long);
  'kind'?: (string);
  'subject'?: (string);
  'auth_method'?: (string);
  'issuer'?: (string);
  'peer'?: (string);
  'cert_thumbprint'?: (string);
  'audience'?: (string);
  'scopes'?: (string);
  'ttl'?: (number | string | Long);
  'secret_name'?: (string);
  'route'?: (string);
  'decision'?: (string);
  'reason'?: (string);
  'token_id'?: (string);
  'expires_at'?: (number | string | Long);
  'latency_us'?: (number | string | Long);
  'prev_hash'?: (string);
  'hash'?: (string);
  'detail'?: (string);
  'node_id'?: (string);
  'run_id'?: (string);
  'tool_call_id'?: (string);
  'approval_id'?: (string);
  'trace_id'?: (string);
  'grant_name'?: (string);
  'cursor'?: (string);
}

export interface Exchange__Output {
  'seq': (number);
  'id': (string);
  'ts_ms': (number);
  'kind': (string);
  'subject': (string);
  'auth_method': (string);
  'issuer': (string);
  'peer': (string);
  'cert_thumbprint': (string);
  'audience': (string);
  'scopes': (string);
  'ttl': (number);
  'secret_name': (string);
  'route': (string);
  'decision': (string);
  'reason': (string);
  'token_id': (string);
  'expires_at': (number);
  'latency_us': (number);
  'prev_hash': (string);
  'hash': (string);
  'detail': (string);
  'node_id': (string);
  'run_id': (string);
  'tool_call_id': (string);
  'approval_id': (string);
  'trace_id': (string);
  'grant_name': (string);
  'cursor': (string);
}
