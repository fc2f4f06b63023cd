import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import type { PostgresStorageOptions } from '../src/storage/options.js'
import { StorageError } from '../src/storage/ports.js'
import { openPostgresStorage } from '../src/storage/postgres/index.js'
import { freePort } from './fixtures/net.js'
import { type FakePgServer, startFakePgServer } from './fixtures/pg_fake_server.js'
import { TestPki } from './fixtures/pki.js'
import { createTestDatabase, PG_PORT, psql, type TestDatabase } from './fixtures/postgres.js'

function options(url: string, extra: Partial<PostgresStorageOptions> = {}): PostgresStorageOptions {
  return { driver: 'postgres', url, poolSize: 2, statementTimeoutMs: 2000, connectTimeoutMs: 3000, ...extra }
}

/** Opening must fail with `code`; returns the message for further checks. */
async function refused(opts: PostgresStorageOptions, code: string): Promise<string> {
  let caught: unknown
  try {
    const storage = await openPostgresStorage(opts)
    await storage.close()
  } catch (err) {
    caught = err
  }
  expect(caught, 'open should have been refused').to.be.instanceOf(StorageError)
  expect((caught as StorageError).code, (caught as Error).message).to.equal(code)
  return (caught as Error).message
}

const PASSWORD = 'Sup3r$ecret p@ss'

