// Original file: proto/keybroker/v1/broker.proto


export interface ListRevocationsRequest {
  'limit'?: (number);
}

export interface ListRevocationsRequest__Output {
  'limit': (number);
}
