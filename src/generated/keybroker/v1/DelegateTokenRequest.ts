// Original file: proto/keybroker/v1/broker.proto

import type { TaskContext as _keybroker_v1_TaskContext, TaskContext__Output as _keybroker_v1_TaskContext__Output } from '../../keybroker/v1/TaskContext.js';

export interface DelegateTokenRequest {
  'parent_token'?: (string);
  'scopes'?: (string)[];
  'ttl_seconds'?: (number);
  'actor'?: (string);
  'audience'?: (string);
  'task'?: (_keybroker_v1_TaskContext | null);
  'max_uses'?: (number);
}

export interface DelegateTokenRequest__Output {
  'parent_token': (string);
  'scopes': (string)[];
  'ttl_seconds': (number);
  'actor': (string);
  'audience': (string);
  'task': (_keybroker_v1_TaskContext__Output | null);
  'max_uses': (number);
}
