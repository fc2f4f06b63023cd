// Original file: proto/keybroker/v1/broker.proto

import type { UsageRow as _keybroker_v1_UsageRow, UsageRow__Output as _keybroker_v1_UsageRow__Output } from '../../keybroker/v1/UsageRow.js';
import type { UnusedItem as _keybroker_v1_UnusedItem, UnusedItem__Output as _keybroker_v1_UnusedItem__Output } from '../../keybroker/v1/UnusedItem.js';
import type { Long } from '@grpc/proto-loader';

export interface GetUsageResponse {
  'rows'?: (_keybroker_v1_UsageRow)[];
  'unused'?: (_keybroker_v1_UnusedItem)[];
  'since'?: (number | string | Long);
}

export interface GetUsageResponse__Output {
  'rows': (_keybroker_v1_UsageRow__Output)[];
  'unused': (_keybroker_v1_UnusedItem__Output)[];
  'since': (number);
}
