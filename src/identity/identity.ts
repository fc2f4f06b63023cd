/** Who the caller is, worked out once per call from the connection and/or its bearer token. */
export interface Identity {
  /** SPIFFE ID for mtls; the token's `sub` (or preset-derived subject) for oidc. */
  subject: string
  method: 'mtls' | 'oidc'
  /** Trust domain (`spiffe://example.org`) for mtls; the token's `iss` for oidc. */
  issuer: string
  /** Name of the `trust.oidc[]` entry that verified the token (oidc only). */
  trustName?: string
  /** Attributes policy may match on (oidc: claims mapped by config; mtls: none). */
  attributes: Record<string, string>
  /** base64url SHA-256 of the client certificate DER (same value as cnf.x5t#S256). */
  certThumbprint?: string
}
