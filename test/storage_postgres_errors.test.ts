import { expect } from 'chai'
import { DatabaseError } from 'pg'
import { resolveTarget } from '../src/storage/postgres/connection.js'
import { DeadlineExceeded, toStorageError } from '../src/storage/postgres/errors.js'

/**
 * The failures a test cannot provoke on a shared server (a full disk, a server shutting down)
 * are mapped from the error objects pg raises; the rest of the mapping is exercised end to end
 * in storage_postgres*.test.ts.
 */
const SECRET = 'hunter2 with spaces'
const target = resolveTarget({
  driver: 'postgres',
  url: `postgres://kb_app:${encodeURIComponent(SECRET)}@127.0.0.1:6543/kbdb`,
  poolSize: 2,
  statementTimeoutMs: 1500,
})

function serverError(code: string, message: string): DatabaseError {
  const err = new DatabaseError(message, message.length, 'error')
  err.code = code
  return err
}

describe('storage postgres: error mapping', () => {
  it('53100 (disk full) is FULL, naming the server', () => {
    const err = toStorageError(serverError('53100', 'could not extend file: No space left on device'), {
      target,
      what: 'commit',
      phase: 'query',
      write: true,
    })
    expect(err.code).to.equal('FULL')
    expect(err.outcomeUnknown).to.equal(false)
    expect(err.message).to.contain('127.0.0.1:6543').and.to.contain('out of disk space')
  })

  it('57014 is TIMEOUT naming statement_timeout; a server shutting down (57P01) is UNAVAILABLE', () => {
    const timeout = toStorageError(serverError('57014', 'canceling statement due to statement timeout'), {
      target,
      what: 'list audit rows',
      phase: 'query',
    })
    expect(timeout.code).to.equal('TIMEOUT')
    expect(timeout.message).to.contain('statement_timeout (1500 ms)').and.to.contain('list audit rows')
    const shutdown = toStorageError(
      serverError('57P01', 'terminating connection due to administrator command'),
      {
        target,
        what: 'ping',
        phase: 'query',
      },
    )
    expect(shutdown.code).to.equal('UNAVAILABLE')
  })

  it('a connection lost after a write was sent leaves the outcome unknown; before sending it does not', () => {
    const lost = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
    const during = toStorageError(lost, { target, what: 'commit', phase: 'query', write: true })
    expect(during.code).to.equal('UNAVAILABLE')
    expect(during.outcomeUnknown).to.equal(true)
    const read = toStorageError(lost, { target, what: 'read', phase: 'query' })
    expect(read.outcomeUnknown).to.equal(false)
    const connecting = toStorageError(lost, { target, what: 'commit', phase: 'connect', write: true })
    expect(connecting.outcomeUnknown).to.equal(false)
    const deadline = toStorageError(new DeadlineExceeded('query'), {
      target,
      what: 'commit',
      phase: 'query',
      write: true,
      timeoutMs: 250,
    })
    expect(deadline.code).to.equal('TIMEOUT')
    expect(deadline.outcomeUnknown).to.equal(true)
    expect(deadline.message).to.contain('250 ms')
  })

  it('never lets the password through, even when an underlying message carries it', () => {
    for (const text of [SECRET, encodeURIComponent(SECRET)]) {
      const err = toStorageError(new Error(`weird failure near ${text}`), {
        target,
        what: 'open',
        phase: 'connect',
      })
      expect(err.message).not.to.contain(text)
      expect(err.message).to.contain('***')
    }
    expect(target.location).to.equal('postgres://kb_app@127.0.0.1:6543/kbdb')
    expect(JSON.stringify({ location: target.location, endpoint: target.endpoint })).not.to.contain('hunter2')
  })
})
