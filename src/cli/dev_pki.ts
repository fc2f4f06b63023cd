import 'reflect-metadata'
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as unknown as Crypto)

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const

export interface IssuedCertificate {
  certPem: string
  keyPem: string
  cert: x509.X509Certificate
  keys: CryptoKeyPair
}

export interface CertificateOptions {
  commonName: string
  /** URI SANs, e.g. SPIFFE IDs. */
  uris?: string[]
  dns?: string[]
  ips?: string[]
  /** Make it a CA (basicConstraints CA:true + keyCertSign). */
  ca?: boolean
  /** keyCertSign without basicConstraints CA (a malformed "leaf" some tests need). */
  keyCertSignOnly?: boolean
  notBefore?: Date
  notAfter?: Date
  usage?: 'server' | 'client' | 'both'
}

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64')
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`
}

async function build(options: CertificateOptions, issuer?: IssuedCertificate): Promise<IssuedCertificate> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair
  const now = Date.now()
  const extensions: x509.Extension[] = []
  if (options.ca) {
    extensions.push(new x509.BasicConstraintsExtension(true, undefined, true))
    extensions.push(
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    )
  } else {
    extensions.push(new x509.BasicConstraintsExtension(false, undefined, true))
    const flags =
      x509.KeyUsageFlags.digitalSignature | (options.keyCertSignOnly ? x509.KeyUsageFlags.keyCertSign : 0)
    extensions.push(new x509.KeyUsagesExtension(flags, true))
    const usage = options.usage ?? 'client'
    const eku: string[] = []
    if (usage !== 'client') eku.push(x509.ExtendedKeyUsage.serverAuth)
    if (usage !== 'server') eku.push(x509.ExtendedKeyUsage.clientAuth)
    extensions.push(new x509.ExtendedKeyUsageExtension(eku))
  }
  const names: x509.JsonGeneralName[] = [
    ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(options.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ]
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names))
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey))
  if (issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey))
  const name = `CN=${options.commonName}`
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    subject: name,
    issuer: issuer ? issuer.cert.subject : name,
    notBefore: options.notBefore ?? new Date(now - 60_000),
    notAfter: options.notAfter ?? new Date(now + 365 * 86_400_000),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: issuer ? issuer.keys.privateKey : keys.privateKey,
    extensions,
  })
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  return { certPem: cert.toString('pem') + '\n', keyPem: toPem(pkcs8, 'PRIVATE KEY'), cert, keys }
}

/** A self-signed CA. */
export function createCertificateAuthority(commonName: string, options: Partial<CertificateOptions> = {}) {
  return build({ ...options, commonName, ca: true })
}

/** A certificate signed by `issuer`. */
export function issueCertificate(issuer: IssuedCertificate, options: CertificateOptions) {
  return build(options, issuer)
}
