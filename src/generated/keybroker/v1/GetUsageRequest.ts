// Original file: proto/keybroker/v1/broker.proto


export interface GetUsageRequest {
  'since'?: (string);
  'unused_for'?: (string);
}

export interface GetUsageRequest__Output {
  'since': (string);
  'unused_for': (string);
}
