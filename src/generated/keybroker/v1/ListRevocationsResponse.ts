// Original file: proto/keybroker/v1/broker.proto

import type { RevocationInfo as _keybroker_v1_RevocationInfo, RevocationInfo__Output as _keybroker_v1_RevocationInfo__Output } from '../../keybroker/v1/RevocationInfo.js';

export interface ListRevocationsResponse {
  'revocations'?: (_keybroker_v1_RevocationInfo)[];
}

export interface ListRevocationsResponse__Output {
  'revocations': (_keybroker_v1_RevocationInfo__Output)[];
}
