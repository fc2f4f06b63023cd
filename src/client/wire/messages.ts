/**
 * The Broker responses the SDK reads, as its codec decodes them (field names as in the .proto,
 * int64 as number, every field present). Checked against the wire by the SDK's tests.
 */

export interface IssueTokenResponseWire {
  token: string
  token_type: string
  expires_at: number
  scopes: string[]
  audience: string
  token_id: string
  exchange_id: string
  /** the real proxy-use budget (0 = unlimited) */
  max_uses: number
}

export interface FetchSecretResponseWire {
  value: Buffer
  version: string
  expires_at: number
  exchange_id: string
}

export interface WhoAmIResponseWire {
  subject: string
  auth_method: string
  attributes: Record<string, string>
  grants: string[]
  issuer: string
  cert_thumbprint: string
}
