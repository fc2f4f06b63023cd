import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import Database from 'better-sqlite3'
import { expect } from 'chai'
import type { BrokerClient } from '../src/generated/keybroker/v1/Broker.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { loadBrokerProto } from '../src/proto/load.js'
import { BILLING, baseConfigYaml, expectGrpcError, runCli, spawnBroker, unary } from './fixtures/broker.js'
import { OidcIssuerFixture } from './fixtures/oidc_issuer.js'
import { type CertFiles, TestPki } from './fixtures/pki.js'

/** Poll a condition the test cannot await directly (another process's progress); never a fixed sleep. */
async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * Issue 2: SIGTERM stops accepting, lets in-flight calls finish, closes SQLite cleanly and exits 0.
 * A call is held in flight for certain (not by timing): it authenticates with a workload JWT whose
 * issuer's JWKS endpoint holds the broker's fetch until the test releases it after the signal.
 */
describe('core: SIGTERM with a call in flight (keybroker serve as its own process)', () => {
  let dir: string
  let pki: TestPki
  let issuer: OidcIssuerFixture
  let configFile: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-sigterm-'))
    pki = await TestPki.create(join(dir, 'pki'))
    issuer = await OidcIssuerFixture.start({ alg: 'ES256' })
    const issuerCa = join(dir, 'issuer-ca.pem')
    writeFileSync(issuerCa, issuer.caPem)
    configFile = join(dir, 'keybroker.yaml')
    writeFileSync(
      configFile,
      baseConfigYaml(dir, pki, {
        extraYaml: `trust:
  oidc:
    - { name: k8s, preset: kubernetes, issuer: "${issuer.issuer}", audience: keybroker, jwks_uri: "${issuer.jwksUri}", ca_file: ${issuerCa}, algorithms: [ES256] }`,
        grantsYaml: `  - name: k8s-agents
    match: { issuer: k8s, attributes: { namespace: agents } }
    tokens:
      - { audience: search-api, scopes: ["search:read"], max_ttl: 5m }`,
      }),
    )
  })
  after(async () => {
    await issuer.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  function client(port: number, cert?: CertFiles): BrokerClient {
    const proto = loadBrokerProto()
    return new proto.keybroker.v1.Broker(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(
        Buffer.from(pki.ca.certPem),
        cert ? Buffer.from(cert.keyPem) : null,
        cert ? Buffer.from(cert.certPem) : null,
      ),
      { 'grpc.ssl_target_name_override': 'localhost' },
    )
  }

  it('finishes the in-flight call, refuses new connections, exits 0, and leaves an intact audit log', async () => {
    const broker = await spawnBroker(configFile)
    const exited = new Promise<number | null>((resolve) => broker.child.on('exit', (code) => resolve(code)))
    const billingCert = await pki.spiffe('billing', BILLING)
    const mtls = client(broker.grpcPort, billingCert)
    const bearer = client(broker.grpcPort)
    const issued: string[] = []
    try {
      // a completed call first, so the log has rows before the signal
      const warm = await unary<IssueTokenRequest, IssueTokenResponse__Output>(
        mtls,
        'IssueToken',
      )({
        audience: 'payments-api',
        scopes: ['payments:read'],
      })
      issued.push(warm.token)

      await issuer.setMode('hang')
      const metadata = new grpc.Metadata()
      metadata.set('authorization', `Bearer ${await issuer.mint(issuer.kubernetesClaims())}`)
      const inFlight = unary<IssueTokenRequest, IssueTokenResponse__Output>(bearer, 'IssueToken')(
        { audience: 'search-api', scopes: ['search:read'] },
        metadata,
      )
      await until('the broker to be waiting on the issuer', () => issuer.heldRequests > 0)

      broker.child.kill('SIGTERM')
      await until('the broker to start draining', () => broker.output().includes('SIGTERM received'))

      // A new connection is refused while the old one drains.
      const late = client(broker.grpcPort, billingCert)
      const lateErr = await expectGrpcError(
        unary<IssueTokenRequest, IssueTokenResponse__Output>(
          late,
          'IssueToken',
        )({ audience: 'payments-api' }),
      )
      late.close()
      expect(lateErr.code).to.equal(grpc.status.UNAVAILABLE)

      issuer.release()
      const res = await inFlight
      issued.push(res.token)
      expect(res.token.split('.')).to.have.length(3)
      expect(res.audience).to.equal('search-api')

      expect(await exited).to.equal(0)
      expect(broker.output()).to.include('keybroker stopped')

      // Every token handed out has its row, committed before the reply, in a log that verifies.
      const verify = await runCli(['audit', 'verify', '--db', join(dir, 'keybroker.db')])
      expect(verify.code, verify.stderr).to.equal(0)
      // a clean stop wrote a last checkpoint: it vouches for every row
      expect(verify.stdout).to.match(/^audit log OK: \d+ rows, chain intact\nmatches checkpoint .+\n$/)
      const db = new Database(join(dir, 'keybroker.db'), { readonly: true })
      try {
        const row = db
          .prepare('SELECT kind, decision, auth_method, subject FROM exchanges WHERE token_id = ?')
          .get(res.token_id)
        expect(row).to.deep.equal({
          kind: 'issue',
          decision: 'allow',
          auth_method: 'oidc',
          subject: 'system:serviceaccount:agents:research',
        })
        // clean close: WAL checkpointed and integrity intact
        expect(db.pragma('integrity_check', { simple: true })).to.equal('ok')
      } finally {
        db.close()
      }

      // Nothing the broker printed (stdout or stderr) carries a token it issued.
      for (const token of issued) {
        expect(broker.output()).to.not.include(token)
        expect(broker.output()).to.not.include(token.split('.')[2])
      }
    } finally {
      mtls.close()
      bearer.close()
      if (broker.child.exitCode === null) broker.child.kill('SIGKILL')
      if (issuer.mode === 'hang') issuer.release()
    }
  })
})
