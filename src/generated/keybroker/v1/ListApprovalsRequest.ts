// Original file: proto/keybroker/v1/broker.proto


export interface ListApprovalsRequest {
  'state'?: (string);
  'subject'?: (string);
  'limit'?: (number);
}

export interface ListApprovalsRequest__Output {
  'state': (string);
  'subject': (string);
  'limit': (number);
}
