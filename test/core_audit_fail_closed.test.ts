import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { Agent, fetch } from 'undici'
import { verifyChain } from '../src/audit/index.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { BILLING, type Call, expectGrpcError, TestBroker, unary } from './fixtures/broker.js'
import { SqliteProcess } from './fixtures/sqlite_process.js'

/**
 * Issue 2: the audit database stops taking writes while the broker serves → the call fails
 * UNAVAILABLE, no token leaves, and the broker recovers by itself once the database is writable.
 * The test config sets audit.write_timeout to 1s, so a blocked write fails after about a second.
 */
describe('core: audit log unwritable while serving (fail closed)', () => {
  let t: TestBroker
  let issue: Call<IssueTokenRequest, IssueTokenResponse__Output>
  const request: IssueTokenRequest = { audience: 'payments-api', scopes: ['payments:read'] }

  before(async () => {
    t = await TestBroker.start()
    issue = unary(t.brokerClient(await t.pki.spiffe('billing', BILLING)), 'IssueToken')
    await issue(request) // warm: a committed row and an open connection
  })
  after(() => t.close())

  async function readyz(): Promise<{ status: number; body: Record<string, string> }> {
    const res = await fetch(`${t.httpUrl}/readyz`, {
      dispatcher: new Agent({ connect: { ca: t.pki.ca.certPem } }),
    })
    return { status: res.status, body: (await res.json()) as Record<string, string> }
  }

  /** The broker's answers while the log cannot be written, then after it can again. */
  async function expectFailClosedThenRecovery(
    makeUnwritable: () => Promise<void>,
    restore: () => Promise<void>,
    options: { readyzSeesIt: boolean; sqliteCode: string; probeCode?: string },
  ) {
    const before = await t.broker.log.count()
    const logLines = t.logs.length
    await makeUnwritable()
    let err: grpc.ServiceError
    try {
      err = await expectGrpcError(issue(request))
      if (options.readyzSeesIt) {
        const probe = await readyz()
        expect(probe.status, '/readyz while unwritable').to.equal(503)
        // the probe either failed at the busy timeout, or is still waiting on the lock (slow = not ready)
        expect(probe.body.reason).to.match(
          new RegExp(
            `^(audit database not writable: ${options.probeCode ?? options.sqliteCode}|audit database not answering: a write-lock probe has waited \\d+ ms)$`,
          ),
        )
      }
    } finally {
      await restore()
    }
    expect(err.code).to.equal(grpc.status.UNAVAILABLE)
    expect(err.details).to.equal(`audit log unavailable: ${options.sqliteCode}; no credential was issued`)
    expect(err.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_AUDIT_UNAVAILABLE'])
    expect(err.metadata.get('keybroker-exchange-id'), 'no audit row, so no exchange id').to.deep.equal([])
    expect(await t.broker.log.count(), 'no row was written').to.equal(before)
    // the failure is visible to operators, without any token in the log line
    const failure = t.logs.slice(logLines).find((l) => l.includes('ERR_AUDIT_UNAVAILABLE'))
    expect(failure, 'log line for the failed exchange').to.be.a('string')
    expect(failure).to.not.match(/eyJ[\w-]+\.[\w-]+\.[\w-]+/)

    // recovery: no restart, the next call is served and chained onto the last committed row
    const res = await issue(request)
    expect(res.token).to.be.a('string')
    expect(await t.broker.log.count()).to.equal(before + 1)
    expect(await t.broker.log.findByTokenId(res.token_id)).to.have.length(1)
    expect((await verifyChain(t.broker.storage.reader)).ok).to.equal(true)
    expect((await readyz()).body).to.deep.equal({ status: 'ready' })
  }

  it('another process holding an EXCLUSIVE lock → UNAVAILABLE, no token; serves again after unlock', async () => {
    const locker = await SqliteProcess.open(t.broker.config.audit.path)
    try {
      await expectFailClosedThenRecovery(
        () => locker.lock(),
        () => locker.unlock(),
        { readyzSeesIt: true, sqliteCode: 'SQLITE_BUSY' },
      )
    } finally {
      await locker.close()
    }
  })

  it('the database files made immutable (chattr +i, read-only even for root) → UNAVAILABLE; recovers after chattr -i', async function () {
    const files = [t.broker.config.audit.path, `${t.broker.config.audit.path}-wal`].filter((f) =>
      existsSync(f),
    )
    // The -shm file is memory-mapped: leave it alone (an immutable mapping faults with SIGBUS).
    const chattr = (flag: string) => execFileSync('chattr', [flag, ...files], { stdio: 'pipe' })
    try {
      chattr('+i')
    } catch {
      this.skip() // needs root and a filesystem with the immutable attribute (ext4, xfs, btrfs)
    }
    await expectFailClosedThenRecovery(
      async () => {},
      async () => {
        chattr('-i')
      },
      // /readyz commits a real probe write, so it sees an immutable file as well as a lock.
      { readyzSeesIt: true, sqliteCode: 'SQLITE_IOERR_WRITE' },
    )
  })
})
