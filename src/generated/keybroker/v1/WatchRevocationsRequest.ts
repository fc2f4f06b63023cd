// Original file: proto/keybroker/v1/broker.proto


export interface WatchRevocationsRequest {
  'cursor'?: (string);
}

export interface WatchRevocationsRequest__Output {
  'cursor': (string);
}
