// Original file: proto/keybroker/v1/broker.proto


export interface UnblockSubjectResponse {
  'unblocked'?: (boolean);
  'exchange_id'?: (string);
}

export interface UnblockSubjectResponse__Output {
  'unblocked': (boolean);
  'exchange_id': (string);
}
