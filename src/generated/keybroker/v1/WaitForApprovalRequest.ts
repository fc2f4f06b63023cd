// Original file: proto/keybroker/v1/broker.proto


export interface WaitForApprovalRequest {
  'approval_id'?: (string);
}

export interface WaitForApprovalRequest__Output {
  'approval_id': (string);
}
