import { AwsSecretsManagerProvider, type AwsSecretsManagerProviderOptions } from './aws.js'
import { FileProvider, type FileProviderOptions } from './file.js'
import type { Provider } from './provider.js'
import { VaultProvider, type VaultProviderOptions } from './vault.js'

export type ProviderOptions =
  | ({ type: 'vault' } & VaultProviderOptions)
  | ({ type: 'aws-secrets-manager' } & AwsSecretsManagerProviderOptions)
  | ({ type: 'file' } & FileProviderOptions)

/**
 * Build a provider from plain options (the composition root maps config onto these).
 *
 * @example
 * const aws = createProvider({ type: 'aws-secrets-manager', name: 'aws', region: 'eu-west-1', timeoutMs: 5000 })
 */
export function createProvider(opts: ProviderOptions): Provider {
  switch (opts.type) {
    case 'vault':
      return new VaultProvider(opts)
    case 'aws-secrets-manager':
      return new AwsSecretsManagerProvider(opts)
    case 'file':
      return new FileProvider(opts)
  }
}