describe('storage postgres: bad connection settings', () => {
  let db: TestDatabase
  let dir: string
  let pki: TestPki
  let foreignCaFile: string

  before(async function () {
    db = await createTestDatabase(this)
    dir = mkdtempSync(join(tmpdir(), 'kb-pg-'))
    pki = await TestPki.create(dir)
    foreignCaFile = join(dir, 'foreign-ca.pem')
    writeFileSync(foreignCaFile, pki.foreignCa.certPem)
  })
  after(async () => {
    await db?.drop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('wrong port: refused, naming host and port', async () => {
    const port = await freePort()
    const message = await refused(options(`postgres://postgres@127.0.0.1:${port}/${db.name}`), 'UNAVAILABLE')
    expect(message).to.contain(`127.0.0.1:${port}`).and.to.contain('connection refused')
  })

  it('wrong host: a loopback address nothing listens on, and a name that does not resolve', async () => {
    const message = await refused(
      options(`postgres://postgres@127.0.0.3:${PG_PORT}/${db.name}`),
      'UNAVAILABLE',
    )
    expect(message).to.contain(`127.0.0.3:${PG_PORT}`)
    const unresolved = await refused(
      options(`postgres://postgres@no-such-host.invalid:${PG_PORT}/${db.name}`, { tlsCaFile: pki.caFile }),
      'UNAVAILABLE',
    )
    expect(unresolved).to.contain('no-such-host.invalid').and.to.contain('resolve')
  })

  it('wrong database: NOT_FOUND naming the database', async () => {
    const message = await refused(
      options(`postgres://postgres@127.0.0.1:${PG_PORT}/kb_no_such_db`),
      'NOT_FOUND',
    )
    expect(message).to.contain('"kb_no_such_db" does not exist')
  })

  it('wrong user: AUTH_FAILED naming the user', async () => {
    const message = await refused(
      options(`postgres://kb_no_such_role@127.0.0.1:${PG_PORT}/${db.name}`),
      'AUTH_FAILED',
    )
    expect(message).to.contain('kb_no_such_role')
  })

  describe('wrong password (a loopback server answering SQLSTATE 28P01)', () => {
    let fake: FakePgServer
    before(async () => {
      fake = await startFakePgServer()
    })
    after(() => fake?.close())

    it('refused naming the user, never the password given as an option', async () => {
      const message = await refused(
        options(`postgres://kb_app@127.0.0.1:${fake.port}/kb`, { password: PASSWORD }),
        'AUTH_FAILED',
      )
      expect(fake.passwords.at(-1)).to.equal(PASSWORD)
      expect(message).to.contain('"kb_app"').and.to.contain('password')
      expect(message).not.to.contain(PASSWORD)
    })

    it('refused without the password when it is in the URL (percent-encoded)', async () => {
      const url = `postgres://kb_app:${encodeURIComponent(PASSWORD)}@127.0.0.1:${fake.port}/kb`
      const message = await refused(options(url), 'AUTH_FAILED')
      expect(fake.passwords.at(-1)).to.equal(PASSWORD)
      expect(message).not.to.contain(PASSWORD).and.not.to.contain(encodeURIComponent(PASSWORD))
    })
  })

  it("location never carries the URL's password", async () => {
    const url = `postgres://postgres:${encodeURIComponent(PASSWORD)}@127.0.0.1:${PG_PORT}/${db.name}`
    const storage = await openPostgresStorage(options(url))
    try {
      expect(storage.location).to.equal(`postgres://postgres@127.0.0.1:${PG_PORT}/${db.name}`)
      await storage.ping(2000)
      const sessions = await psql(
        db.name,
        'SELECT application_name FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [db.name],
      )
      expect(sessions.map((s) => s.application_name)).to.include('keybroker')
    } finally {
      await storage.close()
    }
  })

  describe('TLS policy', () => {
    it('a non-loopback host without tls.ca_file is refused before connecting', async () => {
      const message = await refused(options('postgres://app@db.example.com:5432/kb'), 'INVALID')
      expect(message).to.contain('storage.tls.ca_file').and.to.contain('db.example.com:5432')
    })

    it('sslmode=disable is refused for a non-loopback host, and unknown URL parameters are named', async () => {
      const message = await refused(
        options('postgres://app@10.1.2.3:5432/kb?sslmode=disable', { tlsCaFile: pki.caFile }),
        'INVALID',
      )
      expect(message).to.contain('plaintext is allowed only on loopback')
      const param = await refused(options('postgres://app@127.0.0.1:5432/kb?connect_timeout=3'), 'INVALID')
      expect(param).to.contain('connect_timeout')
    })

    it('with a CA on loopback, a server without TLS is refused (no silent plaintext)', async () => {
      const message = await refused(
        options(`postgres://postgres@127.0.0.1:${PG_PORT}/${db.name}`, { tlsCaFile: pki.caFile }),
        'UNAVAILABLE',
      )
      expect(message).to.contain('does not accept TLS')
    })

    describe('against a TLS server with a certificate for localhost and 127.0.0.1', () => {
      let fake: FakePgServer
      let other: FakePgServer
      before(async () => {
        const tls = { key: pki.server.keyPem, cert: pki.server.certPem }
        fake = await startFakePgServer({ tls })
        other = await startFakePgServer({ tls, host: '127.0.0.2' })
      })
      after(async () => {
        await fake?.close()
        await other?.close()
      })

      it('verifies the chain against tls.ca_file and sends the password only inside TLS', async () => {
        await refused(
          options(`postgres://kb_app@127.0.0.1:${fake.port}/kb`, {
            tlsCaFile: pki.caFile,
            password: PASSWORD,
          }),
          'AUTH_FAILED',
        )
        expect(fake.lastOverTls).to.equal(true)
        expect(fake.passwords.at(-1)).to.equal(PASSWORD)
      })

      it('refuses a certificate from another CA, and one that does not name the host', async () => {
        const before = fake.passwords.length
        const foreign = await refused(
          options(`postgres://kb_app@127.0.0.1:${fake.port}/kb`, {
            tlsCaFile: foreignCaFile,
            password: PASSWORD,
          }),
          'UNAVAILABLE',
        )
        expect(foreign).to.contain('TLS verification').and.to.contain('tls.ca_file')
        const wrongName = await refused(
          options(`postgres://kb_app@127.0.0.2:${other.port}/kb`, {
            tlsCaFile: pki.caFile,
            password: PASSWORD,
          }),
          'UNAVAILABLE',
        )
        expect(wrongName).to.contain('TLS verification').and.to.contain('127.0.0.2')
        expect(fake.passwords.length).to.equal(before)
        expect(other.passwords).to.deep.equal([])
      })
    })
  })
})
