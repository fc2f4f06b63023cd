// Original file: proto/keybroker/v1/broker.proto

import type { Exchange as _keybroker_v1_Exchange, Exchange__Output as _keybroker_v1_Exchange__Output } from '../../keybroker/v1/Exchange.js';

export interface ExchangeBatch {
  'exchanges'?: (_keybroker_v1_Exchange)[];
}

export interface ExchangeBatch__Output {
  'exchanges': (_keybroker_v1_Exchange__Output)[];
}
