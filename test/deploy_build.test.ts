import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'chai'
import { Agent, fetch } from 'undici'
import { baseConfigYaml, REPO_ROOT } from './fixtures/broker.js'
import { TestPki } from './fixtures/pki.js'

const run = promisify(execFile)

/**
 * The Dockerfile's one RUN step is deploy/docker/build.sh; running it here proves the image's build
 * works without a container engine. Production dependencies come from pruning a copy of this checkout's
 * node_modules (--node-modules-from): the Dockerfile's fresh `npm ci --omit=dev` compiles better-sqlite3,
 * which would take this test past a minute.
 */
describe('deploy/docker/build.sh', function () {
  this.timeout(120_000)
  let dir: string
  let out: string
  let broker: ChildProcess | undefined

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keybroker-build-'))
    out = join(dir, 'out')
    await run(
      join(REPO_ROOT, 'deploy/docker/build.sh'),
      [out, '--skip-install', '--node-modules-from', realpathSync(join(REPO_ROOT, 'node_modules'))],
      { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 },
    )
  })
  after(() => {
    broker?.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('produces compiled code and production dependencies only', async () => {
    const { stdout } = await run('npm', ['ls', '--omit=dev', '--depth=0', '--parseable'], { cwd: out })
    expect(stdout).to.include('better-sqlite3')
    const all = await run('npm', ['ls', '--depth=0', '--parseable'], { cwd: out }).catch((e) => e)
    // Dev dependencies are absent, so a full `npm ls` reports them missing.
    expect(String(all.stderr ?? '')).to.match(/missing: typescript@/)
  })

  it('serves from the output: keybroker serve answers /healthz and /readyz', async () => {
    const pki = await TestPki.create(join(dir, 'pki'))
    const configFile = join(dir, 'keybroker.yaml')
    writeFileSync(configFile, baseConfigYaml(dir, pki))
    // From a folder outside the repository, so nothing resolves back into the source tree.
    const child = spawn(process.execPath, [join(out, 'bin/keybroker.js'), 'serve', '--config', configFile], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    broker = child
    const httpPort = await new Promise<number>((resolve, reject) => {
      let output = ''
      const onData = (d: Buffer) => {
        output += d
        const m = /"http_port":(\d+)/.exec(output)
        if (m) resolve(Number(m[1]))
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', (d) => (output += d))
      child.on('exit', (code) => reject(new Error(`built broker exited with ${code}:\n${output}`)))
    })
    const dispatcher = new Agent({ connect: { ca: pki.ca.certPem } })
    const health = await fetch(`https://localhost:${httpPort}/healthz`, { dispatcher })
    expect(health.status).to.equal(200)
    expect(await health.json()).to.deep.equal({ status: 'ok' })
    const ready = await fetch(`https://localhost:${httpPort}/readyz`, { dispatcher })
    expect(await ready.json()).to.deep.equal({ status: 'ready' })
    await dispatcher.close()
  })

  it('the built CLI checks the shipped example config', async () => {
    const { stdout } = await run(process.execPath, [
      join(out, 'bin/keybroker.js'),
      'config',
      'check',
      '--no-files',
      join(REPO_ROOT, 'deploy/keybroker.example.yaml'),
    ])
    expect(stdout).to.match(/keybroker\.example\.yaml: OK \(3 grants\)/)
  })
})
