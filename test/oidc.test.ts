import { expect } from 'chai'
import { generateKeyPair } from 'jose'
import { ManualClock } from '../src/clock.js'
import { parseConfig } from '../src/config/index.js'
import { BrokerError, type BrokerErrorCode } from '../src/errors.js'
import { type ClaimType, parseClaimPath } from '../src/identity/oidc/claim_path.js'
import { trustedIssuerFromConfig } from '../src/identity/oidc/options.js'
import { type TrustedIssuer, tokenFingerprint, WorkloadTokenVerifier } from '../src/identity/oidc.js'
import { Policy } from '../src/policy/policy.js'
import { AUDIENCE, OidcIssuerFixture } from './fixtures/oidc_issuer.js'

/** Await a rejection and check it is the BrokerError we expect, and that it does not echo the token. */
async function expectBrokerError(
  promise: Promise<unknown>,
  code: BrokerErrorCode,
  message: RegExp | string,
  token?: string,
): Promise<BrokerError> {
  let caught: unknown
  try {
    await promise
  } catch (err) {
    caught = err
  }
  expect(caught, 'expected a rejection').to.be.instanceOf(BrokerError)
  const err = caught as BrokerError
  expect(err.code, err.message).to.equal(code)
  if (typeof message === 'string') expect(err.message).to.equal(message)
  else expect(err.message).to.match(message)
  if (token !== undefined && token.length > 0) {
    for (const part of token.split('.').filter((p) => p.length > 8)) expect(err.message).not.to.include(part)
  }
  return err
}

/** Attribute mappings as a config writes them: claim path → name, or → { name, types }. */
function attrs(
  m: Record<string, string | { name: string; types: ClaimType[] }>,
): TrustedIssuer['attributes'] {
  return Object.entries(m).map(([claim, target]) => ({
    claim,
    path: parseClaimPath(claim)!,
    name: typeof target === 'string' ? target : target.name,
    types: typeof target === 'string' ? ['string'] : target.types,
  }))
}

