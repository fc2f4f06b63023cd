// Original file: proto/keybroker/v1/broker.proto


export interface TaskContext {
  'run_id'?: (string);
  'tool_call_id'?: (string);
  'purpose'?: (string);
}

export interface TaskContext__Output {
  'run_id': (string);
  'tool_call_id': (string);
  'purpose': (string);
}
