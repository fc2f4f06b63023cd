// Original file: proto/keybroker/v1/broker.proto

import type { TaskContext as _keybroker_v1_TaskContext, TaskContext__Output as _keybroker_v1_TaskContext__Output } from '../../keybroker/v1/TaskContext.js';

export interface IssueTokenRequest {
  'audience'?: (string);
  'scopes'?: (string)[];
  'ttl_seconds'?: (number);
  'bind_to_certificate'?: (boolean);
  'task'?: (_keybroker_v1_TaskContext | null);
  'max_uses'?: (number);
}

export interface IssueTokenRequest__Output {
  'audience': (string);
  'scopes': (string)[];
  'ttl_seconds': (number);
  'bind_to_certificate': (boolean);
  'task': (_keybroker_v1_TaskContext__Output | null);
  'max_uses': (number);
}
