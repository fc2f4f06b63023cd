import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { BrokerClient, type BrokerClientOptions, BrokerError } from 'keybroker/client'
import { ADMIN, BILLING, baseConfigYaml, REPO_ROOT, runCli, spawnBroker } from './fixtures/broker.js'
import { blackHole, eventually, freePort } from './fixtures/net.js'
import { type CertFiles, TestPki } from './fixtures/pki.js'
import { type FakeVault, startFakeVault } from './fixtures/vault_server.js'

/**
 * "Fail loudly": with no broker answering (nothing listening, a listener that never answers, a broker
 * killed in the middle of a call) the SDK rejects with ERR_UNREACHABLE naming the address, and every
 * CLI command exits non-zero with one line on stderr and nothing on stdout — never an empty token.
 */
describe('no answer from the broker: the SDK and the CLI fail loudly', function () {
  // Each CLI case starts two node processes (tsx) and waits out a 2 s timeout; the machine is shared.
  this.timeout(90_000)
  let dir: string
  let pki: TestPki
  let billing: CertFiles
  let admin: CertFiles
  let hole: Awaited<ReturnType<typeof blackHole>>
  let refused: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kb-fail-loudly-'))
    pki = await TestPki.create(join(dir, 'pki'))
    billing = await pki.spiffe('billing', BILLING)
    admin = await pki.spiffe('admin', ADMIN)
    hole = await blackHole()
    refused = `127.0.0.1:${await freePort()}`
  })
  after(async () => {
    await hole?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  function sdk(address: string, options: Partial<BrokerClientOptions> = {}): BrokerClient {
    return new BrokerClient({
      address,
      tls: { caFile: pki.caFile, certFile: billing.cert, keyFile: billing.key, serverName: 'localhost' },
      deadlineMs: 1_500,
      ...options,
    })
  }

  function expectUnreachable(err: BrokerError, address: string, deadlineMs = 1_500): void {
    expect(err).to.be.instanceOf(BrokerError)
    expect(err.code).to.equal('ERR_UNREACHABLE')
    expect(err.grpcCode).to.equal(grpc.status.UNAVAILABLE)
    expect(err.message).to.contain(`no answer from the broker at ${address} within ${deadlineMs} ms`)
  }

  /** The CLI's answer to no broker: non-zero, nothing on stdout, one line on stderr naming the address. */
  function expectLoudFailure(res: { code: number | null; stdout: string; stderr: string }, address: string) {
    expect(res.code, res.stderr).to.equal(1)
    expect(res.stdout).to.equal('')
    expect(res.stderr).to.match(
      new RegExp(`^keybroker: UNAVAILABLE: no answer from the broker at ${address}`),
    )
    expect(res.stderr.endsWith('\n')).to.equal(true)
    expect(res.stderr.trimEnd().split('\n')).to.have.length(1)
  }

  const clientArgs = (address: string) => [
    ...['--address', address, '--server-name', 'localhost', '--ca', pki.caFile],
    ...['--cert', billing.cert, '--key', billing.key, '--timeout', '2s'],
  ]
  const adminArgs = (address: string) => [
    ...['--address', address, '--server-name', 'localhost', '--ca', pki.caFile],
    ...['--cert', admin.cert, '--key', admin.key, '--timeout', '2s'],
  ]

  describe('SDK', () => {
    it('an address that refuses connections: ERR_UNREACHABLE after the deadline, naming the address', async () => {
      const client = sdk(refused)
      try {
        const started = Date.now()
        expectUnreachable(await expectBrokerError(client.token({ audience: 'payments-api' })), refused)
        expect(Date.now() - started, 'retried until about its deadline').to.be.within(1_000, 6_000)
        expectUnreachable(await expectBrokerError(client.whoami()), refused)
      } finally {
        client.close()
      }
    })

    it('a listener that accepts and never answers: ERR_UNREACHABLE, not a hang', async () => {
      const client = sdk(hole.address)
      try {
        expectUnreachable(await expectBrokerError(client.secret('stripe-key')), hole.address)
        expect(hole.accepted(), 'the client did reach the black hole').to.be.greaterThan(0)
      } finally {
        client.close()
      }
    })

    it('a script whose only pending work is `await client.token()` waits for it and sees the error', async () => {
      // Before the fix the retry pause was unref'd: the process exited with code 0 (or 13) and no output.
      const script = join(dir, 'only-pending-work.mts')
      const sdkModule = join(REPO_ROOT, 'src/client/index.ts')
      writeFileSync(
        script,
        `import { BrokerClient } from ${JSON.stringify(sdkModule)}
const client = new BrokerClient({ address: ${JSON.stringify(refused)}, tls: { caFile: ${JSON.stringify(pki.caFile)} }, deadlineMs: 1500 })
try {
  const { token } = await client.token({ audience: 'payments-api' })
  process.stdout.write('TOKEN ' + token)
} catch (err) {
  process.stderr.write(err.code + ': ' + err.message + '\\n')
  process.exitCode = 3
} finally {
  client.close()
}
`,
      )
      const res = await run(process.execPath, ['--import', 'tsx', script])
      expect(res.stdout).to.equal('')
      expect(res.stderr).to.match(new RegExp(`^ERR_UNREACHABLE: no answer from the broker at ${refused}`))
      expect(res.code).to.equal(3)
    })
  })

  describe('CLI (a child process)', () => {
    // Each case runs two CLI processes side by side (one per kind of dead address).
    const both = (args: (address: string) => string[]) =>
      Promise.all([runCli(args(refused)), runCli(args(hole.address))])

    it('token: refused and black-hole addresses exit 1 with one line and print no token', async () => {
      const [a, b] = await both((address) => ['token', '-a', 'payments-api', ...clientArgs(address)])
      expectLoudFailure(a, refused)
      expectLoudFailure(b, hole.address)
    })

    it('whoami and secret: exit 1 with one line and print nothing', async () => {
      const [a, b] = await Promise.all([
        runCli(['whoami', ...clientArgs(refused)]),
        runCli(['secret', 'stripe-key', ...clientArgs(hole.address)]),
      ])
      expectLoudFailure(a, refused)
      expectLoudFailure(b, hole.address)
    })

    it('admin commands over --address (audit query, verify, export; revoke) exit 1 with one line', async () => {
      const [query, verify] = await Promise.all([
        runCli(['audit', 'query', ...adminArgs(refused)]),
        runCli(['audit', 'verify', ...adminArgs(hole.address)]),
      ])
      expectLoudFailure(query, refused)
      expectLoudFailure(verify, hole.address)
      const [exported, revoked] = await Promise.all([
        runCli(['audit', 'export', ...adminArgs(hole.address)]),
        runCli(['revoke', '--token-id', 'some-token-id', ...adminArgs(refused)]),
      ])
      expectLoudFailure(exported, hole.address)
      expectLoudFailure(revoked, refused)
    })
  })

  describe('a broker killed in the middle of a call', () => {
    let vault: FakeVault
    let broker: Awaited<ReturnType<typeof spawnBroker>> | undefined

    before(async () => {
      vault = await startFakeVault()
      vault.addToken('hvs.fail-loudly')
      writeFileSync(join(dir, 'vault-token'), 'hvs.fail-loudly\n', { mode: 0o600 })
      // The secret's read hangs upstream, so the call is still in flight at the broker when it dies.
      vault.hanging.add('secret/data/slow')
    })
    after(async () => {
      broker?.child.kill('SIGKILL')
      await vault?.close()
    })

    async function startBroker(): Promise<string> {
      const configFile = join(dir, 'keybroker.yaml')
      writeFileSync(
        configFile,
        baseConfigYaml(dir, pki, {
          extraYaml: `providers:
  vault: { type: vault, address: "${vault.url}", timeout: 30s, auth: { method: token, token_file: ${join(dir, 'vault-token')} } }
secrets:
  slow: { provider: vault, path: secret/data/slow, field: api_key }
  slow-too: { provider: vault, path: secret/data/slow, field: api_key }
`,
          grantsYaml: `  - name: slow-secret
    match: { spiffe_id: "${BILLING}" }
    secrets: [slow, slow-too]
`,
        }),
      )
      broker = await spawnBroker(configFile)
      return `127.0.0.1:${broker.grpcPort}`
    }

    /** Wait until `n` reads of the hanging secret have reached Vault (those calls are in flight). */
    function upstreamReads(n: number): Promise<void> {
      return eventually(() => vault.count('secret/data/slow') >= n, 30_000, `${n} reads at Vault`)
    }

    async function kill(): Promise<void> {
      const exited = new Promise((resolve) => broker!.child.once('exit', resolve))
      broker!.child.kill('SIGKILL')
      await exited
    }

    it('SDK rejects with ERR_UNREACHABLE; CLI secret exits 1 with one line and prints no value', async () => {
      const address = await startBroker()
      const client = sdk(address, { deadlineMs: 4_000 })
      try {
        // Two names for one upstream path: two reads in flight (one name would share one read).
        const fromCli = runCli(['secret', 'slow-too', ...clientArgs(address), '--timeout', '4s'])
        await upstreamReads(1)
        const fromSdk = expectBrokerError(client.secret('slow'))
        await upstreamReads(2)
        await kill()
        expectUnreachable(await fromSdk, address, 4_000)
        expectLoudFailure(await fromCli, address)
      } finally {
        client.close()
      }
    })
  })
})

/** Await a promise that must reject with the SDK's BrokerError; returns it. */
async function expectBrokerError(promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise
  } catch (err) {
    if (!(err instanceof BrokerError)) throw err
    return err
  }
  throw new Error('expected a rejection with a BrokerError, but the promise resolved')
}

function run(
  command: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d) => (stdout += d))
    child.stderr!.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
