import { hkdfSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { BrokerConfig } from '../config/index.js'
import { BrokerError } from '../errors.js'
import { trustedIssuerFromConfig } from '../identity/oidc/options.js'
import type { TrustedIssuer } from '../identity/oidc.js'
import { countCertificates, type TlsMaterial } from './grpc_listener.js'

/*
 * Config sections → the options of the parts that use them. The composition root (app.ts) calls
 * these at start and on reload; errors name the config file and key path.
 */

/** Page tokens must survive a restart and agree across replicas sharing the KEK, so derive their key from it. */
export function pageTokenKey(kek: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'keybroker audit page tokens v1', 32))
}

export function readTlsMaterial(config: BrokerConfig): TlsMaterial | undefined {
  const tls = config.tls
  if (!tls) return undefined
  const read = (path: string, key: string) => {
    try {
      return readFileSync(path)
    } catch (err) {
      throw new BrokerError(
        'ERR_CONFIG',
        `${config.sourceFile}: ${key}: cannot read ${path}: ${(err as Error).message}`,
      )
    }
  }
  const cert = read(tls.cert_file, 'tls.cert_file')
  const key = read(tls.key_file, 'tls.key_file')
  const bundles = tls.client_ca_files.map((file, i) => {
    const pem = read(file, `tls.client_ca_files[${i}]`)
    if (countCertificates(pem.toString('utf8')) === 0) {
      throw new BrokerError(
        'ERR_CONFIG',
        `${config.sourceFile}: tls.client_ca_files[${i}]: ${file} holds no PEM certificate`,
      )
    }
    return pem
  })
  // grpc-js and node:tls take one CA buffer: concatenate every bundle (CONVENTIONS.md).
  return { cert, key, clientCa: Buffer.concat(bundles.flatMap((b) => [b, Buffer.from('\n')])) }
}

/** `trust.oidc[]` → the verifier's options; reads each `ca_file` (the schema validated the rest). */
export function trustedIssuers(config: BrokerConfig): TrustedIssuer[] {
  return config.trust.oidc.map((t, i) => {
    let caPem: string | undefined
    if (t.ca_file) {
      const key = `trust.oidc[${i}].ca_file`
      try {
        caPem = readFileSync(t.ca_file, 'utf8')
      } catch (err) {
        throw new BrokerError('ERR_CONFIG', `${config.sourceFile}: ${key}: ${(err as Error).message}`)
      }
      if (countCertificates(caPem) === 0)
        throw new BrokerError(
          'ERR_CONFIG',
          `${config.sourceFile}: ${key}: ${t.ca_file} holds no PEM certificate`,
        )
    }
    return trustedIssuerFromConfig(t, caPem)
  })
}

export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':')
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) }
}
