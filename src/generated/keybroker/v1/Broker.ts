// Original file: proto/keybroker/v1/broker.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ApprovalUpdate as _keybroker_v1_ApprovalUpdate, ApprovalUpdate__Output as _keybroker_v1_ApprovalUpdate__Output } from '../../keybroker/v1/ApprovalUpdate.js';
import type { DelegateTokenRequest as _keybroker_v1_DelegateTokenRequest, DelegateTokenRequest__Output as _keybroker_v1_DelegateTokenRequest__Output } from '../../keybroker/v1/DelegateTokenRequest.js';
import type { FetchSecretRequest as _keybroker_v1_FetchSecretRequest, FetchSecretRequest__Output as _keybroker_v1_FetchSecretRequest__Output } from '../../keybroker/v1/FetchSecretRequest.js';
import type { FetchSecretResponse as _keybroker_v1_FetchSecretResponse, FetchSecretResponse__Output as _keybroker_v1_FetchSecretResponse__Output } from '../../keybroker/v1/FetchSecretResponse.js';
import type { GetJwksRequest as _keybroker_v1_GetJwksRequest, GetJwksRequest__Output as _keybroker_v1_GetJwksRequest__Output } from '../../keybroker/v1/GetJwksRequest.js';
import type { GetJwksResponse as _keybroker_v1_GetJwksResponse, GetJwksResponse__Output as _keybroker_v1_GetJwksResponse__Output } from '../../keybroker/v1/GetJwksResponse.js';
import type { IssueTokenRequest as _keybroker_v1_IssueTokenRequest, IssueTokenRequest__Output as _keybroker_v1_IssueTokenRequest__Output } from '../../keybroker/v1/IssueTokenRequest.js';
import type { IssueTokenResponse as _keybroker_v1_IssueTokenResponse, IssueTokenResponse__Output as _keybroker_v1_IssueTokenResponse__Output } from '../../keybroker/v1/IssueTokenResponse.js';
import type { RevocationEvent as _keybroker_v1_RevocationEvent, RevocationEvent__Output as _keybroker_v1_RevocationEvent__Output } from '../../keybroker/v1/RevocationEvent.js';
import type { WaitForApprovalRequest as _keybroker_v1_WaitForApprovalRequest, WaitForApprovalRequest__Output as _keybroker_v1_WaitForApprovalRequest__Output } from '../../keybroker/v1/WaitForApprovalRequest.js';
import type { WatchRevocationsRequest as _keybroker_v1_WatchRevocationsRequest, WatchRevocationsRequest__Output as _keybroker_v1_WatchRevocationsRequest__Output } from '../../keybroker/v1/WatchRevocationsRequest.js';
import type { WhoAmIRequest as _keybroker_v1_WhoAmIRequest, WhoAmIRequest__Output as _keybroker_v1_WhoAmIRequest__Output } from '../../keybroker/v1/WhoAmIRequest.js';
import type { WhoAmIResponse as _keybroker_v1_WhoAmIResponse, WhoAmIResponse__Output as _keybroker_v1_WhoAmIResponse__Output } from '../../keybroker/v1/WhoAmIResponse.js';

