// Original file: proto/keybroker/v1/broker.proto

import type { Alert as _keybroker_v1_Alert, Alert__Output as _keybroker_v1_Alert__Output } from '../../keybroker/v1/Alert.js';

export interface ListAlertsResponse {
  'alerts'?: (_keybroker_v1_Alert)[];
}

export interface ListAlertsResponse__Output {
  'alerts': (_keybroker_v1_Alert__Output)[];
}
