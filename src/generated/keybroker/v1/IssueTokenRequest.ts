// Original file: proto/keybroker/v1/broker.proto


export interface IssueTokenRequest {
  'audience'?: (string);
  'scopes'?: (string)[];
  'ttl_seconds'?: (number);
  'bind_to_certificate'?: (boolean);
}

export interface IssueTokenRequest__Output {
  'audience': (string);
  'scopes': (string)[];
  'ttl_seconds': (number);
  'bind_to_certificate': (boolean);
}
