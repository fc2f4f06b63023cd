// Original file: proto/keybroker/v1/broker.proto


export interface RetireSigningKeyRequest {
  'kid'?: (string);
  'reason'?: (string);
}

export interface RetireSigningKeyRequest__Output {
  'kid': (string);
  'reason': (string);
}
