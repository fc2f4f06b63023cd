import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { BILLING, baseConfigYaml, runCli, TestBroker, unary } from './fixtures/broker.js'

const modeOf = (path: string) => statSync(path).mode & 0o777

/**
 * Issue 20, files: the audit database (sealed signing keys, every exchange) and its -wal/-shm files
 * are created 0600 whatever the umask, and a data folder other users can reach is reported at
 * start (log) and by `config check` (a warning; the config is still valid).
 */
describe('state files: modes and warnings', function () {
  this.timeout(30_000)
  let previousUmask: number

  // The review ran with the common umask 022, under which SQLite creates files 0644.
  before(() => {
    previousUmask = process.umask(0o022)
  })
  after(() => {
    process.umask(previousUmask)
  })

  it('review: the audit database and its -wal/-shm files are created 0600 under umask 022', async () => {
    let nested = ''
    const t = await TestBroker.start({
      configYaml: (dir, pki) => {
        nested = join(dir, 'state', 'deeper')
        return baseConfigYaml(dir, pki).replace(join(dir, 'keybroker.db'), join(nested, 'keybroker.db'))
      },
    })
    try {
      // a write, so the WAL is in use
      const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(
        t.brokerClient(await t.pki.spiffe('billing', BILLING)),
        'IssueToken',
      )
      await issue({ audience: 'payments-api', scopes: ['payments:read'] })
      const db = join(nested, 'keybroker.db')
      for (const file of [db, `${db}-wal`, `${db}-shm`]) {
        expect(existsSync(file), file).to.equal(true)
        expect(modeOf(file).toString(8), file).to.equal('600')
      }
      // folders the broker had to create are private too
      expect(modeOf(nested).toString(8)).to.equal('700')
      expect(t.logs.join('')).not.to.include('state files are not private')
    } finally {
      await t.close()
    }
  })

  describe('a data folder other users can reach', () => {
    let dir: string
    let open: string
    let configFile: string
    let t: TestBroker | undefined

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'keybroker-modes-'))
      open = join(dir, 'open-data')
      mkdirSync(open)
      chmodSync(open, 0o755)
    })
    after(async () => {
      await t?.close()
      rmSync(dir, { recursive: true, force: true })
    })

    it('is logged as a warning at start, naming the key, the folder, its mode and the fix', async () => {
      t = await TestBroker.start({
        configYaml: (d, pki) => {
          configFile = join(d, 'keybroker.yaml')
          return baseConfigYaml(d, pki).replace(join(d, 'keybroker.db'), join(open, 'keybroker.db'))
        },
      })
      const warnings = t.logs
        .map((line) => JSON.parse(line) as { level: number; msg: string; warning?: string })
        .filter((line) => line.msg === 'state files are not private')
      expect(warnings.map((w) => w.warning)).to.deep.equal([
        `audit.path: folder ${open} is mode 0755 (group/other can reach it): run chmod 700 ${open}`,
      ])
      expect(warnings[0]!.level).to.equal(40) // pino warn
      // the database inside it was still created private
      expect(modeOf(join(open, 'keybroker.db')).toString(8)).to.equal('600')

      const res = await runCli(['config', 'check', configFile])
      expect(res.code, res.stderr).to.equal(0)
      expect(res.stdout).to.match(/: OK \(2 grants\)\n$/)
      expect(res.stderr).to.equal(
        `warning: audit.path: folder ${open} is mode 0755 (group/other can reach it): run chmod 700 ${open}\n`,
      )
    })

    it('config check also names a database file others can read, and says nothing once both are private', async () => {
      const db = join(open, 'keybroker.db')
      chmodSync(db, 0o644)
      let res = await runCli(['config', 'check', configFile])
      expect(res.code).to.equal(0)
      expect(res.stderr).to.include(
        `warning: audit.path: ${db} is mode 0644 (group/other can read it): run chmod 600 ${db}`,
      )
      chmodSync(db, 0o600)
      chmodSync(open, 0o700)
      for (const sidecar of [`${db}-wal`, `${db}-shm`]) if (existsSync(sidecar)) chmodSync(sidecar, 0o600)
      res = await runCli(['config', 'check', configFile])
      expect(res.code).to.equal(0)
      expect(res.stderr).to.equal('')
    })

    it('--no-files skips the file-system warnings with the file checks', async () => {
      chmodSync(open, 0o755)
      const res = await runCli(['config', 'check', '--no-files', configFile])
      expect(res.code).to.equal(0)
      expect(res.stderr).to.equal('')
    })
  })
})
