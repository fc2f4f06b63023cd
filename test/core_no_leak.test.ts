import { existsSync, readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import Database from 'better-sqlite3'
import { expect } from 'chai'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { AGENT, BILLING, type Call, expectGrpcError, TestBroker, unary } from './fixtures/broker.js'

type Issue = Call<IssueTokenRequest, IssueTokenResponse__Output>

/**
 * Issue 2: no token, secret or private key material in the logs or the audit table. Every JWT the
 * broker issues in this test (and one presented back to it as a bearer credential) is searched
 * for in every column of every table, in the raw database and WAL bytes, and in the captured logs.
 * (Spawned brokers' stdout/stderr are checked in core_shutdown.test.ts.)
 */
describe('core: no credential in the audit log or the logs', () => {
  let t: TestBroker
  const issued: string[] = []
  const refusals: string[] = []

  before(async () => {
    t = await TestBroker.start()
    const billingCert = await t.pki.spiffe('billing', BILLING)
    const billing: Issue = unary(t.brokerClient(billingCert), 'IssueToken')
    const agent: Issue = unary(t.brokerClient(await t.pki.spiffe('agent', AGENT)), 'IssueToken')
    const collect = (res: IssueTokenResponse__Output) => issued.push(res.token)

    collect(await billing({ audience: 'payments-api', scopes: ['payments:read'] }))
    collect(await billing({ audience: 'payments-api', bind_to_certificate: true, ttl_seconds: 10 ** 8 }))
    collect(await agent({ audience: 'search-api', scopes: ['search:read'], ttl_seconds: 0 }))
    for (let i = 0; i < 20; i++) collect(await billing({ audience: 'payments-api' }))

    // A caller presents one of our own tokens back as a bearer credential: refused (no OIDC
    // issuer is trusted), and the audit row may carry only its fingerprint.
    const metadata = new grpc.Metadata()
    metadata.set('authorization', `Bearer ${issued[0]}`)
    const replay = await expectGrpcError(billing({ audience: 'payments-api' }, metadata))
    refusals.push(replay.details)
    refusals.push((await expectGrpcError(billing({ audience: 'search-api' }))).details)
    refusals.push((await expectGrpcError(billing({ audience: 'payments-api', scopes: ['x:y'] }))).details)
  })
  after(() => t.close())

  /** Each token, plus its signature alone: a log line that cut the token up would still match. */
  function needles(): string[] {
    return issued.flatMap((token) => [token, token.split('.')[2]!])
  }

  it('issued the tokens it is checking for', () => {
    expect(issued).to.have.length(23)
    for (const token of issued) expect(token).to.match(/^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]{86}$/)
  })

  it('no column of any table holds an issued token', () => {
    const db = new Database(t.broker.config.audit.path, { readonly: true })
    try {
      const tables = db
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`)
        .pluck()
        .all() as string[]
      expect(tables).to.include.members(['exchanges', 'signing_keys'])
      for (const table of tables) {
        const dump = JSON.stringify(db.prepare(`SELECT * FROM "${table}"`).raw().all())
        for (const needle of needles()) expect(dump, `table ${table}`).to.not.include(needle)
      }
    } finally {
      db.close()
    }
  })

  it('the presented (refused) token is recorded only by a short fingerprint', async () => {
    const row = (await t.broker.log.tail(3))[0]!
    expect(row.kind).to.equal('auth_failure')
    expect(row.reason).to.equal('this broker trusts no OIDC issuers (trust.oidc is empty)')
    const fingerprint = (row.detail as Record<string, string>).token_fingerprint
    expect(fingerprint).to.be.a('string')
    expect(fingerprint.length).to.be.below(64)
    expect(JSON.stringify(row)).to.not.include(issued[0]!.split('.')[2])
  })

  it('the raw database and WAL bytes hold no token and no signing private key', () => {
    const files = [t.broker.config.audit.path, `${t.broker.config.audit.path}-wal`].filter((f) =>
      existsSync(f),
    )
    const privateJwk = t.broker.keys.signingKey().privateKey.export({ format: 'jwk' })
    const pkcs8 = t.broker.keys.signingKey().privateKey.export({ format: 'der', type: 'pkcs8' })
    for (const file of files) {
      const bytes = readFileSync(file)
      const text = bytes.toString('latin1')
      for (const needle of needles()) expect(text, file).to.not.include(needle)
      expect(text).to.not.include(privateJwk.d!)
      expect(bytes.includes(pkcs8), `${file} holds the PKCS#8 private key in clear`).to.equal(false)
      expect(bytes.includes(Buffer.from(privateJwk.d!, 'base64url'))).to.equal(false)
    }
  })

  it('the captured logs hold no token, no private key and no KEK', () => {
    const logs = t.logs.join('')
    expect(logs).to.include('"kind":"issue"') // the logger really captured the exchanges
    for (const needle of needles()) expect(logs).to.not.include(needle)
    const privateJwk = t.broker.keys.signingKey().privateKey.export({ format: 'jwk' })
    expect(logs).to.not.include(privateJwk.d!)
    expect(logs).to.not.include('PRIVATE KEY')
    expect(logs).to.not.include(readFileSync(t.broker.config.keys.kek_file, 'utf8').trim())
  })

  it('refusal messages hold no token', () => {
    expect(refusals).to.have.length(3)
    for (const message of refusals) for (const needle of needles()) expect(message).to.not.include(needle)
  })
})
