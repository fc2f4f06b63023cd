import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import type { BrokerClient } from '../src/generated/keybroker/v1/Broker.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { loadBrokerProto } from '../src/proto/load.js'
import {
  BILLING,
  baseConfigYaml,
  expectGrpcError,
  spawnBroker,
  TestBroker,
  unary,
} from './fixtures/broker.js'
import { TestPki } from './fixtures/pki.js'

/** The base test config with the `billing` grant removed: valid, but refuses BILLING. */
const withoutBilling = (yaml: string) =>
  yaml.replace(/ {2}- name: billing\n(?: {4}.*\n)+/, '').replace(/^grants:\n/m, 'grants:\n')

/** Without `billing`, plus faults: an undefined secret and a glob in the middle of a SPIFFE ID. */
const brokenWithoutBilling = (yaml: string) =>
  `${withoutBilling(yaml)}  - name: broken
    match: { spiffe_id: "spiffe://example.org/*/billing" }
    secrets: [nowhere]
`

const request: IssueTokenRequest = { audience: 'payments-api', scopes: ['payments:read'] }

/** Wait for a condition driven by another process (its log output), not for a fixed time. */
async function until(what: string, test: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('config reload without restart', () => {
  describe('in process (RunningBroker.reload)', () => {
    let t: TestBroker
    let issue: (r: IssueTokenRequest) => Promise<IssueTokenResponse__Output>
    let original: string

    beforeEach(async () => {
      t = await TestBroker.start()
      issue = unary(t.brokerClient(await t.pki.spiffe('billing', BILLING)), 'IssueToken')
      original = baseConfigYaml(t.dir, t.pki)
    })
    afterEach(() => t.close())

    it('refuses a broken config, names every problem, and keeps the old policy serving', async () => {
      writeFileSync(t.configFile, brokenWithoutBilling(original))
      const result = await t.broker.reload()
      expect(result.ok).to.equal(false)
      expect(result.problems).to.include.members([
        'grants[1].secrets[0]: secret "nowhere" is not defined under secrets',
      ])
      expect(result.problems!.some((p) => p.startsWith('grants[1].match.spiffe_id: expected a SPIFFE ID'))).to
        .be.true
      expect(t.logs.join('')).to.include('config reload refused: the running config keeps serving')
      // Only the old policy has the billing grant: this call proves it is still the one serving.
      const res = await issue(request)
      expect(res.scopes).to.deep.equal(['payments:read'])
      expect(t.broker.config.grants.map((g) => g.name)).to.deep.equal(['billing', 'agents'])
    })

    it('applies a valid config that removes a grant: the next call is refused', async () => {
      await issue(request)
      writeFileSync(t.configFile, withoutBilling(original))
      const result = await t.broker.reload()
      expect(result).to.deep.equal({ ok: true })
      expect(t.logs.join('')).to.include('"msg":"config reloaded"')
      const err = await expectGrpcError(issue(request))
      expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
      expect(err.details).to.equal(`no grant matches ${BILLING}`)
    })

    it('refuses a config whose TLS file became unreadable', async () => {
      writeFileSync(t.configFile, original.replace(t.pki.server.key, join(t.dir, 'missing-key.pem')))
      const result = await t.broker.reload()
      expect(result.ok).to.equal(false)
      expect(result.problems).to.deep.equal([
        `tls.key_file: cannot read ${join(t.dir, 'missing-key.pem')}: file not found`,
      ])
      await issue(request)
    })

    it('refuses a YAML syntax error naming its real line and column', async () => {
      // a duplicate key after the base config, and an unclosed flow sequence at the end
      const grantsLine = original.trimEnd().split('\n').length + 1
      writeFileSync(t.configFile, `${original.trimEnd()}\ngrants: []\nbroken: [1, 2\n`)
      const result = await t.broker.reload()
      expect(result.ok).to.equal(false)
      expect(result.problems).to.deep.equal([
        `line ${grantsLine}, column 1: Map keys must be unique`,
        // the parser notices the unclosed sequence where the next line should have been
        `line ${grantsLine + 2}, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
      ])
      expect(t.logs.join('')).to.include(`line ${grantsLine}, column 1`)
      await issue(request)
    })

    it('applies grants at once but reports sections that need a restart', async () => {
      writeFileSync(t.configFile, original.replace('https://keybroker.test', 'https://keybroker.other'))
      const result = await t.broker.reload()
      expect(result).to.deep.equal({ ok: true, restartNeeded: ['issuer'] })
      expect(t.logs.join('')).to.include('config sections changed that apply only after a restart')
    })
  })

  describe('keybroker serve (SIGHUP and file changes)', () => {
    let dir: string
    let broker: Awaited<ReturnType<typeof spawnBroker>> | undefined
    let client: BrokerClient

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'keybroker-reload-'))
    })
    after(() => {
      broker?.child.kill('SIGKILL')
      client?.close()
      rmSync(dir, { recursive: true, force: true })
    })

    it('SIGHUP: a broken config is refused, a valid one that removes a grant is applied', async () => {
      const pki = await TestPki.create(join(dir, 'pki'))
      const billing = await pki.spiffe('billing', BILLING)
      const configFile = join(dir, 'keybroker.yaml')
      const original = baseConfigYaml(dir, pki)
      writeFileSync(configFile, original)
      broker = await spawnBroker(configFile)
      const output = broker.output
      const proto = loadBrokerProto()
      client = new proto.keybroker.v1.Broker(
        `127.0.0.1:${broker.grpcPort}`,
        grpc.credentials.createSsl(
          Buffer.from(pki.ca.certPem),
          Buffer.from(billing.keyPem),
          Buffer.from(billing.certPem),
        ),
        { 'grpc.ssl_target_name_override': 'localhost' },
      )
      const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(client, 'IssueToken')
      await issue(request)

      const count = (pattern: RegExp) =>
        output()
          .split('\n')
          .filter((line) => pattern.test(line)).length
      const refused = /"trigger":"SIGHUP","problems":.*"msg":"config reload refused/
      const reloaded = /"trigger":"SIGHUP","grants":1,"msg":"config reloaded"/

      writeFileSync(configFile, brokenWithoutBilling(original))
      broker.child.kill('SIGHUP')
      await until('the refused reload to be logged', () => count(refused) === 1)
      expect(output()).to.include('grants[1].secrets[0]: secret \\"nowhere\\" is not defined under secrets')
      await issue(request) // only the old policy allows this

      writeFileSync(configFile, withoutBilling(original))
      broker.child.kill('SIGHUP')
      await until('the reload to be logged', () => count(reloaded) === 1)
      const err = await expectGrpcError(issue(request))
      expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
      expect(err.details).to.equal(`no grant matches ${BILLING}`)

      // Without a signal: the broker notices the file changed on disk.
      writeFileSync(configFile, original)
      await until('the file-change reload', () =>
        /"trigger":"file change","grants":2,"msg":"config reloaded"/.test(output()),
      )
      await issue(request)
    })
  })
})
