import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createCertificateAuthority, issueCertificate } from './dev_pki.js'

export const DEV_WORKLOADS = {
  billing: 'spiffe://example.org/ns/prod/sa/billing',
  agent: 'spiffe://example.org/ns/agents/sa/research-agent',
  admin: 'spiffe://example.org/ops/keybroker-admin',
} as const

/**
 * A development PKI (one CA; a server certificate for localhost; workload certificates with
 * SPIFFE IDs) and a config that uses it. Never overwrites: an existing folder is left alone.
 */
export async function initDevEnvironment(dir: string): Promise<boolean> {
  const root = resolve(dir)
  const configFile = join(root, 'keybroker.yaml')
  if (existsSync(configFile)) return false
  const pki = join(root, 'pki')
  mkdirSync(pki, { recursive: true, mode: 0o700 })
  const write = (name: string, text: string, mode = 0o644) => writeFileSync(join(pki, name), text, { mode })

  const ca = await createCertificateAuthority('keybroker dev CA')
  write('ca.pem', ca.certPem)
  const server = await issueCertificate(ca, {
    commonName: 'localhost',
    dns: ['localhost'],
    ips: ['127.0.0.1', '::1'],
    usage: 'server',
  })
  write('server.pem', server.certPem)
  write('server-key.pem', server.keyPem, 0o600)
  for (const [name, spiffeId] of Object.entries(DEV_WORKLOADS)) {
    const cert = await issueCertificate(ca, { commonName: name, uris: [spiffeId] })
    write(`${name}.pem`, cert.certPem)
    write(`${name}-key.pem`, cert.keyPem, 0o600)
  }
  writeFileSync(configFile, devConfig(), { mode: 0o644 })
  return true
}

function devConfig(): string {
  return `# Development config written by \`keybroker dev-init\` (make run). Paths are relative to this file.
issuer: https://localhost:7080
listen: { grpc: "127.0.0.1:7443", http: "127.0.0.1:7080" }
tls:
  cert_file: pki/server.pem
  key_file: pki/server-key.pem
  client_ca_files: [pki/ca.pem]
audit: { path: data/keybroker.db, retention_days: 90 }
keys: { algorithm: ES256, rotation_period: 24h, publish_ahead: 1m, kek_file: data/kek }
admins: ["${DEV_WORKLOADS.admin}"]
grants:
  - name: billing
    match: { spiffe_id: "${DEV_WORKLOADS.billing}" }
    tokens:
      - { audience: payments-api, scopes: ["payments:read", "payments:write"], max_ttl: 15m }
  - name: agents
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: search-api, scopes: ["search:read"], default_ttl: 2m, max_ttl: 5m }
    delegation: { max_depth: 2 }
`
}
