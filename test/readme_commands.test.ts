import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { expect } from 'chai'
import { type DevUpstream, startDevUpstream } from '../src/cli/dev_upstream.js'
import { REPO_ROOT, runCli, spawnBroker } from './fixtures/broker.js'
import { classify, expectedOutcome, type ReadmeCommand, readmeCommands } from './fixtures/readme_commands.js'

/**
 * "Docs that run as written": every command of the README's ```sh blocks that can run here runs
 * against the dev broker, in README order, from a folder laid out as `make run` leaves it (.dev/).
 * The README's `node bin/keybroker.js` runs the CLI from source (no dist/ needed) and its ports
 * 7443/7080 become the ports the broker got, so a developer's own `make run` does not collide.
 */
describe('README: the shell commands run as written against the dev broker', function () {
  this.timeout(60_000)
  const commands = readmeCommands(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'))
  const ran: string[] = []
  const skipped = new Map<string, number>()
  /** Shell variables the README's commands set (AGENT=..., TOKEN=$(...)), for the later commands. */
  const vars: Record<string, string> = {}
  let dir: string
  let broker: Awaited<ReturnType<typeof spawnBroker>> | undefined
  let upstream: DevUpstream | undefined

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kb-readme-'))
    const init = await runCli(['dev-init', '--dir', join(dir, '.dev')])
    expect(init.code, init.stderr).to.equal(0)
    upstream = await startDevUpstream({ dir: join(dir, '.dev'), port: 0, onRequest: () => {} })
    // the dev config with ports the OS picks and the upstream the test started
    const configFile = join(dir, '.dev', 'keybroker.yaml')
    const yaml = readFileSync(configFile, 'utf8')
    const moved = yaml
      .replace('grpc: "127.0.0.1:7443", http: "127.0.0.1:7080"', 'grpc: "127.0.0.1:0", http: "127.0.0.1:0"')
      .replace('https://127.0.0.1:9443', upstream.url)
    expect(moved).to.include(upstream.url).and.include('127.0.0.1:0')
    writeFileSync(configFile, moved)
    // the reference sections' `--config keybroker.yaml` ("your config"): the dev config, seen from
    // the folder above .dev/ (same database, keys and PKI)
    writeFileSync(
      join(dir, 'keybroker.yaml'),
      moved.replace(/\b(pki|data)\//g, '.dev/$1/').replace('path: secrets.json', 'path: .dev/secrets.json'),
    )
    // README paths relative to the repository (deploy/keybroker.example.yaml) resolve from here too
    symlinkSync(join(REPO_ROOT, 'deploy'), join(dir, 'deploy'))
    broker = await spawnBroker(configFile)
  })

  after(async () => {
    if (broker) {
      const exited = new Promise((r) => broker?.child.once('exit', r))
      broker.child.kill('SIGTERM')
      await exited
    }
    await upstream?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  /** The README command with the CLI run from source, the broker's real ports and /tmp in the test folder. */
  function rewrite(text: string): string {
    const b = broker
    if (!b) throw new Error('broker not started')
    return text
      .replaceAll('node bin/keybroker.js', 'kb')
      .replace(/\b(localhost|127\.0\.0\.1):7443\b/g, `$1:${b.grpcPort}`)
      .replace(/\b(localhost|127\.0\.0\.1):7080\b/g, `$1:${b.httpPort}`)
      .replaceAll('/tmp/', `${dir}/`)
  }

  for (const command of commands) {
    const title = `line ${command.line}: ${command.text.split('\n')[0]?.slice(0, 90)}`
    it(title, async function () {
      const text = rewrite(command.text)
      const verdict = classify(text, (file) => existsSync(resolve(dir, file)))
      if (!verdict.run) {
        if (process.env.README_TEST_VERBOSE)
          console.log(`        skip (${verdict.reason}): ${text.split('\n')[0]}`)
        skipped.set(verdict.reason, (skipped.get(verdict.reason) ?? 0) + 1)
        this.skip()
      }
      ran.push(text)
      const result = await runInDevFolder(text)
      if (process.env.README_TEST_VERBOSE) console.log(result.stdout.replace(/^/gm, '        | '))
      checkResult(dir, command, result)
    })
  }

  it('ran enough of the README to mean something, and says what it skipped', () => {
    const lines = [...skipped].map(([reason, n]) => `${n} × ${reason}`)
    const total = [...skipped.values()].reduce((a, b) => a + b, 0)
    console.log(`      README commands: ${ran.length} ran, ${total} skipped (${lines.join('; ')})`)
    expect(ran.length, 'README commands run').to.be.at.least(25)
    expect(skipped.get('not on the allow-list') ?? 0, 'commands no rule recognises').to.equal(0)
  })

  interface Outcome {
    code: number | null
    stdout: string
    stderr: string
    assigned?: { name: string; value: string }
  }

  /** Runs one command with bash in the dev folder; an assignment's value is kept for later commands. */
  function runInDevFolder(text: string): Promise<Outcome> {
    const name = /^([A-Z_]+)=/.exec(text)?.[1]
    const valueFile = join(dir, '.readme-var')
    rmSync(valueFile, { force: true })
    const script = [
      `kb() { node --import ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href)} ${JSON.stringify(join(REPO_ROOT, 'src/cli/main.ts'))} "$@"; }`,
      text,
      'rc=$?',
      name ? `printf '%s' "$${name}" > ${JSON.stringify(valueFile)}` : ':',
      'exit $rc',
    ].join('\n')
    return new Promise((done, fail) => {
      const child = spawn('bash', ['-c', script], {
        cwd: dir,
        // the client commands' default address (localhost:7443) is the broker's real port; the
        // file-reading ones (--config/--db) must not see an address at all
        env: {
          ...process.env,
          ...vars,
          KEYBROKER_ADDRESS: /--config|--db/.test(text) ? undefined : `localhost:${broker?.grpcPort}`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => (stdout += d))
      child.stderr.on('data', (d) => (stderr += d))
      const timer = setTimeout(() => child.kill('SIGKILL'), 45_000)
      child.on('error', fail)
      child.on('close', (code) => {
        clearTimeout(timer)
        const outcome: Outcome = { code, stdout, stderr }
        if (name) {
          const value = existsSync(valueFile) ? readFileSync(valueFile, 'utf8') : ''
          vars[name] = value
          outcome.assigned = { name, value }
        }
        done(outcome)
      })
    })
  }
})

const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/
const TIMESTAMP = /^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)/
const JWT = /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/

/** Exit code as the README says, no private key anywhere, no empty token where one is expected. */
function checkResult(
  dir: string,
  command: ReadmeCommand,
  result: { code: number | null; stdout: string; stderr: string; assigned?: { name: string; value: string } },
): void {
  const context = `${command.text}\n--- stdout:\n${result.stdout}\n--- stderr:\n${result.stderr}`
  const expected = expectedOutcome(command.comment)
  if (expected.exit === 'nonzero') {
    expect(result.code, context).to.be.a('number').and.not.equal(0)
    expect(result.stdout, `${context}\n(a refused command prints no credential)`).to.not.match(/eyJ/)
  } else {
    expect(result.code, context).to.equal(expected.exit)
  }
  if (expected.mentions) expect(result.stdout + result.stderr, context).to.include(expected.mentions)
  expect(result.stdout + result.stderr, `${context}\n(printed a private key)`).to.not.match(PRIVATE_KEY)
  expect(result.stdout + result.stderr, `${context}\n(printed an empty token)`).to.not.match(
    /"(access_token|token)"\s*:\s*""/,
  )
  const subcommand = /^(?:[A-Z_]+=\$\()?(?:node bin\/keybroker\.js|curl)\s+(\S+)/.exec(command.text)?.[1]
  if (result.assigned) {
    // TOKEN=$(keybroker token ...) / PARENT=$(curl ... | jq -r .access_token): a real token, never ""
    if (/\$\(/.test(command.text)) expect(result.assigned.value, context).to.match(JWT)
    else expect(result.assigned.value, context).to.not.equal('')
  } else if (expected.exit === 0 && subcommand === 'token' && !command.text.includes('--json')) {
    // printed, or written where the README redirects it (`> /tmp/parent.jwt`, moved to the test folder)
    const redirect = / > (\S+)$/.exec(command.text)?.[1]
    const printed = redirect ? readFileSync(redirect.replace('/tmp/', `${dir}/`), 'utf8') : result.stdout
    expect(printed.trim(), context).to.match(JWT)
  }
  // the README's example audit lines after a command: the same lines once times and ids are masked
  const masked = (text: string) =>
    text
      .trim()
      .split('\n')
      .map((l) => l.replace(TIMESTAMP, 'TIME').replace(/\b(jti|id)=\S+/g, '$1=…'))
  if (command.output.length > 0 && TIMESTAMP.test(command.output[0] ?? '')) {
    expect(masked(result.stdout), context).to.deep.equal(masked(command.output.join('\n')))
  }
  // the README's example JSON after a command: same fields, same values except ids and elisions
  const shown = command.output[0]?.replace(/ HTTP \d+$/, '')
  if (shown?.startsWith('{') && shown.endsWith('}')) {
    const want = JSON.parse(shown) as Record<string, unknown>
    const got = JSON.parse(result.stdout.replace(/ HTTP \d+\s*$/, '')) as Record<string, unknown>
    expect(Object.keys(got).sort(), context).to.deep.equal(Object.keys(want).sort())
    for (const [key, value] of Object.entries(want)) {
      if (key === 'exchange_id' || String(value).includes('…')) continue
      expect(got[key], `${context}\n(field ${key})`).to.deep.equal(value)
    }
    const status = /HTTP (\d+)$/.exec(command.output[0] ?? '')?.[1]
    if (status) expect(result.stdout, context).to.match(new RegExp(`HTTP ${status}\\s*$`))
  }
}
