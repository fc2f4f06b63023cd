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
}
