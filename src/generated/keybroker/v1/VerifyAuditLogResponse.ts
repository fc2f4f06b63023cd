// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface VerifyAuditLogResponse {
  'ok'?: (boolean);
  'rows_checked'?: (number | string | Long);
  'first_bad_seq'?: (number | string | Long);
  'first_bad_id'?: (string);
  'problem'?: (string);
  'first_bad_node_id'?: (string);
}

export interface VerifyAuditLogResponse__Output {
  'ok': (boolean);
  'rows_checked': (number);
  'first_bad_seq': (number);
  'first_bad_id': (string);
  'problem': (string);
  'first_bad_node_id': (string);
}