export interface BrokerClient extends grpc.Client {
  DelegateToken(argument: _keybroker_v1_DelegateTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  DelegateToken(argument: _keybroker_v1_DelegateTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  DelegateToken(argument: _keybroker_v1_DelegateTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  DelegateToken(argument: _keybroker_v1_DelegateTokenRequest, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  delegateToken(argument: _keybroker_v1_DelegateTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  delegateToken(argument: _keybroker_v1_DelegateTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  delegateToken(argument: _keybroker_v1_DelegateTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  delegateToken(argument: _keybroker_v1_DelegateTokenRequest, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  
  FetchSecret(argument: _keybroker_v1_FetchSecretRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_FetchSecretResponse__Output>): grpc.ClientUnaryCall;
  FetchSecret(argument: _keybroker_v1_FetchSecretRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_FetchSecretResponse__Output>): grpc.ClientUnaryCall;
  FetchSecret(argument: _keybroker_v1_FetchSecretRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_FetchSecretResponse__Output>): grpc.ClientUnaryCall;
  FetchSecret(argument: _keybroker_v1_FetchSecretRequest, callback: grpc.requestCallback<_keybroker_v1_FetchSecretResponse__Output>): grpc.ClientUnaryCall;
  fetchSecret(argument: _keybroker_v1_FetchSecretRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_FetchSecretResponse__Output>): grpc.ClientUnaryCall;
  fetchSecret(argument: _keybroker_v1_FetchSecretRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_FetchSecretResponse__Output>): grpc.ClientUnaryCall;
  fetchSecret(argument: _keybroker_v1_FetchSecretRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_FetchSecretResponse__Output>): grpc.ClientUnaryCall;
  fetchSecret(argument: _keybroker_v1_FetchSecretRequest, callback: grpc.requestCallback<_keybroker_v1_FetchSecretResponse__Output>): grpc.ClientUnaryCall;
  
  GetJwks(argument: _keybroker_v1_GetJwksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  GetJwks(argument: _keybroker_v1_GetJwksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  GetJwks(argument: _keybroker_v1_GetJwksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  GetJwks(argument: _keybroker_v1_GetJwksRequest, callback: grpc.requestCallback<_keybroker_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  getJwks(argument: _keybroker_v1_GetJwksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  getJwks(argument: _keybroker_v1_GetJwksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  getJwks(argument: _keybroker_v1_GetJwksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  getJwks(argument: _keybroker_v1_GetJwksRequest, callback: grpc.requestCallback<_keybroker_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  
  IssueToken(argument: _keybroker_v1_IssueTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  IssueToken(argument: _keybroker_v1_IssueTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  IssueToken(argument: _keybroker_v1_IssueTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  IssueToken(argument: _keybroker_v1_IssueTokenRequest, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  issueToken(argument: _keybroker_v1_IssueTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  issueToken(argument: _keybroker_v1_IssueTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  issueToken(argument: _keybroker_v1_IssueTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  issueToken(argument: _keybroker_v1_IssueTokenRequest, callback: grpc.requestCallback<_keybroker_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  
  WaitForApproval(argument: _keybroker_v1_WaitForApprovalRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_ApprovalUpdate__Output>;
  WaitForApproval(argument: _keybroker_v1_WaitForApprovalRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_ApprovalUpdate__Output>;
  waitForApproval(argument: _keybroker_v1_WaitForApprovalRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_ApprovalUpdate__Output>;
  waitForApproval(argument: _keybroker_v1_WaitForApprovalRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_ApprovalUpdate__Output>;
  
  WatchRevocations(argument: _keybroker_v1_WatchRevocationsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_RevocationEvent__Output>;
  WatchRevocations(argument: _keybroker_v1_WatchRevocationsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_RevocationEvent__Output>;
  watchRevocations(argument: _keybroker_v1_WatchRevocationsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_RevocationEvent__Output>;
  watchRevocations(argument: _keybroker_v1_WatchRevocationsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_keybroker_v1_RevocationEvent__Output>;
  
  WhoAmI(argument: _keybroker_v1_WhoAmIRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  WhoAmI(argument: _keybroker_v1_WhoAmIRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  WhoAmI(argument: _keybroker_v1_WhoAmIRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  WhoAmI(argument: _keybroker_v1_WhoAmIRequest, callback: grpc.requestCallback<_keybroker_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  whoAmI(argument: _keybroker_v1_WhoAmIRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  whoAmI(argument: _keybroker_v1_WhoAmIRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_keybroker_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  whoAmI(argument: _keybroker_v1_WhoAmIRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_keybroker_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  whoAmI(argument: _keybroker_v1_WhoAmIRequest, callback: grpc.requestCallback<_keybroker_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface BrokerHandlers extends grpc.UntypedServiceImplementation {
  DelegateToken: grpc.handleUnaryCall<_keybroker_v1_DelegateTokenRequest__Output, _keybroker_v1_IssueTokenResponse>;
  
  FetchSecret: grpc.handleUnaryCall<_keybroker_v1_FetchSecretRequest__Output, _keybroker_v1_FetchSecretResponse>;
  
  GetJwks: grpc.handleUnaryCall<_keybroker_v1_GetJwksRequest__Output, _keybroker_v1_GetJwksResponse>;
  
  IssueToken: grpc.handleUnaryCall<_keybroker_v1_IssueTokenRequest__Output, _keybroker_v1_IssueTokenResponse>;
  
  WaitForApproval: grpc.handleServerStreamingCall<_keybroker_v1_WaitForApprovalRequest__Output, _keybroker_v1_ApprovalUpdate>;
  
  WatchRevocations: grpc.handleServerStreamingCall<_keybroker_v1_WatchRevocationsRequest__Output, _keybroker_v1_RevocationEvent>;
  
  WhoAmI: grpc.handleUnaryCall<_keybroker_v1_WhoAmIRequest__Output, _keybroker_v1_WhoAmIResponse>;
  
}

export interface BrokerDefinition extends grpc.ServiceDefinition {
  DelegateToken: MethodDefinition<_keybroker_v1_DelegateTokenRequest, _keybroker_v1_IssueTokenResponse, _keybroker_v1_DelegateTokenRequest__Output, _keybroker_v1_IssueTokenResponse__Output>
  FetchSecret: MethodDefinition<_keybroker_v1_FetchSecretRequest, _keybroker_v1_FetchSecretResponse, _keybroker_v1_FetchSecretRequest__Output, _keybroker_v1_FetchSecretResponse__Output>
  GetJwks: MethodDefinition<_keybroker_v1_GetJwksRequest, _keybroker_v1_GetJwksResponse, _keybroker_v1_GetJwksRequest__Output, _keybroker_v1_GetJwksResponse__Output>
  IssueToken: MethodDefinition<_keybroker_v1_IssueTokenRequest, _keybroker_v1_IssueTokenResponse, _keybroker_v1_IssueTokenRequest__Output, _keybroker_v1_IssueTokenResponse__Output>
  WaitForApproval: MethodDefinition<_keybroker_v1_WaitForApprovalRequest, _keybroker_v1_ApprovalUpdate, _keybroker_v1_WaitForApprovalRequest__Output, _keybroker_v1_ApprovalUpdate__Output>
  WatchRevocations: MethodDefinition<_keybroker_v1_WatchRevocationsRequest, _keybroker_v1_RevocationEvent, _keybroker_v1_WatchRevocationsRequest__Output, _keybroker_v1_RevocationEvent__Output>
  WhoAmI: MethodDefinition<_keybroker_v1_WhoAmIRequest, _keybroker_v1_WhoAmIResponse, _keybroker_v1_WhoAmIRequest__Output, _keybroker_v1_WhoAmIResponse__Output>
}
