export type { AlertRulesConfig, AlertSinkConfig, AlertsConfig, MetricsConfig } from './alerts_schema.js'
export { type ConfigCheck, checkConfig } from './check.js'
export { formatDuration, parseDuration } from './duration.js'
export { checkConfigFiles } from './files.js'
export { ConfigError, loadConfig, parseConfig } from './load.js'
export { statePermissionWarnings } from './permissions.js'
export type {
  AdminEntry,
  AdminRole,
  ApprovalConfig,
  ApproverEntry,
  BrokerConfig,
  GrantConfig,
  GrantTokenConfig,
  ProviderConfig,
  RouteConfig,
  SecretConfig,
  TrustedIssuerConfig,
} from './schema.js'
