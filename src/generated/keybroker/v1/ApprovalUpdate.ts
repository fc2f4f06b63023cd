// Original file: proto/keybroker/v1/broker.proto

import type { IssueTokenResponse as _keybroker_v1_IssueTokenResponse, IssueTokenResponse__Output as _keybroker_v1_IssueTokenResponse__Output } from '../../keybroker/v1/IssueTokenResponse.js';
import type { FetchSecretResponse as _keybroker_v1_FetchSecretResponse, FetchSecretResponse__Output as _keybroker_v1_FetchSecretResponse__Output } from '../../keybroker/v1/FetchSecretResponse.js';
import type { Long } from '@grpc/proto-loader';

export interface ApprovalUpdate {
  'state'?: (string);
  'token'?: (_keybroker_v1_IssueTokenResponse | null);
  'secret'?: (_keybroker_v1_FetchSecretResponse | null);
  'reason'?: (string);
  'approver'?: (string);
  'approval_id'?: (string);
  'expires_at'?: (number | string | Long);
}

export interface ApprovalUpdate__Output {
  'state': (string);
  'token': (_keybroker_v1_IssueTokenResponse__Output | null);
  'secret': (_keybroker_v1_FetchSecretResponse__Output | null);
  'reason': (string);
  'approver': (string);
  'approval_id': (string);
  'expires_at': (number);
}