describe('oidc: WorkloadTokenVerifier', () => {
  let k8s: OidcIssuerFixture
  let gha: OidcIssuerFixture
  let generic: OidcIssuerFixture
  let stranger: OidcIssuerFixture
  const verifiers: WorkloadTokenVerifier[] = []

  before(async () => {
    ;[k8s, gha, generic, stranger] = await Promise.all([
      OidcIssuerFixture.start({ alg: 'RS256' }),
      OidcIssuerFixture.start({ alg: 'ES256' }),
      OidcIssuerFixture.start({ alg: 'RS256' }),
      OidcIssuerFixture.start({ alg: 'ES256' }),
    ])
  })

  after(async () => {
    await Promise.all([k8s, gha, generic, stranger].map((f) => f?.stop()))
  })

  afterEach(async () => {
    await Promise.all(verifiers.splice(0).map((v) => v.close()))
    await Promise.all([k8s, gha, generic].map((f) => f.setMode('ok')))
    generic.discoveryOverrides = {}
  })

  // One default entry per preset; a test overrides only what it is about.
  function k8sTrust(o: Partial<TrustedIssuer> = {}): TrustedIssuer {
    return {
      name: 'k8s-prod',
      preset: 'kubernetes',
      issuer: k8s.issuer, // no jwksUri: exercises discovery
      audience: AUDIENCE,
      algorithms: ['RS256', 'ES256'],
      leewaySeconds: 30,
      attributes: [],
      caPem: k8s.caPem,
      ...o,
    }
  }
  function ghaTrust(o: Partial<TrustedIssuer> = {}): TrustedIssuer {
    return {
      name: 'github',
      preset: 'github-actions',
      issuer: gha.issuer,
      jwksUri: gha.jwksUri,
      audience: AUDIENCE,
      algorithms: ['ES256'],
      leewaySeconds: 0,
      attributes: attrs({ run_id: 'run_id' }),
      caPem: gha.caPem,
      ...o,
    }
  }
  function genericTrust(o: Partial<TrustedIssuer> = {}): TrustedIssuer {
    return {
      name: 'generic-idp',
      preset: 'generic',
      issuer: generic.issuer,
      jwksUri: generic.jwksUri,
      audience: AUDIENCE,
      algorithms: ['RS256'],
      leewaySeconds: 0,
      attributes: attrs({
        tenant: 'tenant',
        'team.name': 'team',
        level: { name: 'level', types: ['number'] },
        admin: { name: 'admin', types: ['boolean'] },
        team: 'team_obj',
      }),
      caPem: generic.caPem,
      ...o,
    }
  }
  function verifier(
    issuers: TrustedIssuer[] = [k8sTrust(), ghaTrust(), genericTrust()],
    opts: ConstructorParameters<typeof WorkloadTokenVerifier>[1] = {},
  ): WorkloadTokenVerifier {
    const v = new WorkloadTokenVerifier(issuers, opts)
    verifiers.push(v)
    return v
  }

  describe('valid tokens per preset', () => {
    it('kubernetes: subject system:serviceaccount:<ns>:<sa>, namespace/service_account/pod attributes', async () => {
      const id = await verifier().verifyWorkloadToken(await k8s.mint(k8s.kubernetesClaims()))
      expect(id).to.deep.equal({
        subject: 'system:serviceaccount:agents:research',
        method: 'oidc',
        issuer: k8s.issuer,
        trustName: 'k8s-prod',
        attributes: { namespace: 'agents', service_account: 'research', pod: 'research-7d9f8c-x2k4p' },
      })
    })

    it('kubernetes: configured attributes (JSON Pointers through kubernetes.io) merge with the preset', async () => {
      const v = verifier([
        k8sTrust({
          attributes: attrs({ '/kubernetes.io/node/name': 'node', '/kubernetes.io/namespace': 'ns' }),
        }),
      ])
      const id = await v.verifyWorkloadToken(await k8s.mint(k8s.kubernetesClaims()))
      expect(id.attributes).to.deep.equal({
        namespace: 'agents',
        service_account: 'research',
        pod: 'research-7d9f8c-x2k4p',
        node: 'node-a',
        ns: 'agents',
      })
    })

    it('kubernetes: falls back to sub when the kubernetes.io claims are absent', async () => {
      const claims = k8s.kubernetesClaims({ sub: 'system:serviceaccount:legacy:old' })
      delete claims['kubernetes.io']
      const id = await verifier().verifyWorkloadToken(await k8s.mint(claims))
      expect(id.subject).to.equal('system:serviceaccount:legacy:old')
      expect(id.attributes).to.deep.equal({})
    })

    it('github-actions: subject = sub, workflow claims become attributes', async () => {
      const id = await verifier().verifyWorkloadToken(await gha.mint(gha.githubActionsClaims()))
      expect(id).to.deep.equal({
        subject: 'repo:acme/payments:environment:production',
        method: 'oidc',
        issuer: gha.issuer,
        trustName: 'github',
        attributes: {
          repository: 'acme/payments',
          repository_owner: 'acme',
          ref: 'refs/heads/main',
          environment: 'production',
          workflow_ref: 'acme/payments/.github/workflows/deploy.yml@refs/heads/main',
          job_workflow_ref: 'acme/payments/.github/workflows/deploy.yml@refs/heads/main',
          actor: 'octocat',
          run_id: '987654321',
        },
      })
    })

    it('github-actions: absent optional claims are simply not attributes', async () => {
      const claims = gha.githubActionsClaims({ environment: undefined })
      const id = await verifier().verifyWorkloadToken(await gha.mint(claims))
      expect(id.attributes).not.to.have.property('environment')
    })

    it('generic: subject = sub, only configured attributes, numbers/booleans where the mapping says so, objects skipped', async () => {
      const id = await verifier().verifyWorkloadToken(await generic.mint(generic.genericClaims()))
      expect(id).to.deep.equal({
        subject: 'workload-42',
        method: 'oidc',
        issuer: generic.issuer,
        trustName: 'generic-idp',
        attributes: { tenant: 'acme', team: 'payments', level: '3', admin: 'false' },
      })
    })

    it('accepts an aud array that contains the audience', async () => {
      const token = await generic.mint(generic.genericClaims({ aud: ['other', AUDIENCE] }))
      expect((await verifier().verifyWorkloadToken(token)).subject).to.equal('workload-42')
    })

    it('a token without sub is refused', async () => {
      const token = await generic.mint(generic.genericClaims({ sub: undefined }))
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        'token has no sub claim',
        token,
      )
    })
  })

  describe('algorithms', () => {
    it('alg none is refused', async () => {
      const token = await k8s.mint(k8s.kubernetesClaims(), { alg: 'none' })
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        'token alg "none" is never accepted (none and HS* are refused)',
        token,
      )
    })

    it('HS256 signed with the issuer public key as the HMAC secret is refused', async () => {
      const token = await k8s.mint(k8s.kubernetesClaims(), {
        alg: 'HS256',
        key: await k8s.publicKeyAsHmacSecret(),
      })
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        'token alg "HS256" is never accepted (none and HS* are refused)',
        token,
      )
    })

    it('an asymmetric alg outside the issuer allow-list is refused', async () => {
      const { privateKey } = await generateKeyPair('PS256')
      const token = await k8s.mint(k8s.kubernetesClaims(), { alg: 'PS256', key: privateKey })
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        'token alg "PS256" is not allowed for issuer k8s-prod (allowed: RS256, ES256)',
        token,
      )
    })

    it('a kid whose key cannot verify the header alg is refused', async () => {
      const { privateKey } = await generateKeyPair('ES256')
      const token = await k8s.mint(k8s.kubernetesClaims(), { alg: 'ES256', key: privateKey })
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        `key with kid "${k8s.currentKey.kid}" in issuer k8s-prod's JWKS cannot verify alg ES256`,
        token,
      )
    })
  })

  describe('time claims', () => {
    it('an expired token is ERR_TOKEN_EXPIRED', async () => {
      const now = Date.now()
      const claims = generic.genericClaims({}, now - 3600_000)
      const token = await generic.mint(claims)
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_EXPIRED',
        `token expired at ${new Date((claims.exp as number) * 1000).toISOString()}`,
        token,
      )
    })

    it('a token expired less than the leeway ago is accepted', async () => {
      const clock = new ManualClock()
      const token = await k8s.mint(k8s.kubernetesClaims({}, clock.now()))
      clock.advance(600_000 + 20_000) // 20 s past exp, leeway 30 s
      const id = await verifier([k8sTrust()], { clock }).verifyWorkloadToken(token)
      expect(id.subject).to.equal('system:serviceaccount:agents:research')
    })

    it('a token without exp is refused', async () => {
      const token = await generic.mint(generic.genericClaims({ exp: undefined }))
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        'token has no exp claim',
        token,
      )
    })

    it('nbf in the future beyond the leeway is refused', async () => {
      const clock = new ManualClock()
      const nbf = Math.floor(clock.now() / 1000) + 31
      const token = await k8s.mint(k8s.kubernetesClaims({ nbf }, clock.now()))
      await expectBrokerError(
        verifier([k8sTrust()], { clock }).verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        `token is not valid before ${new Date(nbf * 1000).toISOString()} (beyond the 30 s leeway)`,
        token,
      )
    })

    it('nbf in the future within the leeway is accepted', async () => {
      const clock = new ManualClock()
      const token = await k8s.mint(
        k8s.kubernetesClaims({ nbf: Math.floor(clock.now() / 1000) + 25 }, clock.now()),
      )
      const id = await verifier([k8sTrust()], { clock }).verifyWorkloadToken(token)
      expect(id.attributes['namespace']).to.equal('agents')
    })

    it('iat older than maxTokenAgeSeconds is ERR_TOKEN_EXPIRED', async () => {
      const clock = new ManualClock()
      const token = await generic.mint(generic.genericClaims({}, clock.now()))
      clock.advance(301_000)
      await expectBrokerError(
        verifier([genericTrust({ maxTokenAgeSeconds: 300 })], { clock }).verifyWorkloadToken(token),
        'ERR_TOKEN_EXPIRED',
        'token was issued more than 300 s ago (max token age for issuer generic-idp)',
        token,
      )
    })

    it('maxTokenAgeSeconds requires iat', async () => {
      const token = await generic.mint(generic.genericClaims({ iat: undefined }))
      await expectBrokerError(
        verifier([genericTrust({ maxTokenAgeSeconds: 300 })]).verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        'token has no iat claim',
        token,
      )
    })
  })

  describe('issuer and audience', () => {
    it('an iss that is not exactly the configured issuer is ERR_ISSUER_UNKNOWN', async () => {
      const token = await k8s.mint(k8s.kubernetesClaims({ iss: `${k8s.issuer}/` }))
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_ISSUER_UNKNOWN',
        `token issuer "${k8s.issuer}/" is not trusted`,
        token,
      )
    })

    it('a token from an unconfigured issuer is ERR_ISSUER_UNKNOWN and that issuer is never contacted', async () => {
      const token = await stranger.mint(stranger.genericClaims())
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_ISSUER_UNKNOWN',
        `token issuer "${stranger.issuer}" is not trusted`,
        token,
      )
      expect(stranger.jwksFetches + stranger.discoveryFetches).to.equal(0)
    })

    it('a token signed by one trusted issuer claiming another trusted issuer is refused', async () => {
      const token = await k8s.mint(k8s.kubernetesClaims({ iss: generic.issuer }))
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        `no key with kid "${k8s.currentKey.kid}" in issuer generic-idp's JWKS`,
        token,
      )
    })

    it('a token whose aud misses the audience is refused', async () => {
      const token = await k8s.mint(k8s.kubernetesClaims({ aud: ['vault', 'https://kubernetes.default.svc'] }))
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        'token aud does not contain the audience "keybroker"',
        token,
      )
    })

    it('a token without aud is refused', async () => {
      const token = await k8s.mint(k8s.kubernetesClaims({ aud: undefined }))
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        'token has no aud claim',
        token,
      )
    })
  })

  describe('keys and signatures', () => {
    it('an unknown kid is refused after exactly one refetch', async () => {
      const v = verifier()
      await v.verifyWorkloadToken(await gha.mint(gha.githubActionsClaims()))
      const before = gha.jwksFetches
      const token = await gha.mint(gha.githubActionsClaims(), { kid: 'not-a-real-kid' })
      await expectBrokerError(
        v.verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        `no key with kid "not-a-real-kid" in issuer github's JWKS`,
        token,
      )
      expect(gha.jwksFetches - before).to.equal(1)
    })

    it('a signature from a different key reusing a valid kid is refused', async () => {
      const { privateKey } = await generateKeyPair('RS256')
      const token = await k8s.mint(k8s.kubernetesClaims(), { key: privateKey })
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        `token signature does not verify with issuer k8s-prod's key "${k8s.currentKey.kid}"`,
        token,
      )
    })

    it('a token without kid verifies when the JWKS has a single fitting key', async () => {
      const id = await verifier().verifyWorkloadToken(
        await generic.mint(generic.genericClaims(), { kid: null }),
      )
      expect(id.subject).to.equal('workload-42')
    })

    it('a token without kid is refused when the JWKS has several keys for its alg', async () => {
      await k8s.rotate() // both keys stay published
      const token = await k8s.mint(k8s.kubernetesClaims(), { kid: null })
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        "token has no kid and issuer k8s-prod's JWKS has several keys for alg RS256",
        token,
      )
    })

    it('issuer key rotation is picked up without restart, with exactly one extra JWKS fetch', async () => {
      const v = verifier()
      await v.verifyWorkloadToken(await k8s.mint(k8s.kubernetesClaims()))
      const before = k8s.jwksFetches
      const oldKey = k8s.currentKey
      await k8s.rotate()
      const id = await v.verifyWorkloadToken(await k8s.mint(k8s.kubernetesClaims()))
      expect(id.subject).to.equal('system:serviceaccount:agents:research')
      expect(k8s.jwksFetches - before).to.equal(1)
      // Tokens signed by the previous key, still published, keep verifying from the refreshed cache.
      await v.verifyWorkloadToken(
        await k8s.mint(k8s.kubernetesClaims(), { key: oldKey.privateKey, kid: oldKey.kid }),
      )
      expect(k8s.jwksFetches - before).to.equal(1)
    })

    it('1,000 concurrent tokens with unknown kids cause at most 2 JWKS fetches (cold cache)', async () => {
      const v = verifier()
      const before = gha.jwksFetches
      const tokens = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => gha.mint(gha.githubActionsClaims(), { kid: `forged-${i}` })),
      )
      const results = await Promise.allSettled(tokens.map((t) => v.verifyWorkloadToken(t)))
      for (const r of results) {
        expect(r.status).to.equal('rejected')
        const err = (r as PromiseRejectedResult).reason as BrokerError
        expect(err.code).to.equal('ERR_TOKEN_INVALID')
        expect(err.message).to.match(/^no key with kid "forged-\d+" in issuer github's JWKS$/)
      }
      expect(gha.jwksFetches - before).to.be.at.most(2)
    })

    it('1,000 concurrent tokens with unknown kids cause at most 1 extra JWKS fetch (warm cache)', async () => {
      const v = verifier()
      await v.verifyWorkloadToken(await gha.mint(gha.githubActionsClaims()))
      const before = gha.jwksFetches
      const tokens = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => gha.mint(gha.githubActionsClaims(), { kid: `forged-${i}` })),
      )
      const results = await Promise.allSettled(tokens.map((t) => v.verifyWorkloadToken(t)))
      expect(results.every((r) => r.status === 'rejected')).to.equal(true)
      expect(gha.jwksFetches - before).to.be.at.most(1)
    })

    it('unknown-kid refetches are rate-limited to one per 30 s by the injected clock', async () => {
      const clock = new ManualClock()
      const v = verifier([ghaTrust()], { clock })
      const unknown = async (kid: string) => {
        const token = await gha.mint(gha.githubActionsClaims({}, clock.now()), { kid })
        await expectBrokerError(v.verifyWorkloadToken(token), 'ERR_TOKEN_INVALID', /^no key with kid/, token)
      }
      await v.verifyWorkloadToken(await gha.mint(gha.githubActionsClaims({}, clock.now())))
      const base = gha.jwksFetches

      await unknown('a') // first miss may refetch
      expect(gha.jwksFetches - base).to.equal(1)
      await unknown('b')
      clock.advance(29_999)
      await unknown('c')
      expect(gha.jwksFetches - base).to.equal(1)

      clock.advance(1) // 30 s after the last refetch
      await unknown('d')
      expect(gha.jwksFetches - base).to.equal(2)

      // A key rotated in during the quiet period is found by the next allowed refetch.
      const rotated = await gha.rotate()
      await unknown(rotated.kid)
      expect(gha.jwksFetches - base).to.equal(2)
      clock.advance(30_000)
      const id = await v.verifyWorkloadToken(await gha.mint(gha.githubActionsClaims({}, clock.now())))
      expect(id.trustName).to.equal('github')
      expect(gha.jwksFetches - base).to.equal(3)
    })
  })

  describe('malformed tokens', () => {
    it('a 64 KiB token is refused before any parsing', async () => {
      const token = await generic.mint(generic.genericClaims({ padding: 'x'.repeat(64 * 1024) }))
      const before = generic.jwksFetches
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        'token is larger than 16 KiB',
        token,
      )
      expect(generic.jwksFetches - before).to.equal(0)
    })

    it('non-JWT garbage is refused', async () => {
      const token = 'this is not a token at all'
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        'token is not a JWT: expected a compact JWS (three base64url parts separated by dots)',
      )
    })

    it('three parts that are not JSON are refused', async () => {
      await expectBrokerError(
        verifier().verifyWorkloadToken('aGVsbG8.d29ybGQ.c2ln'),
        'ERR_TOKEN_INVALID',
        'token header is not a base64url-encoded JSON object',
      )
    })

    it('a JWE (5-part compact) is refused', async () => {
      const token = await k8s.mintJwe(k8s.kubernetesClaims())
      expect(token.split('.')).to.have.length(5)
      await expectBrokerError(
        verifier().verifyWorkloadToken(token),
        'ERR_TOKEN_INVALID',
        'token is a JWE (encrypted JWT); a signed JWT (compact JWS) is required',
        token,
      )
    })

    it('an empty token is refused', async () => {
      await expectBrokerError(verifier().verifyWorkloadToken(''), 'ERR_TOKEN_INVALID', 'token is empty')
    })

    it('a token with an empty signature is refused', async () => {
      const token = await k8s.mint(k8s.kubernetesClaims())
      const [h, p] = token.split('.')
      await expectBrokerError(
        verifier().verifyWorkloadToken(`${h}.${p}.`),
        'ERR_TOKEN_INVALID',
        'token is unsigned (empty signature)',
      )
    })
  })

  describe('issuer availability', () => {
    async function expectUnavailable(mode: 'html' | '500' | 'hang' | 'down', message: RegExp) {
      await generic.setMode(mode)
      const token = await generic.mint(generic.genericClaims())
      const v = verifier([genericTrust({ fetchTimeoutMs: 300 })])
      await expectBrokerError(v.verifyWorkloadToken(token), 'ERR_ISSUER_UNAVAILABLE', message, token)
      return v
    }

    it('JWKS endpoint returning HTML → ERR_ISSUER_UNAVAILABLE', async () => {
      await expectUnavailable(
        'html',
        /^OIDC issuer generic-idp unreachable: JWKS https:\/\/127\.0\.0\.1:\d+\/jwks did not return JSON$/,
      )
    })

    it('JWKS endpoint returning 500 → ERR_ISSUER_UNAVAILABLE', async () => {
      await expectUnavailable(
        '500',
        /^OIDC issuer generic-idp unreachable: JWKS https:\/\/127\.0\.0\.1:\d+\/jwks returned HTTP 500$/,
      )
    })

    it('JWKS endpoint hanging → ERR_ISSUER_UNAVAILABLE after fetchTimeoutMs', async () => {
      await expectUnavailable(
        'hang',
        /^OIDC issuer generic-idp unreachable: JWKS https:\/\/127\.0\.0\.1:\d+\/jwks timed out after 300 ms$/,
      )
    })

    it('issuer down → ERR_ISSUER_UNAVAILABLE, and recovers once it is back', async () => {
      const v = await expectUnavailable(
        'down',
        /^OIDC issuer generic-idp unreachable: JWKS .* failed: .*ECONNREFUSED/,
      )
      await generic.setMode('ok')
      const id = await v.verifyWorkloadToken(await generic.mint(generic.genericClaims()))
      expect(id.subject).to.equal('workload-42')
    })

    it('after a failed JWKS fetch, a new kid is retried after 1 s, backing off to 30 s, and accepted once the issuer is back', async () => {
      const clock = new ManualClock()
      const v = verifier([ghaTrust()], { clock })
      await v.verifyWorkloadToken(await gha.mint(gha.githubActionsClaims({}, clock.now())))
      const rotated = await gha.rotate() // published while the broker cannot see it
      await gha.setMode('500')
      const base = gha.jwksFetches
      const newKid = async () => gha.mint(gha.githubActionsClaims({}, clock.now()), { kid: rotated.kid })
      const failedAt = new Date(clock.now()).toISOString()

      let token = await newKid()
      await expectBrokerError(
        v.verifyWorkloadToken(token),
        'ERR_ISSUER_UNAVAILABLE',
        /^OIDC issuer github unreachable: JWKS https:\/\/127\.0\.0\.1:\d+\/jwks returned HTTP 500 \(last JWKS fetch failed at .*, 0\.0 s ago; next attempt in 1\.0 s at the earliest\)$/,
        token,
      )
      expect(gha.jwksFetches - base).to.equal(1)

      // within the first backoff: no fetch, and the refusal says when and why the last one failed
      clock.advance(400)
      token = await newKid()
      await expectBrokerError(
        v.verifyWorkloadToken(token),
        'ERR_ISSUER_UNAVAILABLE',
        `OIDC issuer github unreachable: JWKS ${gha.jwksUri} returned HTTP 500 (last JWKS fetch failed at ${failedAt}, 0.4 s ago; next attempt in 0.6 s at the earliest)`,
        token,
      )
      expect(gha.jwksFetches - base).to.equal(1)

      // each further failure doubles the wait: 1, 2, 4, 8, 16 s, then the 30 s cap
      let elapsed = 400
      for (const wait of [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]) {
        const before = gha.jwksFetches
        clock.advance(wait - elapsed - 1)
        await expectBrokerError(v.verifyWorkloadToken(await newKid()), 'ERR_ISSUER_UNAVAILABLE', /HTTP 500/)
        expect(gha.jwksFetches, `no fetch 1 ms before the ${wait} ms backoff ends`).to.equal(before)
        clock.advance(1)
        await expectBrokerError(v.verifyWorkloadToken(await newKid()), 'ERR_ISSUER_UNAVAILABLE', /HTTP 500/)
        expect(gha.jwksFetches, `one fetch once the ${wait} ms backoff ends`).to.equal(before + 1)
        elapsed = 0
      }

      // the issuer returns: after a short outage the new kid verifies within the first backoff
      await gha.setMode('ok')
      const v2 = verifier([ghaTrust()], { clock })
      await v2.verifyWorkloadToken(await gha.mint(gha.githubActionsClaims({}, clock.now())))
      const back = await gha.rotate()
      await gha.setMode('down')
      const tokenBack = async () => gha.mint(gha.githubActionsClaims({}, clock.now()), { kid: back.kid })
      await expectBrokerError(
        v2.verifyWorkloadToken(await tokenBack()),
        'ERR_ISSUER_UNAVAILABLE',
        /failed: .*ECONNREFUSED.* \(last JWKS fetch failed at /,
      )
      await gha.setMode('ok')
      clock.advance(1000)
      const id = await v2.verifyWorkloadToken(await tokenBack())
      expect(id.trustName).to.equal('github')
      // and the normal 30 s rate limit for unknown kids applies again
      const afterRecovery = gha.jwksFetches
      await expectBrokerError(
        v2.verifyWorkloadToken(await gha.mint(gha.githubActionsClaims({}, clock.now()), { kid: 'forged' })),
        'ERR_TOKEN_INVALID',
        /^no key with kid "forged"/,
      )
      expect(gha.jwksFetches).to.equal(afterRecovery)
    })

    it('discovery failures are ERR_ISSUER_UNAVAILABLE too', async () => {
      await k8s.setMode('500')
      const token = await k8s.mint(k8s.kubernetesClaims())
      await expectBrokerError(
        verifier([k8sTrust({ fetchTimeoutMs: 300 })]).verifyWorkloadToken(token),
        'ERR_ISSUER_UNAVAILABLE',
        /^OIDC issuer k8s-prod unreachable: discovery document https:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration returned HTTP 500$/,
        token,
      )
    })

    it('a discovery document naming another issuer is refused', async () => {
      generic.discoveryOverrides = { issuer: 'https://evil.example' }
      const token = await generic.mint(generic.genericClaims())
      await expectBrokerError(
        verifier([genericTrust({ jwksUri: undefined })]).verifyWorkloadToken(token),
        'ERR_ISSUER_UNAVAILABLE',
        /^OIDC issuer generic-idp unreachable: discovery document .* names a different issuer$/,
        token,
      )
    })

    it('an issuer whose certificate is not signed by a trusted CA is unreachable', async () => {
      const token = await generic.mint(generic.genericClaims())
      await expectBrokerError(
        verifier([genericTrust({ caPem: stranger.caPem })]).verifyWorkloadToken(token),
        'ERR_ISSUER_UNAVAILABLE',
        /^OIDC issuer generic-idp unreachable: JWKS .* failed: /,
        token,
      )
    })

    for (const mode of ['html', '500', 'hang', 'down'] as const) {
      it(`with a cached key set, tokens keep verifying while the issuer is ${mode}`, async () => {
        const clock = new ManualClock()
        const v = verifier([genericTrust({ fetchTimeoutMs: 300 })], { clock })
        await v.verifyWorkloadToken(await generic.mint(generic.genericClaims({}, clock.now())))
        await generic.setMode(mode)
        clock.advance(11 * 60_000) // past the cache max age: a refresh is attempted and fails
        const id = await v.verifyWorkloadToken(await generic.mint(generic.genericClaims({}, clock.now())))
        expect(id.subject).to.equal('workload-42')
        // An unknown kid cannot be ruled out while the issuer is unreachable.
        clock.advance(30_000)
        const token = await generic.mint(generic.genericClaims({}, clock.now()), { kid: 'brand-new' })
        await expectBrokerError(
          v.verifyWorkloadToken(token),
          'ERR_ISSUER_UNAVAILABLE',
          /^OIDC issuer generic-idp unreachable: /,
          token,
        )
      })
    }
  })

  /**
   * Review: attribute mapping as an operator writes it in keybroker.yaml, parsed by the config
   * schema, mapped by trustedIssuerFromConfig, and applied to real signed tokens.
   */
  describe('attribute mapping from keybroker.yaml (review)', () => {
    function fromYaml(attributesYaml: string, grantYaml = ''): { v: WorkloadTokenVerifier; policy: Policy } {
      const config = parseConfig(
        `issuer: https://keybroker.test
trust:
  oidc:
    - name: generic-idp
      issuer: "${generic.issuer}"
      jwks_uri: "${generic.jwksUri}"
      audience: ${AUDIENCE}
      algorithms: [RS256]
      attributes: ${attributesYaml}
${grantYaml}`,
        '/test/keybroker.yaml',
      )
      const v = verifier(config.trust.oidc.map((entry) => trustedIssuerFromConfig(entry, generic.caPem)))
      return { v, policy: new Policy(config) }
    }

    it('review: `org.name` reads the nested path only, never a flat claim named "org.name"', async () => {
      const { v } = fromYaml('{ org.name: org }')
      const flatOnly = await generic.mint(generic.genericClaims({ 'org.name': 'admins' }))
      expect((await v.verifyWorkloadToken(flatOnly)).attributes).not.to.have.property('org')
      const nested = await generic.mint(generic.genericClaims({ org: { name: 'acme' } }))
      expect((await v.verifyWorkloadToken(nested)).attributes['org']).to.equal('acme')
      // both present: still the nested one, whichever the token would prefer
      const both = await generic.mint(generic.genericClaims({ 'org.name': 'admins', org: { name: 'acme' } }))
      expect((await v.verifyWorkloadToken(both)).attributes['org']).to.equal('acme')
    })

    it('a claim name holding a dot is reached only by a JSON Pointer', async () => {
      const { v } = fromYaml('{ /org.name: org, /a~1b: slash }')
      const token = await generic.mint(generic.genericClaims({ 'org.name': 'acme', 'a/b': 'x' }))
      expect((await v.verifyWorkloadToken(token)).attributes).to.include({ org: 'acme', slash: 'x' })
    })

    it('review: numbers and booleans map only when the mapping lists their type', async () => {
      const token = await generic.mint(generic.genericClaims({ level: 3, admin: true, tier: 'gold' }))
      const strict = fromYaml('{ level: level, admin: admin, tier: tier }').v
      expect((await strict.verifyWorkloadToken(token)).attributes).to.deep.equal({ tier: 'gold' })
      const typed = fromYaml(
        '{ level: { name: level, types: [number] }, admin: { name: admin, types: [boolean] }, tier: { name: tier, types: [number] } }',
      ).v
      // tier is a string but its mapping asks for numbers only: not mapped either
      expect((await typed.verifyWorkloadToken(token)).attributes).to.deep.equal({ level: '3', admin: 'true' })
    })

    it('review: an empty string claim does not match the glob "*"', async () => {
      const grants = `grants:
  - name: any-team
    match: { issuer: generic-idp, attributes: { team: "*" } }
    tokens: [{ audience: a }]`
      const { v, policy } = fromYaml('{ team_name: team }', grants)
      const empty = await v.verifyWorkloadToken(await generic.mint(generic.genericClaims({ team_name: '' })))
      expect(empty.attributes['team']).to.equal('')
      expect(policy.matchingGrants(empty)).to.deep.equal([])
      const named = await v.verifyWorkloadToken(await generic.mint(generic.genericClaims({ team_name: 'x' })))
      expect(policy.matchingGrants(named).map((g) => g.name)).to.deep.equal(['any-team'])
    })

    it('the config refuses a mapping key that is not a claim path, naming it', () => {
      expect(() => fromYaml('{ "org..name": org }'))
        .to.throw(BrokerError, /trust\.oidc\[0\]\.attributes\.org\.\.name: is not a claim path/)
        .with.property('code', 'ERR_CONFIG')
      expect(() => fromYaml('{ level: { name: level, types: [float] } }')).to.throw(
        BrokerError,
        /trust\.oidc\[0\]\.attributes\.level: expected an attribute name, or \{ name: <attribute>, types: \[string \| number \| boolean, \.\.\.\] \}/,
      )
    })
  })

  describe('tokenFingerprint', () => {
    it('is the first 16 hex chars of SHA-256 and reveals nothing of the token', async () => {
      const token = await k8s.mint(k8s.kubernetesClaims())
      const fp = tokenFingerprint(token)
      expect(fp).to.match(/^[0-9a-f]{16}$/)
      expect(fp).to.equal(tokenFingerprint(token))
      expect(token).not.to.include(fp)
    })
  })
})
