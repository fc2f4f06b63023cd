// Original file: proto/keybroker/v1/broker.proto


export interface ExchangeFilter {
  'subject'?: (string);
  'kind'?: (string);
  'decision'?: (string);
  'since'?: (string);
  'until'?: (string);
  'audience'?: (string);
  'secret_name'?: (string);
  'route'?: (string);
  'token_id'?: (string);
  'peer'?: (string);
  'run_id'?: (string);
  'subject_prefix'?: (string);
}

export interface ExchangeFilter__Output {
  'subject': (string);
  'kind': (string);
  'decision': (string);
  'since': (string);
  'until': (string);
  'audience': (string);
  'secret_name': (string);
  'route': (string);
  'token_id': (string);
  'peer': (string);
  'run_id': (string);
  'subject_prefix': (string);
}
