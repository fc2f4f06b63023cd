// Original file: proto/keybroker/v1/broker.proto

import type { Approval as _keybroker_v1_Approval, Approval__Output as _keybroker_v1_Approval__Output } from '../../keybroker/v1/Approval.js';

export interface DecideApprovalResponse {
  'approval'?: (_keybroker_v1_Approval | null);
  'exchange_id'?: (string);
}

export interface DecideApprovalResponse__Output {
  'approval': (_keybroker_v1_Approval__Output | null);
  'exchange_id': (string);
}
