import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { expect } from 'chai'
import { loadConfig } from '../src/config/index.js'
import { BrokerError } from '../src/errors.js'
import { startBroker } from '../src/server/app.js'
import { baseConfigYaml, expectBrokerError, runCli, TestBroker } from './fixtures/broker.js'
import { TestPki } from './fixtures/pki.js'

/** The thrown error of `fn`, which must throw. */
function thrown(fn: () => unknown): BrokerError {
  try {
    fn()
  } catch (err) {
    expect(err).to.be.instanceOf(BrokerError)
    return err as BrokerError
  }
  throw new Error('expected an error')
}

/**
 * Issue 2: a config or key material the broker cannot serve with stops it at start, with an error
 * naming the file, the key path and what is wrong; `keybroker serve` exits non-zero saying so.
 */
describe('core: config and key material refused at start', () => {
  let dir: string
  let pki: TestPki

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-config-'))
    pki = await TestPki.create(join(dir, 'pki'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  function writeConfig(name: string, edit: (yaml: string) => string): string {
    const file = join(dir, name)
    const yaml = edit(baseConfigYaml(join(dir, name.replace(/\.yaml$/, '')), pki))
    writeFileSync(file, yaml)
    return file
  }

  describe('typo in a key', () => {
    let file: string
    before(() => {
      file = writeConfig('typo.yaml', (y) => y.replace('max_ttl: 15m', 'max_tll: 15m'))
    })

    it('loadConfig names the file, the key path and the unknown key', () => {
      const err = thrown(() => loadConfig(file))
      expect(err.code).to.equal('ERR_CONFIG')
      expect(err.message).to.equal(
        `${file}: invalid config\n  grants[0].tokens[0]: unknown key "max_tll" (check the spelling; see deploy/keybroker.example.yaml)`,
      )
    })

    it('keybroker serve exits 2 with the same message on stderr', async () => {
      const { code, stdout, stderr } = await runCli(['serve', '--config', file])
      expect(code).to.equal(2)
      expect(stdout).to.equal('')
      expect(stderr).to.include(`keybroker: ${file}: invalid config`)
      expect(stderr).to.include('grants[0].tokens[0]: unknown key "max_tll"')
    })
  })

  describe('missing file', () => {
    const missing = '/nonexistent/keybroker.yaml'

    it('loadConfig names the file and says it is not there', () => {
      const err = thrown(() => loadConfig(missing))
      expect(err.code).to.equal('ERR_CONFIG')
      expect(err.message).to.equal(`${missing}: invalid config\n  cannot read config: file not found`)
    })

    it('keybroker serve exits 2 naming the file', async () => {
      const { code, stderr } = await runCli(['serve', '--config', missing])
      expect(code).to.equal(2)
      expect(stderr).to.equal(`keybroker: ${missing}: invalid config\n  cannot read config: file not found\n`)
    })
  })

  describe('bad duration string', () => {
    let file: string
    before(() => {
      file = writeConfig('duration.yaml', (y) =>
        y.replace('rotation_period: 24h', 'rotation_period: 24 hours'),
      )
    })

    it('loadConfig names the key path and the value', () => {
      const err = thrown(() => loadConfig(file))
      expect(err.code).to.equal('ERR_CONFIG')
      expect(err.message).to.equal(
        `${file}: invalid config\n  keys.rotation_period: "24 hours" is not a duration (use e.g. 30s, 5m, 1h, 24h, 7d)`,
      )
    })

    it('keybroker serve exits 2 naming it', async () => {
      const { code, stderr } = await runCli(['serve', '--config', file])
      expect(code).to.equal(2)
      expect(stderr).to.include('keys.rotation_period: "24 hours" is not a duration')
      expect(stderr).to.include(file)
    })

    it('reports every fault at once, each with its path', () => {
      const many = writeConfig('many.yaml', (y) =>
        y
          .replace('max_ttl: 5m', 'max_ttl: soon')
          .replace('write_timeout: 1s', 'write_timeout: 1s, retention_dayz: 3'),
      )
      const err = thrown(() => loadConfig(many))
      expect(err.message).to.include('audit: unknown key "retention_dayz"')
      expect(err.message).to.include('grants[1].tokens[0].max_ttl: "soon" is not a duration')
    })
  })

  describe('KEK file of the wrong length', () => {
    let file: string
    let kekFile: string
    before(() => {
      file = writeConfig('kek.yaml', (y) => y)
      kekFile = loadConfig(file).keys.kek_file
      mkdirSync(dirname(kekFile), { recursive: true })
      writeFileSync(kekFile, `${Buffer.alloc(16, 7).toString('base64')}\n`, { mode: 0o600 })
    })

    it('startBroker refuses it, naming the file and the expected size', async () => {
      const err = await expectBrokerError(startBroker(loadConfig(file)))
      expect(err.code).to.equal('ERR_CONFIG')
      expect(err.message).to.equal(
        `keys.kek_file ${kekFile}: expected 32 bytes in base64 (44 characters), found 24 characters`,
      )
    })

    it('keybroker serve exits 2 naming it', async () => {
      const { code, stderr } = await runCli(['serve', '--config', file])
      expect(code).to.equal(2)
      expect(stderr).to.equal(
        `keybroker: keys.kek_file ${kekFile}: expected 32 bytes in base64 (44 characters), found 24 characters\n`,
      )
    })

    it('refuses a KEK file others can read', async () => {
      writeFileSync(kekFile, `${Buffer.alloc(32, 7).toString('base64')}\n`)
      chmodSync(kekFile, 0o644)
      const err = await expectBrokerError(startBroker(loadConfig(file)))
      expect(err.code).to.equal('ERR_CONFIG')
      expect(err.message).to.equal(
        `keys.kek_file ${kekFile}: permissions 644 let others read it; run chmod 600 ${kekFile}`,
      )
    })
  })

  describe('tampered signing key row', () => {
    /** Start a broker once (creating its key), stop it, apply `sql`, and return what restarting says. */
    async function restartAfter(
      sql: string,
    ): Promise<{ kid: string; err: BrokerError; cli: { code: number | null; stderr: string } }> {
      const t = await TestBroker.start()
      const kid = t.broker.keys.signingKey().kid
      await t.stop()
      const db = new Database(t.broker.config.audit.path)
      db.prepare(sql).run(kid)
      db.close()
      try {
        const err = await expectBrokerError(startBroker(loadConfig(t.configFile)))
        const cli = await runCli(['serve', '--config', t.configFile])
        return { kid, err, cli }
      } finally {
        rmSync(t.dir, { recursive: true, force: true })
      }
    }

    it('a flipped byte in the sealed private key → ERR_KEY_STORE_CORRUPT naming the kid', async () => {
      const { kid, err, cli } = await restartAfter(
        `UPDATE signing_keys SET private_key = substr(private_key, 1, 40) || x'00' || substr(private_key, 42) WHERE kid = ?`,
      )
      expect(err.code).to.equal('ERR_KEY_STORE_CORRUPT')
      // its only key does not open: said as a KEK that does not match, naming the kid and the other cause
      expect(err.message).to.match(/^keys\.kek_file .* does not match the signing keys in the database/)
      expect(err.message).to.include(kid).and.include('the stored key rows were modified')
      expect(cli.code).to.equal(1)
      expect(cli.stderr).to.equal(`keybroker: ${err.message}\n`)
    })

    it('a swapped public key → ERR_KEY_STORE_CORRUPT naming the kid (the AAD binds it)', async () => {
      const { kid, err } = await restartAfter(
        `UPDATE signing_keys SET public_jwk = replace(public_jwk, '"use":"sig"', '"use":"enc"') WHERE kid = ?`,
      )
      expect(err.code).to.equal('ERR_KEY_STORE_CORRUPT')
      expect(err.message).to.include(kid).and.include('decrypts with this KEK')
    })

    it('a KEK replaced by another valid KEK → ERR_KEY_STORE_CORRUPT naming the kid', async () => {
      const t = await TestBroker.start()
      const kid = t.broker.keys.signingKey().kid
      await t.stop()
      writeFileSync(t.broker.config.keys.kek_file, `${Buffer.alloc(32, 9).toString('base64')}\n`, {
        mode: 0o600,
      })
      try {
        const err = await expectBrokerError(startBroker(loadConfig(t.configFile)))
        expect(err.code).to.equal('ERR_KEY_STORE_CORRUPT')
        expect(err.message).to.include(kid).and.include('mount the KEK the other replicas use')
      } finally {
        rmSync(t.dir, { recursive: true, force: true })
      }
    })
  })
})

describe('storage config: audit.path is a deprecated alias of storage.path', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kb-alias-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const write = (name: string, body: string) => {
    const file = join(dir, name)
    writeFileSync(file, `issuer: https://keybroker.test\n${body}`)
    return file
  }

  it('audit.path still names the database, with a warning; storage.path says the same without one', () => {
    const old = loadConfig(write('old.yaml', 'audit: { path: ./state/kb.db }\n'))
    expect(old.storage).to.include({ driver: 'sqlite', path: join(dir, 'state/kb.db') })
    expect(old.audit.path).to.equal(old.storage.path)
    expect(old.warnings).to.deep.equal([
      'audit.path is deprecated: write storage.path instead (same meaning)',
    ])
    const now = loadConfig(write('new.yaml', 'storage: { path: ./state/kb.db }\n'))
    expect(now.storage.path).to.equal(old.storage.path)
    expect(now.warnings).to.deep.equal([])
  })

  it('audit.path and a different storage.path together are refused, naming both', () => {
    expect(() =>
      loadConfig(write('both.yaml', 'audit: { path: ./a.db }\nstorage: { path: ./b.db }\n')),
    ).to.throw(/audit\.path: conflicts with storage\.path/)
  })

  it('driver postgres without a url is refused naming storage.url; a password never appears in errors', () => {
    expect(() => loadConfig(write('pg.yaml', 'storage: { driver: postgres }\n'))).to.throw(/storage\.url/)
    try {
      loadConfig(write('pg2.yaml', 'storage: { driver: postgres, url: "mysql://u:hunter2@h/db" }\n'))
      expect.fail('a mysql:// url must be refused')
    } catch (err) {
      expect((err as Error).message).to.match(/storage\.url/)
      expect((err as Error).message).to.not.contain('hunter2')
    }
  })
})
