import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AdminClient as _keybroker_v1_AdminClient, AdminDefinition as _keybroker_v1_AdminDefinition } from './keybroker/v1/Admin.js';
import type { Alert as _keybroker_v1_Alert, Alert__Output as _keybroker_v1_Alert__Output } from './keybroker/v1/Alert.js';
import type { Approval as _keybroker_v1_Approval, Approval__Output as _keybroker_v1_Approval__Output } from './keybroker/v1/Approval.js';
import type { ApprovalUpdate as _keybroker_v1_ApprovalUpdate, ApprovalUpdate__Output as _keybroker_v1_ApprovalUpdate__Output } from './keybroker/v1/ApprovalUpdate.js';
import type { BrokerClient as _keybroker_v1_BrokerClient, BrokerDefinition as _keybroker_v1_BrokerDefinition } from './keybroker/v1/Broker.js';
import type { CountEntry as _keybroker_v1_CountEntry, CountEntry__Output as _keybroker_v1_CountEntry__Output } from './keybroker/v1/CountEntry.js';
import type { DecideApprovalRequest as _keybroker_v1_DecideApprovalRequest, DecideApprovalRequest__Output as _keybroker_v1_DecideApprovalRequest__Output } from './keybroker/v1/DecideApprovalRequest.js';
import type { DecideApprovalResponse as _keybroker_v1_DecideApprovalResponse, DecideApprovalResponse__Output as _keybroker_v1_DecideApprovalResponse__Output } from './keybroker/v1/DecideApprovalResponse.js';
import type { DelegateTokenRequest as _keybroker_v1_DelegateTokenRequest, DelegateTokenRequest__Output as _keybroker_v1_DelegateTokenRequest__Output } from './keybroker/v1/DelegateTokenRequest.js';
import type { Exchange as _keybroker_v1_Exchange, Exchange__Output as _keybroker_v1_Exchange__Output } from './keybroker/v1/Exchange.js';
import type { ExchangeBatch as _keybroker_v1_ExchangeBatch, ExchangeBatch__Output as _keybroker_v1_ExchangeBatch__Output } from './keybroker/v1/ExchangeBatch.js';
import type { ExchangeFilter as _keybroker_v1_ExchangeFilter, ExchangeFilter__Output as _keybroker_v1_ExchangeFilter__Output } from './keybroker/v1/ExchangeFilter.js';
import type { FetchSecretRequest as _keybroker_v1_FetchSecretRequest, FetchSecretRequest__Output as _keybroker_v1_FetchSecretRequest__Output } from './keybroker/v1/FetchSecretRequest.js';
import type { FetchSecretResponse as _keybroker_v1_FetchSecretResponse, FetchSecretResponse__Output as _keybroker_v1_FetchSecretResponse__Output } from './keybroker/v1/FetchSecretResponse.js';
import type { GetExchangeStatsRequest as _keybroker_v1_GetExchangeStatsRequest, GetExchangeStatsRequest__Output as _keybroker_v1_GetExchangeStatsRequest__Output } from './keybroker/v1/GetExchangeStatsRequest.js';
import type { GetExchangeStatsResponse as _keybroker_v1_GetExchangeStatsResponse, GetExchangeStatsResponse__Output as _keybroker_v1_GetExchangeStatsResponse__Output } from './keybroker/v1/GetExchangeStatsResponse.js';
import type { GetJwksRequest as _keybroker_v1_GetJwksRequest, GetJwksRequest__Output as _keybroker_v1_GetJwksRequest__Output } from './keybroker/v1/GetJwksRequest.js';
import type { GetJwksResponse as _keybroker_v1_GetJwksResponse, GetJwksResponse__Output as _keybroker_v1_GetJwksResponse__Output } from './keybroker/v1/GetJwksResponse.js';
import type { GetUsageRequest as _keybroker_v1_GetUsageRequest, GetUsageRequest__Output as _keybroker_v1_GetUsageRequest__Output } from './keybroker/v1/GetUsageRequest.js';
import type { GetUsageResponse as _keybroker_v1_GetUsageResponse, GetUsageResponse__Output as _keybroker_v1_GetUsageResponse__Output } from './keybroker/v1/GetUsageResponse.js';
import type { IssueTokenRequest as _keybroker_v1_IssueTokenRequest, IssueTokenRequest__Output as _keybroker_v1_IssueTokenRequest__Output } from './keybroker/v1/IssueTokenRequest.js';
import type { IssueTokenResponse as _keybroker_v1_IssueTokenResponse, IssueTokenResponse__Output as _keybroker_v1_IssueTokenResponse__Output } from './keybroker/v1/IssueTokenResponse.js';
import type { ListAlertsRequest as _keybroker_v1_ListAlertsRequest, ListAlertsRequest__Output as _keybroker_v1_ListAlertsRequest__Output } from './keybroker/v1/ListAlertsRequest.js';
import type { ListAlertsResponse as _keybroker_v1_ListAlertsResponse, ListAlertsResponse__Output as _keybroker_v1_ListAlertsResponse__Output } from './keybroker/v1/ListAlertsResponse.js';
import type { ListApprovalsRequest as _keybroker_v1_ListApprovalsRequest, ListApprovalsRequest__Output as _keybroker_v1_ListApprovalsRequest__Output } from './keybroker/v1/ListApprovalsRequest.js';
import type { ListApprovalsResponse as _keybroker_v1_ListApprovalsResponse, ListApprovalsResponse__Output as _keybroker_v1_ListApprovalsResponse__Output } from './keybroker/v1/ListApprovalsResponse.js';
import type { ListExchangesRequest as _keybroker_v1_ListExchangesRequest, ListExchangesRequest__Output as _keybroker_v1_ListExchangesRequest__Output } from './keybroker/v1/ListExchangesRequest.js';
import type { ListExchangesResponse as _keybroker_v1_ListExchangesResponse, ListExchangesResponse__Output as _keybroker_v1_ListExchangesResponse__Output } from './keybroker/v1/ListExchangesResponse.js';
import type { ListRevocationsRequest as _keybroker_v1_ListRevocationsRequest, ListRevocationsRequest__Output as _keybroker_v1_ListRevocationsRequest__Output } from './keybroker/v1/ListRevocationsRequest.js';
import type { ListRevocationsResponse as _keybroker_v1_ListRevocationsResponse, ListRevocationsResponse__Output as _keybroker_v1_ListRevocationsResponse__Output } from './keybroker/v1/ListRevocationsResponse.js';
import type { ListSigningKeysRequest as _keybroker_v1_ListSigningKeysRequest, ListSigningKeysRequest__Output as _keybroker_v1_ListSigningKeysRequest__Output } from './keybroker/v1/ListSigningKeysRequest.js';
import type { ListSigningKeysResponse as _keybroker_v1_ListSigningKeysResponse, ListSigningKeysResponse__Output as _keybroker_v1_ListSigningKeysResponse__Output } from './keybroker/v1/ListSigningKeysResponse.js';
import type { RetireSigningKeyRequest as _keybroker_v1_RetireSigningKeyRequest, RetireSigningKeyRequest__Output as _keybroker_v1_RetireSigningKeyRequest__Output } from './keybroker/v1/RetireSigningKeyRequest.js';
import type { RetireSigningKeyResponse as _keybroker_v1_RetireSigningKeyResponse, RetireSigningKeyResponse__Output as _keybroker_v1_RetireSigningKeyResponse__Output } from './keybroker/v1/RetireSigningKeyResponse.js';
import type { RevocationEvent as _keybroker_v1_RevocationEvent, RevocationEvent__Output as _keybroker_v1_RevocationEvent__Output } from './keybroker/v1/RevocationEvent.js';
import type { RevocationInfo as _keybroker_v1_RevocationInfo, RevocationInfo__Output as _keybroker_v1_RevocationInfo__Output } from './keybroker/v1/RevocationInfo.js';
import type { RevokeTokensRequest as _keybroker_v1_RevokeTokensRequest, RevokeTokensRequest__Output as _keybroker_v1_RevokeTokensRequest__Output } from './keybroker/v1/RevokeTokensRequest.js';
import type { RevokeTokensResponse as _keybroker_v1_RevokeTokensResponse, RevokeTokensResponse__Output as _keybroker_v1_RevokeTokensResponse__Output } from './keybroker/v1/RevokeTokensResponse.js';
import type { RotateSigningKeyRequest as _keybroker_v1_RotateSigningKeyRequest, RotateSigningKeyRequest__Output as _keybroker_v1_RotateSigningKeyRequest__Output } from './keybroker/v1/RotateSigningKeyRequest.js';
import type { RotateSigningKeyResponse as _keybroker_v1_RotateSigningKeyResponse, RotateSigningKeyResponse__Output as _keybroker_v1_RotateSigningKeyResponse__Output } from './keybroker/v1/RotateSigningKeyResponse.js';
import type { SigningKeyInfo as _keybroker_v1_SigningKeyInfo, SigningKeyInfo__Output as _keybroker_v1_SigningKeyInfo__Output } from './keybroker/v1/SigningKeyInfo.js';
import type { StatsBucket as _keybroker_v1_StatsBucket, StatsBucket__Output as _keybroker_v1_StatsBucket__Output } from './keybroker/v1/StatsBucket.js';
import type { TaskContext as _keybroker_v1_TaskContext, TaskContext__Output as _keybroker_v1_TaskContext__Output } from './keybroker/v1/TaskContext.js';
import type { UnblockSubjectRequest as _keybroker_v1_UnblockSubjectRequest, UnblockSubjectRequest__Output as _keybroker_v1_UnblockSubjectRequest__Output } from './keybroker/v1/UnblockSubjectRequest.js';
import type { UnblockSubjectResponse as _keybroker_v1_UnblockSubjectResponse, UnblockSubjectResponse__Output as _keybroker_v1_UnblockSubjectResponse__Output } from './keybroker/v1/UnblockSubjectResponse.js';
import type { UnusedItem as _keybroker_v1_UnusedItem, UnusedItem__Output as _keybroker_v1_UnusedItem__Output } from './keybroker/v1/UnusedItem.js';
import type { UsageRow as _keybroker_v1_UsageRow, UsageRow__Output as _keybroker_v1_UsageRow__Output } from './keybroker/v1/UsageRow.js';
import type { VerifyAuditLogRequest as _keybroker_v1_VerifyAuditLogRequest, VerifyAuditLogRequest__Output as _keybroker_v1_VerifyAuditLogRequest__Output } from './keybroker/v1/VerifyAuditLogRequest.js';
import type { VerifyAuditLogResponse as _keybroker_v1_VerifyAuditLogResponse, VerifyAuditLogResponse__Output as _keybroker_v1_VerifyAuditLogResponse__Output } from './keybroker/v1/VerifyAuditLogResponse.js';
import type { WaitForApprovalRequest as _keybroker_v1_WaitForApprovalRequest, WaitForApprovalRequest__Output as _keybroker_v1_WaitForApprovalRequest__Output } from './keybroker/v1/WaitForApprovalRequest.js';
import type { WatchExchangesRequest as _keybroker_v1_WatchExchangesRequest, WatchExchangesRequest__Output as _keybroker_v1_WatchExchangesRequest__Output } from './keybroker/v1/WatchExchangesRequest.js';
import type { WatchRevocationsRequest as _keybroker_v1_WatchRevocationsRequest, WatchRevocationsRequest__Output as _keybroker_v1_WatchRevocationsRequest__Output } from './keybroker/v1/WatchRevocationsRequest.js';
import type { WhoAmIRequest as _keybroker_v1_WhoAmIRequest, WhoAmIRequest__Output as _keybroker_v1_WhoAmIRequest__Output } from './keybroker/v1/WhoAmIRequest.js';
import type { WhoAmIResponse as _keybroker_v1_WhoAmIResponse, WhoAmIResponse__Output as _keybroker_v1_WhoAmIResponse__Output } from './keybroker/v1/WhoAmIResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  keybroker: {
    v1: {
      Admin: SubtypeConstructor<typeof grpc.Client, _keybroker_v1_AdminClient> & { service: _keybroker_v1_AdminDefinition }
      Alert: MessageTypeDefinition<_keybroker_v1_Alert, _keybroker_v1_Alert__Output>
      Approval: MessageTypeDefinition<_keybroker_v1_Approval, _keybroker_v1_Approval__Output>
      ApprovalUpdate: MessageTypeDefinition<_keybroker_v1_ApprovalUpdate, _keybroker_v1_ApprovalUpdate__Output>
      Broker: SubtypeConstructor<typeof grpc.Client, _keybroker_v1_BrokerClient> & { service: _keybroker_v1_BrokerDefinition }
      CountEntry: MessageTypeDefinition<_keybroker_v1_CountEntry, _keybroker_v1_CountEntry__Output>
      DecideApprovalRequest: MessageTypeDefinition<_keybroker_v1_DecideApprovalRequest, _keybroker_v1_DecideApprovalRequest__Output>
      DecideApprovalResponse: MessageTypeDefinition<_keybroker_v1_DecideApprovalResponse, _keybroker_v1_DecideApprovalResponse__Output>
      DelegateTokenRequest: MessageTypeDefinition<_keybroker_v1_DelegateTokenRequest, _keybroker_v1_DelegateTokenRequest__Output>
      Exchange: MessageTypeDefinition<_keybroker_v1_Exchange, _keybroker_v1_Exchange__Output>
      ExchangeBatch: MessageTypeDefinition<_keybroker_v1_ExchangeBatch, _keybroker_v1_ExchangeBatch__Output>
      ExchangeFilter: MessageTypeDefinition<_keybroker_v1_ExchangeFilter, _keybroker_v1_ExchangeFilter__Output>
      FetchSecretRequest: MessageTypeDefinition<_keybroker_v1_FetchSecretRequest, _keybroker_v1_FetchSecretRequest__Output>
      FetchSecretResponse: MessageTypeDefinition<_keybroker_v1_FetchSecretResponse, _keybroker_v1_FetchSecretResponse__Output>
      GetExchangeStatsRequest: MessageTypeDefinition<_keybroker_v1_GetExchangeStatsRequest, _keybroker_v1_GetExchangeStatsRequest__Output>
      GetExchangeStatsResponse: MessageTypeDefinition<_keybroker_v1_GetExchangeStatsResponse, _keybroker_v1_GetExchangeStatsResponse__Output>
      GetJwksRequest: MessageTypeDefinition<_keybroker_v1_GetJwksRequest, _keybroker_v1_GetJwksRequest__Output>
      GetJwksResponse: MessageTypeDefinition<_keybroker_v1_GetJwksResponse, _keybroker_v1_GetJwksResponse__Output>
      GetUsageRequest: MessageTypeDefinition<_keybroker_v1_GetUsageRequest, _keybroker_v1_GetUsageRequest__Output>
      GetUsageResponse: MessageTypeDefinition<_keybroker_v1_GetUsageResponse, _keybroker_v1_GetUsageResponse__Output>
      IssueTokenRequest: MessageTypeDefinition<_keybroker_v1_IssueTokenRequest, _keybroker_v1_IssueTokenRequest__Output>
      IssueTokenResponse: MessageTypeDefinition<_keybroker_v1_IssueTokenResponse, _keybroker_v1_IssueTokenResponse__Output>
      ListAlertsRequest: MessageTypeDefinition<_keybroker_v1_ListAlertsRequest, _keybroker_v1_ListAlertsRequest__Output>
      ListAlertsResponse: MessageTypeDefinition<_keybroker_v1_ListAlertsResponse, _keybroker_v1_ListAlertsResponse__Output>
      ListApprovalsRequest: MessageTypeDefinition<_keybroker_v1_ListApprovalsRequest, _keybroker_v1_ListApprovalsRequest__Output>
      ListApprovalsResponse: MessageTypeDefinition<_keybroker_v1_ListApprovalsResponse, _keybroker_v1_ListApprovalsResponse__Output>
      ListExchangesRequest: MessageTypeDefinition<_keybroker_v1_ListExchangesRequest, _keybroker_v1_ListExchangesRequest__Output>
      ListExchangesResponse: MessageTypeDefinition<_keybroker_v1_ListExchangesResponse, _keybroker_v1_ListExchangesResponse__Output>
      ListRevocationsRequest: MessageTypeDefinition<_keybroker_v1_ListRevocationsRequest, _keybroker_v1_ListRevocationsRequest__Output>
      ListRevocationsResponse: MessageTypeDefinition<_keybroker_v1_ListRevocationsResponse, _keybroker_v1_ListRevocationsResponse__Output>
      ListSigningKeysRequest: MessageTypeDefinition<_keybroker_v1_ListSigningKeysRequest, _keybroker_v1_ListSigningKeysRequest__Output>
      ListSigningKeysResponse: MessageTypeDefinition<_keybroker_v1_ListSigningKeysResponse, _keybroker_v1_ListSigningKeysResponse__Output>
      RetireSigningKeyRequest: MessageTypeDefinition<_keybroker_v1_RetireSigningKeyRequest, _keybroker_v1_RetireSigningKeyRequest__Output>
      RetireSigningKeyResponse: MessageTypeDefinition<_keybroker_v1_RetireSigningKeyResponse, _keybroker_v1_RetireSigningKeyResponse__Output>
      RevocationEvent: MessageTypeDefinition<_keybroker_v1_RevocationEvent, _keybroker_v1_RevocationEvent__Output>
      RevocationInfo: MessageTypeDefinition<_keybroker_v1_RevocationInfo, _keybroker_v1_RevocationInfo__Output>
      RevokeTokensRequest: MessageTypeDefinition<_keybroker_v1_RevokeTokensRequest, _keybroker_v1_RevokeTokensRequest__Output>
      RevokeTokensResponse: MessageTypeDefinition<_keybroker_v1_RevokeTokensResponse, _keybroker_v1_RevokeTokensResponse__Output>
      RotateSigningKeyRequest: MessageTypeDefinition<_keybroker_v1_RotateSigningKeyRequest, _keybroker_v1_RotateSigningKeyRequest__Output>
      RotateSigningKeyResponse: MessageTypeDefinition<_keybroker_v1_RotateSigningKeyResponse, _keybroker_v1_RotateSigningKeyResponse__Output>
      SigningKeyInfo: MessageTypeDefinition<_keybroker_v1_SigningKeyInfo, _keybroker_v1_SigningKeyInfo__Output>
      StatsBucket: MessageTypeDefinition<_keybroker_v1_StatsBucket, _keybroker_v1_StatsBucket__Output>
      TaskContext: MessageTypeDefinition<_keybroker_v1_TaskContext, _keybroker_v1_TaskContext__Output>
      UnblockSubjectRequest: MessageTypeDefinition<_keybroker_v1_UnblockSubjectRequest, _keybroker_v1_UnblockSubjectRequest__Output>
      UnblockSubjectResponse: MessageTypeDefinition<_keybroker_v1_UnblockSubjectResponse, _keybroker_v1_UnblockSubjectResponse__Output>
      UnusedItem: MessageTypeDefinition<_keybroker_v1_UnusedItem, _keybroker_v1_UnusedItem__Output>
      UsageRow: MessageTypeDefinition<_keybroker_v1_UsageRow, _keybroker_v1_UsageRow__Output>
      VerifyAuditLogRequest: MessageTypeDefinition<_keybroker_v1_VerifyAuditLogRequest, _keybroker_v1_VerifyAuditLogRequest__Output>
      VerifyAuditLogResponse: MessageTypeDefinition<_keybroker_v1_VerifyAuditLogResponse, _keybroker_v1_VerifyAuditLogResponse__Output>
      WaitForApprovalRequest: MessageTypeDefinition<_keybroker_v1_WaitForApprovalRequest, _keybroker_v1_WaitForApprovalRequest__Output>
      WatchExchangesRequest: MessageTypeDefinition<_keybroker_v1_WatchExchangesRequest, _keybroker_v1_WatchExchangesRequest__Output>
      WatchRevocationsRequest: MessageTypeDefinition<_keybroker_v1_WatchRevocationsRequest, _keybroker_v1_WatchRevocationsRequest__Output>
      WhoAmIRequest: MessageTypeDefinition<_keybroker_v1_WhoAmIRequest, _keybroker_v1_WhoAmIRequest__Output>
      WhoAmIResponse: MessageTypeDefinition<_keybroker_v1_WhoAmIResponse, _keybroker_v1_WhoAmIResponse__Output>
    }
  }
}

