// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface Approval {
  'id'?: (string);
  'state'?: (string);
  'subject'?: (string);
  'issuer'?: (string);
  'kind'?: (string);
  'audience'?: (string);
  'scopes'?: (string)[];
  'secret_name'?: (string);
  'ttl_seconds'?: (number);
  'grant_name'?: (string);
  'approver'?: (string);
  'reason'?: (string);
  'created_at'?: (number | string | Long);
  'expires_at'?: (number | string | Long);
  'decided_at'?: (number | string | Long);
  'bind_to_certificate'?: (boolean);
  'cert_thumbprint'?: (string);
}

export interface Approval__Output {
  'id': (string);
  'state': (string);
  'subject': (string);
  'issuer': (string);
  'kind': (string);
  'audience': (string);
  'scopes': (string)[];
  'secret_name': (string);
  'ttl_seconds': (number);
  'grant_name': (string);
  'approver': (string);
  'reason': (string);
  'created_at': (number);
  'expires_at': (number);
  'decided_at': (number);
  'bind_to_certificate': (boolean);
  'cert_thumbprint': (string);
}
