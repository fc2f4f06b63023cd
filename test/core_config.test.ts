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
      expect(err.message).to.equal(
        `signing key ${kid}: private key failed to decrypt; the stored row was modified or keys.kek_file is not the KEK it was sealed with`,
      )
      expect(cli.code).to.equal(1)
      expect(cli.stderr).to.equal(`keybroker: ${err.message}\n`)
    })

    it('a swapped public key → ERR_KEY_STORE_CORRUPT naming the kid (the AAD binds it)', async () => {
      const { kid, err } = await restartAfter(
        `UPDATE signing_keys SET public_jwk = replace(public_jwk, '"use":"sig"', '"use":"enc"') WHERE kid = ?`,
      )
      expect(err.code).to.equal('ERR_KEY_STORE_CORRUPT')
      expect(err.message).to.match(new RegExp(`^signing key ${kid}: private key failed to decrypt;`))
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
        expect(err.message).to.include(`signing key ${kid}: private key failed to decrypt`)
      } finally {
        rmSync(t.dir, { recursive: true, force: true })
      }
    })
  })
})
