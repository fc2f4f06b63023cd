// Original file: proto/keybroker/v1/broker.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { Exchange as _keybroker_v1_Exchange, Exchange__Output as _keybroker_v1_Exchange__Output } from '../../keybroker/v1/Exchange.js';
import type { ListExchangesRequest as _keybroker_v1_ListExchangesRequest, ListExchangesRequest__Output as _keybroker_v1_ListExchangesRequest__Output } from '../../keybroker/v1/ListExchangesRequest.js';
import type { ListExchangesResponse as _keybroker_v1_ListExchangesResponse, ListExchangesResponse__Output as _keybroker_v1_ListExchangesResponse__Output } from '../../keybroker/v1/ListExchangesResponse.js';
import type { RevokeTokensRequest as _keybroker_v1_RevokeTokensRequest, RevokeTokensRequest__Output as _keybroker_v1_RevokeTokensRequest__Output } from '../../keybroker/v1/RevokeTokensRequest.js';
import type { RevokeTokensResponse as _keybroker_v1_RevokeTokensResponse, RevokeTokensResponse__Output as _keybroker_v1_RevokeTokensResponse__Output } from '../../keybroker/v1/RevokeTokensResponse.js';
import type { RotateSigningKeyRequest as _keybroker_v1_RotateSigningKeyRequest, RotateSigningKeyRequest__Output as _keybroker_v1_RotateSigningKeyRequest__Output } from '../../keybroker/v1/RotateSigningKeyRequest.js';
import type { RotateSigningKeyResponse as _keybroker_v1_RotateSigningKeyResponse, RotateSigningKeyResponse__Output as _keybroker_v1_RotateSigningKeyResponse__Output } from '../../keybroker/v1/RotateSigningKeyResponse.js';
import type { UnblockSubjectRequest as _keybroker_v1_UnblockSubjectRequest, UnblockSubjectRequest__Output as _keybroker_v1_UnblockSubjectRequest__Output } from '../../keybroker/v1/UnblockSubjectRequest.js';
import type { UnblockSubjectResponse as _keybroker_v1_UnblockSubjectResponse, UnblockSubjectResponse__Output as _keybroker_v1_UnblockSubjectResponse__Output } from '../../keybroker/v1/UnblockSubjectResponse.js';
import type { VerifyAuditLogRequest as _keybroker_v1_VerifyAuditLogRequest, VerifyAuditLogRequest__Output as _keybroker_v1_VerifyAuditLogRequest__Output } from '../../keybroker/v1/VerifyAuditLogRequest.js';
import type { VerifyAuditLogResponse as _keybroker_v1_VerifyAuditLogResponse, VerifyAuditLogResponse__Output as _keybroker_v1_VerifyAuditLogResponse__Output } from '../../keybroker/v1/VerifyAuditLogResponse.js';
import type { WatchExchangesRequest as _keybroker_v1_WatchExchangesRequest, WatchExchangesRequest__Output as _keybroker_v1_WatchExchangesRequest__Output } from '../../keybroker/v1/WatchExchangesRequest.js';

