// Original file: proto/keybroker/v1/broker.proto

import type { StatsBucket as _keybroker_v1_StatsBucket, StatsBucket__Output as _keybroker_v1_StatsBucket__Output } from '../../keybroker/v1/StatsBucket.js';
import type { CountEntry as _keybroker_v1_CountEntry, CountEntry__Output as _keybroker_v1_CountEntry__Output } from '../../keybroker/v1/CountEntry.js';
import type { Long } from '@grpc/proto-loader';

export interface GetExchangeStatsResponse {
  'buckets'?: (_keybroker_v1_StatsBucket)[];
  'top_subjects'?: (_keybroker_v1_CountEntry)[];
  'top_audiences'?: (_keybroker_v1_CountEntry)[];
  'denials_by_reason'?: (_keybroker_v1_CountEntry)[];
  'by_kind'?: (_keybroker_v1_CountEntry)[];
  'total'?: (number | string | Long);
}

export interface GetExchangeStatsResponse__Output {
  'buckets': (_keybroker_v1_StatsBucket__Output)[];
  'top_subjects': (_keybroker_v1_CountEntry__Output)[];
  'top_audiences': (_keybroker_v1_CountEntry__Output)[];
  'denials_by_reason': (_keybroker_v1_CountEntry__Output)[];
  'by_kind': (_keybroker_v1_CountEntry__Output)[];
  'total': (number);
}
