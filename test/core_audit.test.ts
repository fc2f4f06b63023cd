import Database from 'better-sqlite3'
import { expect } from 'chai'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { AGENT, BILLING, type Call, expectGrpcError, runCli, TestBroker, unary } from './fixtures/broker.js'
import { SqliteProcess } from './fixtures/sqlite_process.js'

type Issue = Call<IssueTokenRequest, IssueTokenResponse__Output>

describe('core: the audit row is committed before the reply, and the chain is checked', () => {
  let t: TestBroker
  let billing: Issue
  let agent: Issue
  let reader: SqliteProcess

  before(async () => {
    t = await TestBroker.start()
    billing = unary(t.brokerClient(await t.pki.spiffe('billing', BILLING)), 'IssueToken')
    agent = unary(t.brokerClient(await t.pki.spiffe('agent', AGENT)), 'IssueToken')
    reader = await SqliteProcess.open(t.broker.config.audit.path)
  })
  after(async () => {
    await reader.close()
    await t.close()
  })

  /** Ask the other process for the token's row the moment the reply arrives. */
  async function expectRowVisibleElsewhere(res: IssueTokenResponse__Output, subject: string) {
    const rows = await reader.findToken(res.token_id)
    expect(rows, `row for ${res.token_id} seen by another process`).to.have.length(1)
    expect(rows[0]).to.include({
      id: res.exchange_id,
      kind: 'issue',
      decision: 'allow',
      subject,
      token_id: res.token_id,
      expires_at: Number(res.expires_at),
    })
  }

  it('another process finds the row for each token, one call at a time', async () => {
    for (let i = 0; i < 20; i++) {
      const res = await billing({ audience: 'payments-api', scopes: ['payments:read'] })
      await expectRowVisibleElsewhere(res, BILLING)
    }
  })

  it('another process finds the row for each of 100 concurrent calls as each reply lands', async () => {
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const res =
          i % 2 === 0
            ? await billing({ audience: 'payments-api', scopes: ['payments:write'] })
            : await agent({ audience: 'search-api', scopes: ['search:read'] })
        await expectRowVisibleElsewhere(res, i % 2 === 0 ? BILLING : AGENT)
      }),
    )
  })

  it('a refused call is in the log too, before the refusal reaches the caller', async () => {
    const err = await expectGrpcError(billing({ audience: 'search-api' }))
    const id = String(err.metadata.get('keybroker-exchange-id')[0])
    const db = new Database(t.broker.config.audit.path, { readonly: true })
    try {
      const row = db.prepare('SELECT kind, decision, reason FROM exchanges WHERE id = ?').get(id)
      expect(row).to.deep.equal({ kind: 'issue', decision: 'deny', reason: err.details })
    } finally {
      db.close()
    }
  })

  describe('keybroker audit verify', () => {
    it('passes on the clean log', async () => {
      const rows = await t.broker.log.count()
      const { code, stdout, stderr } = await runCli(['audit', 'verify', '--db', t.broker.config.audit.path])
      expect(code, stderr).to.equal(0)
      expect(stdout).to.match(
        new RegExp(`^audit log OK: ${rows} rows, chain intact\nmatches checkpoint .+ line \\d+: log \\w+`),
      )
    })

    it('passes with --config too', async () => {
      const { code, stdout } = await runCli(['audit', 'verify', '--config', t.configFile])
      expect(code).to.equal(0)
      expect(stdout).to.match(/^audit log OK: \d+ rows, chain intact\nmatches checkpoint .+\n$/)
    })

    function sql(statement: string, ...params: unknown[]) {
      const db = new Database(t.broker.config.audit.path)
      try {
        db.prepare(statement).run(...params)
      } finally {
        db.close()
      }
    }

    const verify = () => runCli(['audit', 'verify', '--db', t.broker.config.audit.path])

    it('exits 1 naming the row after one row is edited with plain SQL, and passes once it is put back', async () => {
      const victim = (await t.broker.log.tail(await t.broker.log.count()))[10]!
      sql(`UPDATE exchanges SET scopes = 'payments:read payments:write' WHERE seq = ?`, victim.seq)
      const broken = await verify()
      expect(broken.code).to.equal(1)
      expect(broken.stdout).to.equal('')
      expect(broken.stderr).to.match(
        new RegExp(
          `^audit log BROKEN at seq ${victim.seq} \\(id ${victim.id}\\): hash mismatch: the row was changed after it was written\\nrows checked before the fault: ${victim.seq}\\n$`,
        ),
      )
      sql('UPDATE exchanges SET scopes = ? WHERE seq = ?', victim.scopes, victim.seq)
      expect((await verify()).code).to.equal(0)
    })

    it('exits 1 naming the row after the gap when a row is deleted', async () => {
      const all = await t.broker.log.tail(await t.broker.log.count())
      const victim = all[30]!
      const next = all[31]!
      sql('DELETE FROM exchanges WHERE seq = ?', victim.seq)
      const broken = await verify()
      expect(broken.code).to.equal(1)
      expect(broken.stderr).to.match(
        new RegExp(
          `^audit log BROKEN at seq ${next.seq} \\(id ${next.id}\\): seq ${next.seq} follows seq ${victim.seq - 1}: 1 row\\(s\\) missing\\n`,
        ),
      )
    })
  })
})
