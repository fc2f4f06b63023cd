// Original file: proto/keybroker/v1/broker.proto


export interface ListExchangesRequest {
  'subject'?: (string);
  'kind'?: (string);
  'decision'?: (string);
  'since'?: (string);
  'until'?: (string);
  'limit'?: (number);
  'page_token'?: (string);
  'audience'?: (string);
  'secret_name'?: (string);
  'route'?: (string);
  'token_id'?: (string);
  'peer'?: (string);
  'run_id'?: (string);
  'subject_prefix'?: (string);
}

export interface ListExchangesRequest__Output {
  'subject': (string);
  'kind': (string);
  'decision': (string);
  'since': (string);
  'until': (string);
  'limit': (number);
  'page_token': (string);
  'audience': (string);
  'secret_name': (string);
  'route': (string);
  'token_id': (string);
  'peer': (string);
  'run_id': (string);
  'subject_prefix': (string);
}
