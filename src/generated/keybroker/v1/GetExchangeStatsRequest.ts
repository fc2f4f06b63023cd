// Original file: proto/keybroker/v1/broker.proto

import type { ExchangeFilter as _keybroker_v1_ExchangeFilter, ExchangeFilter__Output as _keybroker_v1_ExchangeFilter__Output } from '../../keybroker/v1/ExchangeFilter.js';

export interface GetExchangeStatsRequest {
  'filter'?: (_keybroker_v1_ExchangeFilter | null);
  'bucket'?: (string);
  'top'?: (number);
}

export interface GetExchangeStatsRequest__Output {
  'filter': (_keybroker_v1_ExchangeFilter__Output | null);
  'bucket': (string);
  'top': (number);
}
