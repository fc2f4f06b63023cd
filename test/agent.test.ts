import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { decodeJwt } from 'jose'
import { BILLING, baseConfigYaml, REPO_ROOT, runCli, TestBroker } from './fixtures/broker.js'
import { eventually, freePort } from './fixtures/net.js'
import { type CertFiles, TestPki } from './fixtures/pki.js'

const FIRST_KEY = 'sk_live_agent_first_value_0001'
const SECOND_KEY = 'sk_live_agent_second_value_0002_longer_than_the_first'

/** The broker's grants and secret source for the sidecar: a 6-second token and a file-backed secret. */
function brokerYaml(dir: string, pki: TestPki, grpcPort: number): string {
  return baseConfigYaml(dir, pki, {
    extraYaml: `providers:
  local: { type: file, path: ${join(dir, 'secrets.json')} }
secrets:
  app-key: { provider: local, field: api_key, cache_ttl: 1s }
`,
    grantsYaml: `  - name: sidecar
    match: { spiffe_id: "${BILLING}" }
    tokens:
      - { audience: short-api, scopes: ["short:read"], default_ttl: 6s, max_ttl: 6s }
    secrets: [app-key]
`,
  }).replace('grpc: "127.0.0.1:0"', `grpc: "127.0.0.1:${grpcPort}"`)
}

/** Replace the broker's secrets file atomically (the broker may read it at any moment). */
function setSecret(dir: string, value: string): void {
  const temp = join(dir, 'secrets.json.tmp')
  writeFileSync(temp, JSON.stringify({ api_key: value }), { mode: 0o600 })
  renameSync(temp, join(dir, 'secrets.json'))
}

interface AgentYamlOptions {
  address: string
  out: string
  extra?: string
  tokenFile?: string
  secretFile?: string
}

function agentYaml(pki: TestPki, cert: CertFiles, o: AgentYamlOptions): string {
  return `broker: { address: "${o.address}", server_name: localhost, timeout: 2s }
credentials: { ca_file: ${pki.caFile}, cert_file: ${cert.cert}, key_file: ${cert.key} }
outputs:
  tokens:
    - { audience: short-api, scopes: ["short:read"], file: ${o.tokenFile ?? join(o.out, 'short-api.jwt')} }
  secrets:
    - { name: app-key, file: ${o.secretFile ?? join(o.out, 'app-key')}, mode: "0640", refresh: 1s }
${o.extra ?? ''}`
}

/** `keybroker agent` as a long-running child process; its JSON log lines are parsed as they come. */
function spawnAgent(configFile: string): {
  child: ChildProcess
  logs: Record<string, unknown>[]
  exited: Promise<number | null>
} {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'agent', '--config', configFile],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const logs: Record<string, unknown>[] = []
  let pending = ''
  child.stderr!.on('data', (d: Buffer) => {
    pending += d
    const lines = pending.split('\n')
    pending = lines.pop()!
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line))
      } catch {
        logs.push({ msg: line })
      }
    }
  })
  child.stdout!.resume()
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, logs, exited }
}

/** Files in `dir` other than the outputs: temporary or probe files must never be left behind. */
function strayFiles(dir: string, outputs: string[]): string[] {
  return readdirSync(dir).filter((f) => !outputs.includes(f))
}

