// Original file: proto/keybroker/v1/broker.proto

import type { Long } from '@grpc/proto-loader';

export interface Alert {
  'id'?: (string);
  'rule'?: (string);
  'subject'?: (string);
  'sink'?: (string);
  'state'?: (string);
  'attempts'?: (number);
  'last_error'?: (string);
  'created_at'?: (number | string | Long);
  'delivered_at'?: (number | string | Long);
  'exchange_ids'?: (string)[];
  'summary'?: (string);
}

export interface Alert__Output {
  'id': (string);
  'rule': (string);
  'subject': (string);
  'sink': (string);
  'state': (string);
  'attempts': (number);
  'last_error': (string);
  'created_at': (number);
  'delivered_at': (number);
  'exchange_ids': (string)[];
  'summary': (string);
}
