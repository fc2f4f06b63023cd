import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AdminClient as _keybroker_v1_AdminClient, AdminDefinition as _keybroker_v1_AdminDefinition } from './keybroker/v1/Admin.js';
import type { BrokerClient as _keybroker_v1_BrokerClient, BrokerDefinition as _keybroker_v1_BrokerDefinition } from './keybroker/v1/Broker.js';
import type { DelegateTokenRequest as _keybroker_v1_DelegateTokenRequest, DelegateTokenRequest__Output as _keybroker_v1_DelegateTokenRequest__Output } from './keybroker/v1/DelegateTokenRequest.js';
import type { Exchange as _keybroker_v1_Exchange, Exchange__Output as _keybroker_v1_Exchange__Output } from './keybroker/v1/Exchange.js';
import type { ExchangeFilter as _keybroker_v1_ExchangeFilter, ExchangeFilter__Output as _keybroker_v1_ExchangeFilter__Output } from './keybroker/v1/ExchangeFilter.js';
import type { FetchSecretRequest as _keybroker_v1_FetchSecretRequest, FetchSecretRequest__Output as _keybroker_v1_FetchSecretRequest__Output } from './keybroker/v1/FetchSecretRequest.js';
import type { FetchSecretResponse as _keybroker_v1_FetchSecretResponse, FetchSecretResponse__Output as _keybroker_v1_FetchSecretResponse__Output } from './keybroker/v1/FetchSecretResponse.js';
import type { GetJwksRequest as _keybroker_v1_GetJwksRequest, GetJwksRequest__Output as _keybroker_v1_GetJwksRequest__Output } from './keybroker/v1/GetJwksRequest.js';
import type { GetJwksResponse as _keybroker_v1_GetJwksResponse, GetJwksResponse__Output as _keybroker_v1_GetJwksResponse__Output } from './keybroker/v1/GetJwksResponse.js';
import type { IssueTokenRequest as _keybroker_v1_IssueTokenRequest, IssueTokenRequest__Output as _keybroker_v1_IssueTokenRequest__Output } from './keybroker/v1/IssueTokenRequest.js';
import type { IssueTokenResponse as _keybroker_v1_IssueTokenResponse, IssueTokenResponse__Output as _keybroker_v1_IssueTokenResponse__Output } from './keybroker/v1/IssueTokenResponse.js';
import type { ListExchangesRequest as _keybroker_v1_ListExchangesRequest, ListExchangesRequest__Output as _keybroker_v1_ListExchangesRequest__Output } from './keybroker/v1/ListExchangesRequest.js';
import type { ListExchangesResponse as _keybroker_v1_ListExchangesResponse, ListExchangesResponse__Output as _keybroker_v1_ListExchangesResponse__Output } from './keybroker/v1/ListExchangesResponse.js';
import type { RevocationEvent as _keybroker_v1_RevocationEvent, RevocationEvent__Output as _keybroker_v1_RevocationEvent__Output } from './keybroker/v1/RevocationEvent.js';
import type { RevokeTokensRequest as _keybroker_v1_RevokeTokensRequest, RevokeTokensRequest__Output as _keybroker_v1_RevokeTokensRequest__Output } from './keybroker/v1/RevokeTokensRequest.js';
import type { RevokeTokensResponse as _keybroker_v1_RevokeTokensResponse, RevokeTokensResponse__Output as _keybroker_v1_RevokeTokensResponse__Output } from './keybroker/v1/RevokeTokensResponse.js';
import type { RotateSigningKeyRequest as _keybroker_v1_RotateSigningKeyRequest, RotateSigningKeyRequest__Output as _keybroker_v1_RotateSigningKeyRequest__Output } from './keybroker/v1/RotateSigningKeyRequest.js';
import type { RotateSigningKeyResponse as _keybroker_v1_RotateSigningKeyResponse, RotateSigningKeyResponse__Output as _keybroker_v1_RotateSigningKeyResponse__Output } from './keybroker/v1/RotateSigningKeyResponse.js';
import type { TaskContext as _keybroker_v1_TaskContext, TaskContext__Output as _keybroker_v1_TaskContext__Output } from './keybroker/v1/TaskContext.js';
import type { UnblockSubjectRequest as _keybroker_v1_UnblockSubjectRequest, UnblockSubjectRequest__Output as _keybroker_v1_UnblockSubjectRequest__Output } from './keybroker/v1/UnblockSubjectRequest.js';
import type { UnblockSubjectResponse as _keybroker_v1_UnblockSubjectResponse, UnblockSubjectResponse__Output as _keybroker_v1_UnblockSubjectResponse__Output } from './keybroker/v1/UnblockSubjectResponse.js';
import type { VerifyAuditLogRequest as _keybroker_v1_VerifyAuditLogRequest, VerifyAuditLogRequest__Output as _keybroker_v1_VerifyAuditLogRequest__Output } from './keybroker/v1/VerifyAuditLogRequest.js';
import type { VerifyAuditLogResponse as _keybroker_v1_VerifyAuditLogResponse, VerifyAuditLogResponse__Output as _keybroker_v1_VerifyAuditLogResponse__Output } from './keybroker/v1/VerifyAuditLogResponse.js';
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
      Broker: SubtypeConstructor<typeof grpc.Client, _keybroker_v1_BrokerClient> & { service: _keybroker_v1_BrokerDefinition }
      DelegateTokenRequest: MessageTypeDefinition<_keybroker_v1_DelegateTokenRequest, _keybroker_v1_DelegateTokenRequest__Output>
      Exchange: MessageTypeDefinition<_keybroker_v1_Exchange, _keybroker_v1_Exchange__Output>
      ExchangeFilter: MessageTypeDefinition<_keybroker_v1_ExchangeFilter, _keybroker_v1_ExchangeFilter__Output>
      FetchSecretRequest: MessageTypeDefinition<_keybroker_v1_FetchSecretRequest, _keybroker_v1_FetchSecretRequest__Output>
      FetchSecretResponse: MessageTypeDefinition<_keybroker_v1_FetchSecretResponse, _keybroker_v1_FetchSecretResponse__Output>
      GetJwksRequest: MessageTypeDefinition<_keybroker_v1_GetJwksRequest, _keybroker_v1_GetJwksRequest__Output>
      GetJwksResponse: MessageTypeDefinition<_keybroker_v1_GetJwksResponse, _keybroker_v1_GetJwksResponse__Output>
      IssueTokenRequest: MessageTypeDefinition<_keybroker_v1_IssueTokenRequest, _keybroker_v1_IssueTokenRequest__Output>
      IssueTokenResponse: MessageTypeDefinition<_keybroker_v1_IssueTokenResponse, _keybroker_v1_IssueTokenResponse__Output>
      ListExchangesRequest: MessageTypeDefinition<_keybroker_v1_ListExchangesRequest, _keybroker_v1_ListExchangesRequest__Output>
      ListExchangesResponse: MessageTypeDefinition<_keybroker_v1_ListExchangesResponse, _keybroker_v1_ListExchangesResponse__Output>
      RevocationEvent: MessageTypeDefinition<_keybroker_v1_RevocationEvent, _keybroker_v1_RevocationEvent__Output>
      RevokeTokensRequest: MessageTypeDefinition<_keybroker_v1_RevokeTokensRequest, _keybroker_v1_RevokeTokensRequest__Output>
      RevokeTokensResponse: MessageTypeDefinition<_keybroker_v1_RevokeTokensResponse, _keybroker_v1_RevokeTokensResponse__Output>
      RotateSigningKeyRequest: MessageTypeDefinition<_keybroker_v1_RotateSigningKeyRequest, _keybroker_v1_RotateSigningKeyRequest__Output>
      RotateSigningKeyResponse: MessageTypeDefinition<_keybroker_v1_RotateSigningKeyResponse, _keybroker_v1_RotateSigningKeyResponse__Output>
      TaskContext: MessageTypeDefinition<_keybroker_v1_TaskContext, _keybroker_v1_TaskContext__Output>
      UnblockSubjectRequest: MessageTypeDefinition<_keybroker_v1_UnblockSubjectRequest, _keybroker_v1_UnblockSubjectRequest__Output>
      UnblockSubjectResponse: MessageTypeDefinition<_keybroker_v1_UnblockSubjectResponse, _keybroker_v1_UnblockSubjectResponse__Output>
      VerifyAuditLogRequest: MessageTypeDefinition<_keybroker_v1_VerifyAuditLogRequest, _keybroker_v1_VerifyAuditLogRequest__Output>
      VerifyAuditLogResponse: MessageTypeDefinition<_keybroker_v1_VerifyAuditLogResponse, _keybroker_v1_VerifyAuditLogResponse__Output>
      WatchExchangesRequest: MessageTypeDefinition<_keybroker_v1_WatchExchangesRequest, _keybroker_v1_WatchExchangesRequest__Output>
      WatchRevocationsRequest: MessageTypeDefinition<_keybroker_v1_WatchRevocationsRequest, _keybroker_v1_WatchRevocationsRequest__Output>
      WhoAmIRequest: MessageTypeDefinition<_keybroker_v1_WhoAmIRequest, _keybroker_v1_WhoAmIRequest__Output>
      WhoAmIResponse: MessageTypeDefinition<_keybroker_v1_WhoAmIResponse, _keybroker_v1_WhoAmIResponse__Output>
    }
  }
}

