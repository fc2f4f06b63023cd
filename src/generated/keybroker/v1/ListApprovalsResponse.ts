// Original file: proto/keybroker/v1/broker.proto

import type { Approval as _keybroker_v1_Approval, Approval__Output as _keybroker_v1_Approval__Output } from '../../keybroker/v1/Approval.js';

export interface ListApprovalsResponse {
  'approvals'?: (_keybroker_v1_Approval)[];
}

export interface ListApprovalsResponse__Output {
  'approvals': (_keybroker_v1_Approval__Output)[];
}
