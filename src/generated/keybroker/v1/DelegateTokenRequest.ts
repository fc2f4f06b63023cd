// Original file: proto/keybroker/v1/broker.proto


export interface DelegateTokenRequest {
  'parent_token'?: (string);
  'scopes'?: (string)[];
  'ttl_seconds'?: (number);
  'actor'?: (string);
  'audience'?: (string);
}

export interface DelegateTokenRequest__Output {
  'parent_token': (string);
  'scopes': (string)[];
  'ttl_seconds': (number);
  'actor': (string);
  'audience': (string);
}
