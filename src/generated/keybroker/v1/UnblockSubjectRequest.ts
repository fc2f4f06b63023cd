// Original file: proto/keybroker/v1/broker.proto


export interface UnblockSubjectRequest {
  'subject'?: (string);
  'reason'?: (string);
}

export interface UnblockSubjectRequest__Output {
  'subject': (string);
  'reason': (string);
}
