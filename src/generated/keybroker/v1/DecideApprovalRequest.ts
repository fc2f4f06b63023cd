// Original file: proto/keybroker/v1/broker.proto


export interface DecideApprovalRequest {
  'approval_id'?: (string);
  'approve'?: (boolean);
  'reason'?: (string);
}

export interface DecideApprovalRequest__Output {
  'approval_id': (string);
  'approve': (boolean);
  'reason': (string);
}
