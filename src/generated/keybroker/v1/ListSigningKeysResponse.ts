// Original file: proto/keybroker/v1/broker.proto

import type { SigningKeyInfo as _keybroker_v1_SigningKeyInfo, SigningKeyInfo__Output as _keybroker_v1_SigningKeyInfo__Output } from '../../keybroker/v1/SigningKeyInfo.js';

export interface ListSigningKeysResponse {
  'keys'?: (_keybroker_v1_SigningKeyInfo)[];
}

export interface ListSigningKeysResponse__Output {
  'keys': (_keybroker_v1_SigningKeyInfo__Output)[];
}
