import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createCertificateAuthority, issueCertificate } from './dev_pki.js'

export const DEV_WORKLOADS = {
  billing: 'spiffe://example.org/ns/prod/sa/billing',
  agent: 'spiffe://example.org/ns/agents/sa/research-agent',
  admin: 'spiffe://example.org/ops/keybroker-admin',
} as const

/** Where `dev-upstream` listens by default; the dev config's `demo` route points here. */
export const DEV_UPSTREAM_PORT = 9443

/** The file (relative to the dev folder) holding the demo API key the proxy injects. */
export const DEV_SECRETS_FILE = 'secrets.json'

/**
 * A development PKI (one CA; a server certificate for localhost; workload certificates with
 * SPIFFE IDs), a secrets file with a random demo API key, and a config that uses them.
 * Never overwrites: an existing folder is left alone.
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
  const secretsFile = join(root, DEV_SECRETS_FILE)
  // kept when present (a config deleted to regenerate it); 0600 because the file provider demands it
  if (!existsSync(secretsFile)) {
    const demoKey = `sk_demo_${randomBytes(18).toString('base64url')}`
    writeFileSync(secretsFile, `${JSON.stringify({ api_key: demoKey }, null, 2)}\n`, { mode: 0o600 })
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
storage: { driver: sqlite, path: data/keybroker.db }
audit: { retention_days: 90 }
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
      - { audience: "proxy:demo", scopes: ["GET /v1/charges*"], max_ttl: 5m }
    delegation: { max_depth: 2 }
# The injection proxy demo: agents call /proxy/demo/... with a broker token; the broker adds the
# key from ${DEV_SECRETS_FILE}. Start the demo API with \`keybroker dev-upstream\`.
providers:
  local: { type: file, path: ${DEV_SECRETS_FILE} }
secrets:
  demo-key: { provider: local, field: api_key }
routes:
  demo: { upstream: "https://127.0.0.1:${DEV_UPSTREAM_PORT}", secret: demo-key, ca_file: pki/ca.pem }
`
}