export interface AdminClient extends grpc.Client {
  ListExchanges(argument: _keybroker_v1_ListExchangesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  ListExchanges(argument: _keybroker_v1_ListExchangesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  ListExchanges(argument: _keybroker_v1_ListExchangesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  ListExchanges(argument: _keybroker_v1_ListExchangesRequest, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  listExchanges(argument: _keybroker_v1_ListExchangesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  listExchanges(argument: _keybroker_v1_ListExchangesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  listExchanges(argument: _keybroker_v1_ListExchangesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  listExchanges(argument: _keybroker_v1_ListExchangesRequest, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  
  RevokeTokens(argument: _keybroker_v1_RevokeTokensRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RevokeTokensResponse__Output>): grpc.ClientUnaryCall;
  RevokeTokens(argument: _keybroker_v1_RevokeTokensRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_RevokeTokensResponse__Output>): grpc.ClientUnaryCall;
  RevokeTokens(argument: _keybroker_v1_RevokeTokensRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RevokeTokensResponse__Output>): grpc.ClientUnaryCall;
  RevokeTokens(argument: _keybroker_v1_RevokeTokensRequest, callback: grpc.requestCallback<_keybroker_v1_RevokeTokensResponse__Output>): grpc.ClientUnaryCall;
  revokeTokens(argument: _keybroker_v1_RevokeTokensRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RevokeTokensResponse__Output>): grpc.ClientUnaryCall;
  revokeTokens(argument: _keybroker_v1_RevokeTokensRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_RevokeTokensResponse__Output>): grpc.ClientUnaryCall;
  revokeTokens(argument: _keybroker_v1_RevokeTokensRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RevokeTokensResponse__Output>): grpc.ClientUnaryCall;
  revokeTokens(argument: _keybroker_v1_RevokeTokensRequest, callback: grpc.requestCallback<_keybroker_v1_RevokeTokensResponse__Output>): grpc.ClientUnaryCall;
  
  RotateSigningKey(argument: _keybroker_v1_RotateSigningKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RotateSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateSigningKey(argument: _keybroker_v1_RotateSigningKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_RotateSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateSigningKey(argument: _keybroker_v1_RotateSigningKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RotateSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateSigningKey(argument: _keybroker_v1_RotateSigningKeyRequest, callback: grpc.requestCallback<_keybroker_v1_RotateSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateSigningKey(argument: _keybroker_v1_RotateSigningKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RotateSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateSigningKey(argument: _keybroker_v1_RotateSigningKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_RotateSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateSigningKey(argument: _keybroker_v1_RotateSigningKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RotateSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateSigningKey(argument: _keybroker_v1_RotateSigningKeyRequest, callback: grpc.requestCallback<_keybroker_v1_RotateSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  
  UnblockSubject(argument: _keybroker_v1_UnblockSubjectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_UnblockSubjectResponse__Output>): grpc.ClientUnaryCall;
  UnblockSubject(argument: _keybroker_v1_UnblockSubjectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_UnblockSubjectResponse__Output>): grpc.ClientUnaryCall;
  UnblockSubject(argument: _keybroker_v1_UnblockSubjectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_UnblockSubjectResponse__Output>): grpc.ClientUnaryCall;
  UnblockSubject(argument: _keybroker_v1_UnblockSubjectRequest, callback: grpc.requestCallback<_keybroker_v1_UnblockSubjectResponse__Output>): grpc.ClientUnaryCall;
  unblockSubject(argument: _keybroker_v1_UnblockSubjectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_UnblockSubjectResponse__Output>): grpc.ClientUnaryCall;
  unblockSubject(argument: _keybroker_v1_UnblockSubjectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_UnblockSubjectResponse__Output>): grpc.ClientUnaryCall;
  unblockSubject(argument: _keybroker_v1_UnblockSubjectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_UnblockSubjectResponse__Output>): grpc.ClientUnaryCall;
  unblockSubject(argument: _keybroker_v1_UnblockSubjectRequest, callback: grpc.requestCallback<_keybroker_v1_UnblockSubjectResponse__Output>): grpc.ClientUnaryCall;
  
  VerifyAuditLog(argument: _keybroker_v1_VerifyAuditLogRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_VerifyAuditLogResponse__Output>): grpc.ClientUnaryCall;
  VerifyAuditLog(argument: _keybroker_v1_VerifyAuditLogRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_VerifyAuditLogResponse__Output>): grpc.ClientUnaryCall;
  VerifyAuditLog(argument: _keybroker_v1_VerifyAuditLogRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_VerifyAuditLogResponse__Output>): grpc.ClientUnaryCall;
  VerifyAuditLog(argument: _keybroker_v1_VerifyAuditLogRequest, callback: grpc.requestCallback<_keybroker_v1_VerifyAuditLogResponse__Output>): grpc.ClientUnaryCall;
  verifyAuditLog(argument: _keybroker_v1_VerifyAuditLogRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_VerifyAuditLogResponse__Output>): grpc.ClientUnaryCall;
  verifyAuditLog(argument: _keybroker_v1_VerifyAuditLogRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_VerifyAuditLogResponse__Output>): grpc.ClientUnaryCall;
  verifyAuditLog(argument: _keybroker_v1_VerifyAuditLogRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_VerifyAuditLogResponse__Output>): grpc.ClientUnaryCall;
  verifyAuditLog(argument: _keybroker_v1_VerifyAuditLogRequest, callback: grpc.requestCallback<_keybroker_v1_VerifyAuditLogResponse__Output>): grpc.ClientUnaryCall;
  
  WatchExchanges(argument: _keybroker_v1_WatchExchangesRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_Exchange__Output>;
  WatchExchanges(argument: _keybroker_v1_WatchExchangesRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_Exchange__Output>;
  watchExchanges(argument: _keybroker_v1_WatchExchangesRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_Exchange__Output>;
  watchExchanges(argument: _keybroker_v1_WatchExchangesRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_Exchange__Output>;
  
}

export interface AdminHandlers extends grpc.UntypedServiceImplementation {
  ListExchanges: grpc.handleUnaryCall<_keybroker_v1_ListExchangesRequest__Output, _keybroker_v1_ListExchangesResponse>;
  
  RevokeTokens: grpc.handleUnaryCall<_keybroker_v1_RevokeTokensRequest__Output, _keybroker_v1_RevokeTokensResponse>;
  
  RotateSigningKey: grpc.handleUnaryCall<_keybroker_v1_RotateSigningKeyRequest__Output, _keybroker_v1_RotateSigningKeyResponse>;
  
  UnblockSubject: grpc.handleUnaryCall<_keybroker_v1_UnblockSubjectRequest__Output, _keybroker_v1_UnblockSubjectResponse>;
  
  VerifyAuditLog: grpc.handleUnaryCall<_keybroker_v1_VerifyAuditLogRequest__Output, _keybroker_v1_VerifyAuditLogResponse>;
  
  WatchExchanges: grpc.handleServerStreamingCall<_keybroker_v1_WatchExchangesRequest__Output, _keybroker_v1_Exchange>;
  
}

export interface AdminDefinition extends grpc.ServiceDefinition {
  ListExchanges: MethodDefinition<_keybroker_v1_ListExchangesRequest, _keybroker_v1_ListExchangesResponse, _keybroker_v1_ListExchangesRequest__Output, _keybroker_v1_ListExchangesResponse__Output>
  RevokeTokens: MethodDefinition<_keybroker_v1_RevokeTokensRequest, _keybroker_v1_RevokeTokensResponse, _keybroker_v1_RevokeTokensRequest__Output, _keybroker_v1_RevokeTokensResponse__Output>
  RotateSigningKey: MethodDefinition<_keybroker_v1_RotateSigningKeyRequest, _keybroker_v1_RotateSigningKeyResponse, _keybroker_v1_RotateSigningKeyRequest__Output, _keybroker_v1_RotateSigningKeyResponse__Output>
  UnblockSubject: MethodDefinition<_keybroker_v1_UnblockSubjectRequest, _keybroker_v1_UnblockSubjectResponse, _keybroker_v1_UnblockSubjectRequest__Output, _keybroker_v1_UnblockSubjectResponse__Output>
  VerifyAuditLog: MethodDefinition<_keybroker_v1_VerifyAuditLogRequest, _keybroker_v1_VerifyAuditLogResponse, _keybroker_v1_VerifyAuditLogRequest__Output, _keybroker_v1_VerifyAuditLogResponse__Output>
  WatchExchanges: MethodDefinition<_keybroker_v1_WatchExchangesRequest, _keybroker_v1_Exchange, _keybroker_v1_WatchExchangesRequest__Output, _keybroker_v1_Exchange__Output>
}
