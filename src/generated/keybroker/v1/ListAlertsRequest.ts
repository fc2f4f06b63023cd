// Original file: proto/keybroker/v1/broker.proto


export interface ListAlertsRequest {
  'limit'?: (number);
  'state'?: (string);
}

export interface ListAlertsRequest__Output {
  'limit': (number);
  'state': (string);
}
