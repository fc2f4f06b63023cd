// Original file: proto/keybroker/v1/broker.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DecideApprovalRequest as _keybroker_v1_DecideApprovalRequest, DecideApprovalRequest__Output as _keybroker_v1_DecideApprovalRequest__Output } from '../../keybroker/v1/DecideApprovalRequest.js';
import type { DecideApprovalResponse as _keybroker_v1_DecideApprovalResponse, DecideApprovalResponse__Output as _keybroker_v1_DecideApprovalResponse__Output } from '../../keybroker/v1/DecideApprovalResponse.js';
import type { Exchange as _keybroker_v1_Exchange, Exchange__Output as _keybroker_v1_Exchange__Output } from '../../keybroker/v1/Exchange.js';
import type { ExchangeBatch as _keybroker_v1_ExchangeBatch, ExchangeBatch__Output as _keybroker_v1_ExchangeBatch__Output } from '../../keybroker/v1/ExchangeBatch.js';
import type { GetExchangeStatsRequest as _keybroker_v1_GetExchangeStatsRequest, GetExchangeStatsRequest__Output as _keybroker_v1_GetExchangeStatsRequest__Output } from '../../keybroker/v1/GetExchangeStatsRequest.js';
import type { GetExchangeStatsResponse as _keybroker_v1_GetExchangeStatsResponse, GetExchangeStatsResponse__Output as _keybroker_v1_GetExchangeStatsResponse__Output } from '../../keybroker/v1/GetExchangeStatsResponse.js';
import type { GetUsageRequest as _keybroker_v1_GetUsageRequest, GetUsageRequest__Output as _keybroker_v1_GetUsageRequest__Output } from '../../keybroker/v1/GetUsageRequest.js';
import type { GetUsageResponse as _keybroker_v1_GetUsageResponse, GetUsageResponse__Output as _keybroker_v1_GetUsageResponse__Output } from '../../keybroker/v1/GetUsageResponse.js';
import type { ListAlertsRequest as _keybroker_v1_ListAlertsRequest, ListAlertsRequest__Output as _keybroker_v1_ListAlertsRequest__Output } from '../../keybroker/v1/ListAlertsRequest.js';
import type { ListAlertsResponse as _keybroker_v1_ListAlertsResponse, ListAlertsResponse__Output as _keybroker_v1_ListAlertsResponse__Output } from '../../keybroker/v1/ListAlertsResponse.js';
import type { ListApprovalsRequest as _keybroker_v1_ListApprovalsRequest, ListApprovalsRequest__Output as _keybroker_v1_ListApprovalsRequest__Output } from '../../keybroker/v1/ListApprovalsRequest.js';
import type { ListApprovalsResponse as _keybroker_v1_ListApprovalsResponse, ListApprovalsResponse__Output as _keybroker_v1_ListApprovalsResponse__Output } from '../../keybroker/v1/ListApprovalsResponse.js';
import type { ListExchangesRequest as _keybroker_v1_ListExchangesRequest, ListExchangesRequest__Output as _keybroker_v1_ListExchangesRequest__Output } from '../../keybroker/v1/ListExchangesRequest.js';
import type { ListExchangesResponse as _keybroker_v1_ListExchangesResponse, ListExchangesResponse__Output as _keybroker_v1_ListExchangesResponse__Output } from '../../keybroker/v1/ListExchangesResponse.js';
import type { ListRevocationsRequest as _keybroker_v1_ListRevocationsRequest, ListRevocationsRequest__Output as _keybroker_v1_ListRevocationsRequest__Output } from '../../keybroker/v1/ListRevocationsRequest.js';
import type { ListRevocationsResponse as _keybroker_v1_ListRevocationsResponse, ListRevocationsResponse__Output as _keybroker_v1_ListRevocationsResponse__Output } from '../../keybroker/v1/ListRevocationsResponse.js';
import type { ListSigningKeysRequest as _keybroker_v1_ListSigningKeysRequest, ListSigningKeysRequest__Output as _keybroker_v1_ListSigningKeysRequest__Output } from '../../keybroker/v1/ListSigningKeysRequest.js';
import type { ListSigningKeysResponse as _keybroker_v1_ListSigningKeysResponse, ListSigningKeysResponse__Output as _keybroker_v1_ListSigningKeysResponse__Output } from '../../keybroker/v1/ListSigningKeysResponse.js';
import type { RetireSigningKeyRequest as _keybroker_v1_RetireSigningKeyRequest, RetireSigningKeyRequest__Output as _keybroker_v1_RetireSigningKeyRequest__Output } from '../../keybroker/v1/RetireSigningKeyRequest.js';
import type { RetireSigningKeyResponse as _keybroker_v1_RetireSigningKeyResponse, RetireSigningKeyResponse__Output as _keybroker_v1_RetireSigningKeyResponse__Output } from '../../keybroker/v1/RetireSigningKeyResponse.js';
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
  DecideApproval(argument: _keybroker_v1_DecideApprovalRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_DecideApprovalResponse__Output>): grpc.ClientUnaryCall;
  DecideApproval(argument: _keybroker_v1_DecideApprovalRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_DecideApprovalResponse__Output>): grpc.ClientUnaryCall;
  DecideApproval(argument: _keybroker_v1_DecideApprovalRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_DecideApprovalResponse__Output>): grpc.ClientUnaryCall;
  DecideApproval(argument: _keybroker_v1_DecideApprovalRequest, callback: grpc.requestCallback<_keybroker_v1_DecideApprovalResponse__Output>): grpc.ClientUnaryCall;
  decideApproval(argument: _keybroker_v1_DecideApprovalRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_DecideApprovalResponse__Output>): grpc.ClientUnaryCall;
  decideApproval(argument: _keybroker_v1_DecideApprovalRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_DecideApprovalResponse__Output>): grpc.ClientUnaryCall;
  decideApproval(argument: _keybroker_v1_DecideApprovalRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_DecideApprovalResponse__Output>): grpc.ClientUnaryCall;
  decideApproval(argument: _keybroker_v1_DecideApprovalRequest, callback: grpc.requestCallback<_keybroker_v1_DecideApprovalResponse__Output>): grpc.ClientUnaryCall;
  
  ExportExchanges(argument: _keybroker_v1_ListExchangesRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_ExchangeBatch__Output>;
  ExportExchanges(argument: _keybroker_v1_ListExchangesRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_ExchangeBatch__Output>;
  exportExchanges(argument: _keybroker_v1_ListExchangesRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_ExchangeBatch__Output>;
  exportExchanges(argument: _keybroker_v1_ListExchangesRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_ExchangeBatch__Output>;
  
  GetExchangeStats(argument: _keybroker_v1_GetExchangeStatsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetExchangeStatsResponse__Output>): grpc.ClientUnaryCall;
  GetExchangeStats(argument: _keybroker_v1_GetExchangeStatsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_GetExchangeStatsResponse__Output>): grpc.ClientUnaryCall;
  GetExchangeStats(argument: _keybroker_v1_GetExchangeStatsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetExchangeStatsResponse__Output>): grpc.ClientUnaryCall;
  GetExchangeStats(argument: _keybroker_v1_GetExchangeStatsRequest, callback: grpc.requestCallback<_keybroker_v1_GetExchangeStatsResponse__Output>): grpc.ClientUnaryCall;
  getExchangeStats(argument: _keybroker_v1_GetExchangeStatsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetExchangeStatsResponse__Output>): grpc.ClientUnaryCall;
  getExchangeStats(argument: _keybroker_v1_GetExchangeStatsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_GetExchangeStatsResponse__Output>): grpc.ClientUnaryCall;
  getExchangeStats(argument: _keybroker_v1_GetExchangeStatsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetExchangeStatsResponse__Output>): grpc.ClientUnaryCall;
  getExchangeStats(argument: _keybroker_v1_GetExchangeStatsRequest, callback: grpc.requestCallback<_keybroker_v1_GetExchangeStatsResponse__Output>): grpc.ClientUnaryCall;
  
  GetUsage(argument: _keybroker_v1_GetUsageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  GetUsage(argument: _keybroker_v1_GetUsageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  GetUsage(argument: _keybroker_v1_GetUsageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  GetUsage(argument: _keybroker_v1_GetUsageRequest, callback: grpc.requestCallback<_keybroker_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  getUsage(argument: _keybroker_v1_GetUsageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  getUsage(argument: _keybroker_v1_GetUsageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  getUsage(argument: _keybroker_v1_GetUsageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  getUsage(argument: _keybroker_v1_GetUsageRequest, callback: grpc.requestCallback<_keybroker_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  
  ListAlerts(argument: _keybroker_v1_ListAlertsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListAlertsResponse__Output>): grpc.ClientUnaryCall;
  ListAlerts(argument: _keybroker_v1_ListAlertsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListAlertsResponse__Output>): grpc.ClientUnaryCall;
  ListAlerts(argument: _keybroker_v1_ListAlertsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListAlertsResponse__Output>): grpc.ClientUnaryCall;
  ListAlerts(argument: _keybroker_v1_ListAlertsRequest, callback: grpc.requestCallback<_keybroker_v1_ListAlertsResponse__Output>): grpc.ClientUnaryCall;
  listAlerts(argument: _keybroker_v1_ListAlertsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListAlertsResponse__Output>): grpc.ClientUnaryCall;
  listAlerts(argument: _keybroker_v1_ListAlertsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListAlertsResponse__Output>): grpc.ClientUnaryCall;
  listAlerts(argument: _keybroker_v1_ListAlertsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListAlertsResponse__Output>): grpc.ClientUnaryCall;
  listAlerts(argument: _keybroker_v1_ListAlertsRequest, callback: grpc.requestCallback<_keybroker_v1_ListAlertsResponse__Output>): grpc.ClientUnaryCall;
  
  ListApprovals(argument: _keybroker_v1_ListApprovalsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListApprovalsResponse__Output>): grpc.ClientUnaryCall;
  ListApprovals(argument: _keybroker_v1_ListApprovalsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListApprovalsResponse__Output>): grpc.ClientUnaryCall;
  ListApprovals(argument: _keybroker_v1_ListApprovalsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListApprovalsResponse__Output>): grpc.ClientUnaryCall;
  ListApprovals(argument: _keybroker_v1_ListApprovalsRequest, callback: grpc.requestCallback<_keybroker_v1_ListApprovalsResponse__Output>): grpc.ClientUnaryCall;
  listApprovals(argument: _keybroker_v1_ListApprovalsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListApprovalsResponse__Output>): grpc.ClientUnaryCall;
  listApprovals(argument: _keybroker_v1_ListApprovalsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListApprovalsResponse__Output>): grpc.ClientUnaryCall;
  listApprovals(argument: _keybroker_v1_ListApprovalsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListApprovalsResponse__Output>): grpc.ClientUnaryCall;
  listApprovals(argument: _keybroker_v1_ListApprovalsRequest, callback: grpc.requestCallback<_keybroker_v1_ListApprovalsResponse__Output>): grpc.ClientUnaryCall;
  
  ListExchanges(argument: _keybroker_v1_ListExchangesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  ListExchanges(argument: _keybroker_v1_ListExchangesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  ListExchanges(argument: _keybroker_v1_ListExchangesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  ListExchanges(argument: _keybroker_v1_ListExchangesRequest, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  listExchanges(argument: _keybroker_v1_ListExchangesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  listExchanges(argument: _keybroker_v1_ListExchangesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  listExchanges(argument: _keybroker_v1_ListExchangesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  listExchanges(argument: _keybroker_v1_ListExchangesRequest, callback: grpc.requestCallback<_keybroker_v1_ListExchangesResponse__Output>): grpc.ClientUnaryCall;
  
  ListRevocations(argument: _keybroker_v1_ListRevocationsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  ListRevocations(argument: _keybroker_v1_ListRevocationsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  ListRevocations(argument: _keybroker_v1_ListRevocationsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  ListRevocations(argument: _keybroker_v1_ListRevocationsRequest, callback: grpc.requestCallback<_keybroker_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _keybroker_v1_ListRevocationsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _keybroker_v1_ListRevocationsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _keybroker_v1_ListRevocationsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _keybroker_v1_ListRevocationsRequest, callback: grpc.requestCallback<_keybroker_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  
  ListSigningKeys(argument: _keybroker_v1_ListSigningKeysRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListSigningKeysResponse__Output>): grpc.ClientUnaryCall;
  ListSigningKeys(argument: _keybroker_v1_ListSigningKeysRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListSigningKeysResponse__Output>): grpc.ClientUnaryCall;
  ListSigningKeys(argument: _keybroker_v1_ListSigningKeysRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListSigningKeysResponse__Output>): grpc.ClientUnaryCall;
  ListSigningKeys(argument: _keybroker_v1_ListSigningKeysRequest, callback: grpc.requestCallback<_keybroker_v1_ListSigningKeysResponse__Output>): grpc.ClientUnaryCall;
  listSigningKeys(argument: _keybroker_v1_ListSigningKeysRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListSigningKeysResponse__Output>): grpc.ClientUnaryCall;
  listSigningKeys(argument: _keybroker_v1_ListSigningKeysRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_ListSigningKeysResponse__Output>): grpc.ClientUnaryCall;
  listSigningKeys(argument: _keybroker_v1_ListSigningKeysRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_ListSigningKeysResponse__Output>): grpc.ClientUnaryCall;
  listSigningKeys(argument: _keybroker_v1_ListSigningKeysRequest, callback: grpc.requestCallback<_keybroker_v1_ListSigningKeysResponse__Output>): grpc.ClientUnaryCall;
  
  RetireSigningKey(argument: _keybroker_v1_RetireSigningKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RetireSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  RetireSigningKey(argument: _keybroker_v1_RetireSigningKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_RetireSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  RetireSigningKey(argument: _keybroker_v1_RetireSigningKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RetireSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  RetireSigningKey(argument: _keybroker_v1_RetireSigningKeyRequest, callback: grpc.requestCallback<_keybroker_v1_RetireSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  retireSigningKey(argument: _keybroker_v1_RetireSigningKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RetireSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  retireSigningKey(argument: _keybroker_v1_RetireSigningKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_RetireSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  retireSigningKey(argument: _keybroker_v1_RetireSigningKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_RetireSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  retireSigningKey(argument: _keybroker_v1_RetireSigningKeyRequest, callback: grpc.requestCallback<_keybroker_v1_RetireSigningKeyResponse__Output>): grpc.ClientUnaryCall;
  
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
  DecideApproval: grpc.handleUnaryCall<_keybroker_v1_DecideApprovalRequest__Output, _keybroker_v1_DecideApprovalResponse>;
  
  ExportExchanges: grpc.handleServerStreamingCall<_keybroker_v1_ListExchangesRequest__Output, _keybroker_v1_ExchangeBatch>;
  
  GetExchangeStats: grpc.handleUnaryCall<_keybroker_v1_GetExchangeStatsRequest__Output, _keybroker_v1_GetExchangeStatsResponse>;
  
  GetUsage: grpc.handleUnaryCall<_keybroker_v1_GetUsageRequest__Output, _keybroker_v1_GetUsageResponse>;
  
  ListAlerts: grpc.handleUnaryCall<_keybroker_v1_ListAlertsRequest__Output, _keybroker_v1_ListAlertsResponse>;
  
  ListApprovals: grpc.handleUnaryCall<_keybroker_v1_ListApprovalsRequest__Output, _keybroker_v1_ListApprovalsResponse>;
  
  ListExchanges: grpc.handleUnaryCall<_keybroker_v1_ListExchangesRequest__Output, _keybroker_v1_ListExchangesResponse>;
  
  ListRevocations: grpc.handleUnaryCall<_keybroker_v1_ListRevocationsRequest__Output, _keybroker_v1_ListRevocationsResponse>;
  
  ListSigningKeys: grpc.handleUnaryCall<_keybroker_v1_ListSigningKeysRequest__Output, _keybroker_v1_ListSigningKeysResponse>;
  
  RetireSigningKey: grpc.handleUnaryCall<_keybroker_v1_RetireSigningKeyRequest__Output, _keybroker_v1_RetireSigningKeyResponse>;
  
  RevokeTokens: grpc.handleUnaryCall<_keybroker_v1_RevokeTokensRequest__Output, _keybroker_v1_RevokeTokensResponse>;
  
  RotateSigningKey: grpc.handleUnaryCall<_keybroker_v1_RotateSigningKeyRequest__Output, _keybroker_v1_RotateSigningKeyResponse>;
  
  UnblockSubject: grpc.handleUnaryCall<_keybroker_v1_UnblockSubjectRequest__Output, _keybroker_v1_UnblockSubjectResponse>;
  
  VerifyAuditLog: grpc.handleUnaryCall<_keybroker_v1_VerifyAuditLogRequest__Output, _keybroker_v1_VerifyAuditLogResponse>;
  
  WatchExchanges: grpc.handleServerStreamingCall<_keybroker_v1_WatchExchangesRequest__Output, _keybroker_v1_Exchange>;
  
}

export interface AdminDefinition extends grpc.ServiceDefinition {
  DecideApproval: MethodDefinition<_keybroker_v1_DecideApprovalRequest, _keybroker_v1_DecideApprovalResponse, _keybroker_v1_DecideApprovalRequest__Output, _keybroker_v1_DecideApprovalResponse__Output>
  ExportExchanges: MethodDefinition<_keybroker_v1_ListExchangesRequest, _keybroker_v1_ExchangeBatch, _keybroker_v1_ListExchangesRequest__Output, _keybroker_v1_ExchangeBatch__Output>
  GetExchangeStats: MethodDefinition<_keybroker_v1_GetExchangeStatsRequest, _keybroker_v1_GetExchangeStatsResponse, _keybroker_v1_GetExchangeStatsRequest__Output, _keybroker_v1_GetExchangeStatsResponse__Output>
  GetUsage: MethodDefinition<_keybroker_v1_GetUsageRequest, _keybroker_v1_GetUsageResponse, _keybroker_v1_GetUsageRequest__Output, _keybroker_v1_GetUsageResponse__Output>
  ListAlerts: MethodDefinition<_keybroker_v1_ListAlertsRequest, _keybroker_v1_ListAlertsResponse, _keybroker_v1_ListAlertsRequest__Output, _keybroker_v1_ListAlertsResponse__Output>
  ListApprovals: MethodDefinition<_keybroker_v1_ListApprovalsRequest, _keybroker_v1_ListApprovalsResponse, _keybroker_v1_ListApprovalsRequest__Output, _keybroker_v1_ListApprovalsResponse__Output>
  ListExchanges: MethodDefinition<_keybroker_v1_ListExchangesRequest, _keybroker_v1_ListExchangesResponse, _keybroker_v1_ListExchangesRequest__Output, _keybroker_v1_ListExchangesResponse__Output>
  ListRevocations: MethodDefinition<_keybroker_v1_ListRevocationsRequest, _keybroker_v1_ListRevocationsResponse, _keybroker_v1_ListRevocationsRequest__Output, _keybroker_v1_ListRevocationsResponse__Output>
  ListSigningKeys: MethodDefinition<_keybroker_v1_ListSigningKeysRequest, _keybroker_v1_ListSigningKeysResponse, _keybroker_v1_ListSigningKeysRequest__Output, _keybroker_v1_ListSigningKeysResponse__Output>
  RetireSigningKey: MethodDefinition<_keybroker_v1_RetireSigningKeyRequest, _keybroker_v1_RetireSigningKeyResponse, _keybroker_v1_RetireSigningKeyRequest__Output, _keybroker_v1_RetireSigningKeyResponse__Output>
  RevokeTokens: MethodDefinition<_keybroker_v1_RevokeTokensRequest, _keybroker_v1_RevokeTokensResponse, _keybroker_v1_RevokeTokensRequest__Output, _keybroker_v1_RevokeTokensResponse__Output>
  RotateSigningKey: MethodDefinition<_keybroker_v1_RotateSigningKeyRequest, _keybroker_v1_RotateSigningKeyResponse, _keybroker_v1_RotateSigningKeyRequest__Output, _keybroker_v1_RotateSigningKeyResponse__Output>
  UnblockSubject: MethodDefinition<_keybroker_v1_UnblockSubjectRequest, _keybroker_v1_UnblockSubjectResponse, _keybroker_v1_UnblockSubjectRequest__Output, _keybroker_v1_UnblockSubjectResponse__Output>
  VerifyAuditLog: MethodDefinition<_keybroker_v1_VerifyAuditLogRequest, _keybroker_v1_VerifyAuditLogResponse, _keybroker_v1_VerifyAuditLogRequest__Output, _keybroker_v1_VerifyAuditLogResponse__Output>
  WatchExchanges: MethodDefinition<_keybroker_v1_WatchExchangesRequest, _keybroker_v1_Exchange, _keybroker_v1_WatchExchangesRequest__Output, _keybroker_v1_Exchange__Output>
}
