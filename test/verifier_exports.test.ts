import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import {
  type BrokerTokenClaims,
  bearerMiddleware,
  CertificateMismatch,
  callPrincipal,
  createVerifier,
  type GrpcAuthOptions,
  grpcBearerInterceptor,
  type HttpAuthOptions,
  InsufficientScope,
  Malformed,
  MissingToken,
  Revoked,
  requestPrincipal,
  TokenExpired,
  VerificationError,
  type VerifiedToken,
  type Verifier,
  type VerifierErrorCode,
  type VerifierOptions,
  VerifierUnavailable,
  WrongAudience,
} from 'keybroker/verifier'
import { REPO_ROOT } from './fixtures/broker.js'

describe('package export keybroker/verifier', () => {
  it('resolves for a consumer and exposes the verifier, its adapters and typed errors', () => {
    const options: VerifierOptions = { issuer: 'https://keybroker.test', audience: ['a', 'b'] }
    const verifier: Verifier = createVerifier(options)
    const grpcOptions: GrpcAuthOptions = { scopes: { '/x.v1.X/Y': ['x:read'] } }
    const httpOptions: HttpAuthOptions = { scopes: ['x:read'], realm: 'x' }
    expect(grpcBearerInterceptor(verifier, grpcOptions)).to.be.a('function')
    expect(bearerMiddleware(verifier, httpOptions)).to.be.a('function')
    expect(callPrincipal).to.be.a('function')
    expect(requestPrincipal).to.be.a('function')
    const principal: VerifiedToken | undefined = undefined
    const claims: Pick<BrokerTokenClaims, 'sub'> = { sub: 'spiffe://example.org/x' }
    expect([principal, claims.sub]).to.deep.equal([undefined, 'spiffe://example.org/x'])
    const codes: VerifierErrorCode[] = [
      new MissingToken('m').code,
      new Malformed('m').code,
      new TokenExpired('m').code,
      new WrongAudience('m', ['x']).code,
      new InsufficientScope('m', ['s']).code,
      new Revoked('m', 'jti').code,
      new CertificateMismatch('m').code,
      new VerifierUnavailable('ERR_REVOCATIONS_UNAVAILABLE', 'm').code,
    ]
    expect(codes).to.deep.equal([
      'ERR_NO_CREDENTIALS',
      'ERR_TOKEN_INVALID',
      'ERR_TOKEN_EXPIRED',
      'ERR_WRONG_AUDIENCE',
      'ERR_INSUFFICIENT_SCOPE',
      'ERR_TOKEN_REVOKED',
      'ERR_CERTIFICATE_MISMATCH',
      'ERR_REVOCATIONS_UNAVAILABLE',
    ])
    expect(new InsufficientScope('m', ['s'])).to.be.instanceOf(VerificationError)
    expect(new InsufficientScope('m', ['s']).name).to.equal('InsufficientScope')
    verifier.close()
  })

  it('imports nothing of the broker: only jose, grpc-js, node:, the SDK wire codec and the error codes', () => {
    const dir = join(REPO_ROOT, 'src/verifier')
    // it ships in @keybroker/client: no proto-loader, no generated types, no server code
    const allowed = [
      /^jose$/,
      /^@grpc\/grpc-js$/,
      /^node:/,
      /^\.\/[a-z_]+\.js$/,
      /^\.\.\/client\/wire\/service\.js$/,
      /^\.\.\/errors\/codes\.js$/,
    ]
    const offending: string[] = []
    for (const file of readdirSync(dir)) {
      // doc-comment examples (` * import … from 'keybroker/verifier'`) are not imports
      const text = readFileSync(join(dir, file), 'utf8')
      for (const [, specifier] of text.matchAll(/^(?:import|export|\}).* from '([^']+)'/gm))
        if (!allowed.some((re) => re.test(specifier!))) offending.push(`${file}: ${specifier}`)
    }
    expect(offending).to.deep.equal([])
  })
})
