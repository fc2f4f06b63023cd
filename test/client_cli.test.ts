import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import { decodeJwt } from 'jose'
import { AGENT, runCli, TestBroker } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

describe('CLI token | delegate | whoami | secret (through the SDK)', () => {
  let t: TestBroker
  let agent: CertFiles
  const connect = () => [
    ...['--address', t.address, '--server-name', 'localhost', '--ca', t.pki.caFile],
    ...['--cert', agent.cert, '--key', agent.key],
  ]

  before(async () => {
    t = await TestBroker.start()
    agent = await t.pki.spiffe('agent', AGENT)
  })
  after(() => t?.close())

  it('token prints a JWT; delegate narrows it for a sub-agent', async () => {
    const issued = await runCli([
      'token',
      ...connect(),
      '-a',
      'search-api',
      '-s',
      'search:read',
      '--ttl',
      '2m',
    ])
    expect(issued.stderr).to.equal('')
    expect(issued.code).to.equal(0)
    const parent = issued.stdout.trim()
    expect(decodeJwt(parent).sub).to.equal(AGENT)

    const parentFile = join(t.dir, 'parent.jwt')
    writeFileSync(parentFile, `${parent}\n`, { mode: 0o600 })
    const delegated = await runCli([
      'delegate',
      ...connect(),
      '--parent-file',
      parentFile,
      '--actor',
      'sub-agent-1',
      '--ttl',
      '30s',
      '--json',
    ])
    expect(delegated.code, delegated.stderr).to.equal(0)
    const child = JSON.parse(delegated.stdout)
    expect(decodeJwt(child.token).act).to.deep.equal({ sub: 'sub-agent-1' })
    expect(child.expiresAt - decodeJwt(child.token).iat!).to.equal(30)
  })

  it('whoami prints the identity as JSON', async () => {
    const res = await runCli(['whoami', ...connect()])
    expect(res.code, res.stderr).to.equal(0)
    expect(JSON.parse(res.stdout)).to.include({ subject: AGENT, authMethod: 'mtls' })
  })

  it('a refusal exits 1 with the gRPC status and the broker’s message', async () => {
    const res = await runCli(['token', ...connect(), '-a', 'payments-api'])
    expect(res.code).to.equal(1)
    expect(res.stderr).to.equal(
      `keybroker: PERMISSION_DENIED: audience "payments-api" is not granted to ${AGENT}\n`,
    )
    const secret = await runCli(['secret', ...connect(), 'stripe-key'])
    expect(secret.code).to.equal(1)
    expect(secret.stderr).to.match(/^keybroker: (PERMISSION_DENIED|UNIMPLEMENTED): /)
  })
})