describe('keybroker agent (sidecar) against a real broker', function () {
  // Spawned agents (tsx) on a shared machine; tokens live 6 s.
  this.timeout(120_000)

  let dir: string
  let pki: TestPki
  let billing: CertFiles
  let port: number
  let t: TestBroker | undefined

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kb-agent-'))
    pki = await TestPki.create(join(dir, 'pki'))
    billing = await pki.spiffe('billing', BILLING)
    port = await freePort()
    setSecret(dir, FIRST_KEY)
  })
  after(async () => {
    await t?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const startBroker = async () => {
    t = await TestBroker.start({ reuse: { dir, pki }, configYaml: (d, p) => brokerYaml(d, p, port) })
  }
  const address = () => `127.0.0.1:${port}`

  /** A fresh output folder and agent config file. */
  function setup(name: string, options: Partial<AgentYamlOptions> = {}): { out: string; config: string } {
    const out = join(dir, name)
    mkdirSync(out)
    const config = join(dir, `${name}.yaml`)
    writeFileSync(config, agentYaml(pki, billing, { address: address(), out, ...options }))
    return { out, config }
  }

  describe('--once', () => {
    it('broker down: retries with backoff, then exits 1 having written nothing', async () => {
      const { out, config } = setup('once-down')
      const res = await runCli(['agent', '--config', config, '--once', '--timeout', '4s'])
      expect(res.code).to.equal(1)
      const retries = res.stderr.split('\n').filter((l) => l.includes('retrying'))
      expect(retries.length, res.stderr).to.be.at.least(2)
      expect(res.stderr).to.include('no file written')
      expect(readdirSync(out)).to.deep.equal([])
    })

    it('writes every file with its mode and exits 0; the token is the broker’s, the secret byte for byte', async () => {
      await startBroker()
      const { out, config } = setup('once-up')
      const res = await runCli(['agent', '--config', config, '--once'])
      expect(res.code, res.stderr).to.equal(0)
      const token = readFileSync(join(out, 'short-api.jwt'), 'utf8')
      expect(decodeJwt(token)).to.include({ sub: BILLING, aud: 'short-api', scope: 'short:read' })
      expect(readFileSync(join(out, 'app-key'), 'utf8')).to.equal(FIRST_KEY)
      expect(statSync(join(out, 'short-api.jwt')).mode & 0o777).to.equal(0o600)
      expect(statSync(join(out, 'app-key')).mode & 0o777).to.equal(0o640)
      expect(strayFiles(out, ['short-api.jwt', 'app-key'])).to.deep.equal([])
      // never a credential in the logs
      expect(res.stderr).not.to.include(token)
      expect(res.stderr).not.to.include(FIRST_KEY)
    })

    it('owner and group are applied (as root)', async function () {
      if (process.getuid?.() !== 0) this.skip()
      const out = join(dir, 'owned')
      mkdirSync(out)
      const config = join(dir, 'owned.yaml')
      writeFileSync(
        config,
        agentYaml(pki, billing, { address: address(), out }).replace(
          'mode: "0640", refresh: 1s }',
          'mode: "0640", refresh: 1s, owner: 4321, group: 8765 }',
        ),
      )
      const res = await runCli(['agent', '--config', config, '--once'])
      expect(res.code, res.stderr).to.equal(0)
      const s = statSync(join(out, 'app-key'))
      expect([s.uid, s.gid]).to.deep.equal([4321, 8765])
    })

    it('a refusal (no grant for the audience) is not retried: exit 1 at once, nothing written', async () => {
      const { out, config } = setup('once-refused')
      writeFileSync(
        config,
        readFileSync(config, 'utf8').replace('audience: short-api', 'audience: nobody-api'),
      )
      const res = await runCli(['agent', '--config', config, '--once', '--timeout', '60s'])
      expect(res.code).to.equal(1)
      expect(res.stderr, res.stderr).to.include('ERR_AUDIENCE_NOT_GRANTED')
      expect(res.stderr).not.to.include('retrying')
      expect(readdirSync(out)).to.deep.equal([])
    })
  })

  describe('config errors exit 2 with a message naming the problem', () => {
    it('two outputs naming the same file', async () => {
      const { out, config } = setup('same-file', {})
      writeFileSync(
        config,
        agentYaml(pki, billing, {
          address: address(),
          out,
          tokenFile: join(out, 'both'),
          secretFile: join(out, 'both'),
        }),
      )
      const res = await runCli(['agent', '--config', config, '--once'])
      expect(res.code).to.equal(2)
      expect(res.stderr).to.include(
        `outputs.secrets[0].file: ${join(out, 'both')} is also written by outputs.tokens[0].file`,
      )
    })

    it('a folder that does not exist, or that cannot be written (immutable, even for root)', async () => {
      const { config } = setup('no-folder', { tokenFile: join(dir, 'missing', 'short-api.jwt') })
      const missing = await runCli(['agent', '--config', config, '--once'])
      expect(missing.code).to.equal(2)
      expect(missing.stderr).to.include(
        `outputs.tokens[0].file: cannot write files in ${join(dir, 'missing')} (ENOENT)`,
      )

      const locked = join(dir, 'locked')
      mkdirSync(locked)
      try {
        execFileSync('chattr', ['+i', locked], { stdio: 'ignore' })
      } catch {
        return // no chattr here (or not permitted): the missing-folder case above still ran
      }
      try {
        const { config: lockedConfig } = setup('locked-folder', { secretFile: join(locked, 'app-key') })
        const res = await runCli(['agent', '--config', lockedConfig, '--once'])
        expect(res.code).to.equal(2)
        expect(res.stderr).to.match(
          new RegExp(`outputs\\.secrets\\[0\\]\\.file: cannot write files in ${locked} \\(E(PERM|ACCES)\\)`),
        )
      } finally {
        execFileSync('chattr', ['-i', locked])
      }
    })

    it('a mode others could read, and no identity', async () => {
      const { config } = setup('bad-mode')
      writeFileSync(
        config,
        readFileSync(config, 'utf8')
          .replace('mode: "0640"', 'mode: "0644"')
          .replace(/cert_file: [^,]+, key_file: [^ ]+ /, ''),
      )
      const res = await runCli(['agent', '--config', config, '--once'])
      expect(res.code).to.equal(2)
      expect(res.stderr).to.include(
        'outputs.secrets[0].mode: 0644: others must get no access to a credential file',
      )
      expect(res.stderr).to.include('credentials: give cert_file/key_file (mTLS) or token_file')
    })
  })

  describe('running as a sidecar', () => {
    let agent: ReturnType<typeof spawnAgent>
    let out: string
    let execLog: string

    before(async () => {
      await t?.stop()
      t = undefined
      setSecret(dir, FIRST_KEY)
      out = join(dir, 'sidecar')
      execLog = join(dir, 'exec.log')
      const execScript = join(dir, 'on-change.cjs')
      writeFileSync(execScript, `require('fs').appendFileSync(${JSON.stringify(execLog)}, 'changed\\n')\n`)
      const setupResult = setup('sidecar', {
        extra: `exec: { command: ["${process.execPath}", "${execScript}"] }\n`,
      })
      agent = spawnAgent(setupResult.config)
    })
    after(async () => {
      agent?.child.kill('SIGTERM')
      await agent?.exited
    })

    const errors = () => agent.logs.filter((l) => String(l['msg']).startsWith('cannot refresh'))

    it('broker down at start: logs each failure, backs off, writes nothing', async () => {
      const tokenErrors = () => errors().filter((l) => l['name'] === 'short-api')
      await eventually(() => tokenErrors().length >= 2, 60_000, 'two failed token refreshes').catch((err) => {
        throw new Error(`${err.message}; agent said: ${JSON.stringify(agent.logs)}`)
      })
      const waits = errors()
        .filter((l) => l['name'] === 'short-api')
        .map((l) => Number(l['retry_in_ms']))
      expect(waits.length).to.be.at.least(2)
      expect(waits[1]!, 'the second wait is longer (backoff)').to.be.greaterThan(waits[0]!)
      expect(errors()[0]).to.include({ code: 'ERR_UNREACHABLE', kept_last_good: false })
      expect(readdirSync(out)).to.deep.equal([])
    })

    it('the broker comes up: both files appear, exec runs', async () => {
      await startBroker()
      await eventually(
        () => existsSync(join(out, 'short-api.jwt')) && existsSync(join(out, 'app-key')),
        60_000,
        'both files',
      )
      expect(readFileSync(join(out, 'app-key'), 'utf8')).to.equal(FIRST_KEY)
      await eventually(() => existsSync(execLog), 10_000, 'exec after the first write')
    })

    it('rewrites the token file before the token expires (short max_ttl)', async () => {
      const first = readFileSync(join(out, 'short-api.jwt'), 'utf8')
      const { exp, jti } = decodeJwt(first)
      await eventually(
        () => readFileSync(join(out, 'short-api.jwt'), 'utf8') !== first,
        20_000,
        'a new token',
      )
      const rewrittenAt = Date.now()
      expect(rewrittenAt, 'rewritten before the old token expired').to.be.below(exp! * 1000)
      const second = decodeJwt(readFileSync(join(out, 'short-api.jwt'), 'utf8'))
      expect(second.jti).not.to.equal(jti)
      expect(second.exp!).to.be.greaterThan(exp!)
    })

    it('a rotated secret replaces the file atomically: readers see the old or the new value, never a part', async () => {
      const file = join(out, 'app-key')
      const inodeBefore = statSync(file).ino
      const seen = new Set<string>()
      let reading = true
      const reader = (async () => {
        while (reading) {
          seen.add(readFileSync(file, 'utf8'))
          await new Promise((r) => setImmediate(r))
        }
      })()
      setSecret(dir, SECOND_KEY)
      await eventually(() => readFileSync(file, 'utf8') === SECOND_KEY, 30_000, 'the rotated secret')
      reading = false
      await reader
      expect([...seen].sort()).to.deep.equal([FIRST_KEY, SECOND_KEY].sort())
      expect(statSync(file).ino, 'replaced by rename').not.to.equal(inodeBefore)
      expect(statSync(file).mode & 0o777).to.equal(0o640)
      expect(strayFiles(out, ['short-api.jwt', 'app-key'])).to.deep.equal([])
      const runs = () => readFileSync(execLog, 'utf8').trim().split('\n').length
      await eventually(() => runs() >= 2, 15_000, 'exec to run again after changes')
    })

    it('broker gone: the last good files stay, the error is logged; SIGTERM exits 0', async () => {
      await t!.stop()
      t = undefined
      const before = errors().length
      const token = readFileSync(join(out, 'short-api.jwt'), 'utf8')
      await eventually(
        () =>
          errors()
            .slice(before)
            .some((l) => l['kept_last_good'] === true),
        30_000,
        'a logged failure',
      )
      expect(existsSync(join(out, 'app-key'))).to.equal(true)
      expect(readFileSync(join(out, 'app-key'), 'utf8')).to.equal(SECOND_KEY)
      expect(decodeJwt(readFileSync(join(out, 'short-api.jwt'), 'utf8')).sub).to.equal(BILLING)
      expect(JSON.stringify(agent.logs)).not.to.include(token)
      expect(JSON.stringify(agent.logs)).not.to.include(SECOND_KEY)
      agent.child.kill('SIGTERM')
      expect(await agent.exited).to.equal(0)
    })
  })
})
