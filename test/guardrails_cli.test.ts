import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { decodeJwt } from 'jose'
import { ManualClock } from '../src/clock.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { USAGE_PRUNE_MARGIN_SEC } from '../src/guardrails/guardrails.js'
import {
  ADMIN,
  AGENT,
  expectGrpcError,
  runCli,
  serverConfigYaml,
  TestBroker,
  unary,
} from './fixtures/broker.js'
import { eventually } from './fixtures/net.js'
import type { CertFiles } from './fixtures/pki.js'
import { chargesRouteYaml } from './fixtures/proxy_route.js'

function configYaml(dir: string, pki: TestBroker['pki']): string {
  // the route's upstream is never contacted: budgets are checked at issuance and in storage here
  return `${serverConfigYaml(dir, pki)}admins: ["${ADMIN}"]
${chargesRouteYaml(dir, pki, 'sk_test_never_sent', 'https://127.0.0.1:9')}grants:
  - name: agents
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: "proxy:charges", scopes: ["GET /v1/*"], max_ttl: 5m, max_uses: 10 }
      - { audience: search-api, scopes: ["search:read"], max_ttl: 5m }
`
}

/** Issue 14 from a shell: `revoke --block` / `unblock` over --address and in the file, `token --max-uses --run-id`. */
describe('guardrails from the CLI: revoke --block, unblock, token --max-uses --run-id', function () {
  this.timeout(120_000)
  let t: TestBroker
  let agent: CertFiles
  let admin: CertFiles
  // the broker certificate names localhost; the fixture dials 127.0.0.1
  const env = { GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: '' }

  before(async () => {
    t = await TestBroker.start({ configYaml })
    agent = await t.pki.spiffe('agent', AGENT)
    admin = await t.pki.spiffe('admin', ADMIN)
  })
  after(() => t.close())

  const remote = () => [
    ...['--address', `localhost:${t.broker.grpcPort}`, '--ca', t.pki.caFile],
    ...['--cert', admin.cert, '--key', admin.key],
  ]
  const file = () => ['--config', t.configFile]
  const issue = () =>
    unary<object, IssueTokenResponse__Output>(t.brokerClient(agent), 'IssueToken')({ audience: 'search-api' })

  async function expectBlocked(): Promise<void> {
    const err = await expectGrpcError(issue())
    expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
    expect(err.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_SUBJECT_BLOCKED'])
    expect(err.details).to.contain(`${AGENT} is blocked from new tokens`)
  }

  /** Served again (a file-mode unblock reaches the broker within its 1 s poll). */
  async function isServed(): Promise<boolean> {
    return issue().then(
      () => true,
      () => false,
    )
  }

  for (const [where, source, applies] of [
    ['over --address (Admin RPCs)', remote, 'in effect now'],
    ['against the database file (--config)', file, 'a running broker applies it within 1 s'],
  ] as const) {
    it(`revoke --subject --block refuses new tokens until unblock, ${where}; both audited`, async () => {
      const held = await issue()
      const blocked = await runCli(
        ['revoke', '--subject', AGENT, '--block', '--reason', 'runaway loop', ...source()],
        { env },
      )
      expect(blocked.code, blocked.stderr).to.equal(0)
      expect(blocked.stdout).to.contain(held.token_id).and.contain(applies)
      expect(blocked.stdout).to.contain(`blocked ${AGENT}: no new token until \`keybroker unblock ${AGENT}\``)
      // file mode: the broker's one-second poll of subject blocks picks it up
      await eventually(async () => !(await isServed()), 5_000, 'the block to reach the broker')
      await expectBlocked()
      const blockRow = (await t.broker.log.tail(50)).filter((r) => r.kind === 'block').at(-1)
      expect(blockRow).to.include({ decision: 'allow', reason: 'runaway loop' })
      expect(blockRow!.detail).to.include({ action: 'block', target_subject: AGENT })

      const unblocked = await runCli(['unblock', AGENT, '--reason', 'fixed the loop', ...source()], { env })
      expect(unblocked.code, unblocked.stderr).to.equal(0)
      expect(unblocked.stdout).to.match(
        new RegExp(`^unblocked ${AGENT}; ${applies} \\(audit [0-9A-Z]{26}\\)\\n$`),
      )
      await eventually(isServed, 5_000, 'the unblock to reach the broker')
      const unblockRow = (await t.broker.log.tail(50)).filter((r) => r.kind === 'block').at(-1)
      expect(unblockRow).to.include({ decision: 'allow', reason: 'fixed the loop' })
      expect(unblockRow!.detail).to.include({ action: 'unblock', target_subject: AGENT })

      const again = await runCli(['unblock', AGENT, ...source()], { env })
      expect(again.code, again.stderr).to.equal(0)
      expect(again.stdout).to.match(new RegExp(`^${AGENT} was not blocked`))
    })
  }

  it('token --max-uses N --run-id R prints a token bound to the run whose budget is N', async () => {
    const connect = [
      ...['--address', t.address, '--server-name', 'localhost', '--ca', t.pki.caFile],
      ...['--cert', agent.cert, '--key', agent.key],
    ]
    const res = await runCli([
      'token',
      ...connect,
      ...[
        '-a',
        'proxy:charges',
        '--max-uses',
        '3',
        '--run-id',
        'run-cli-1',
        '--tool-call-id',
        'step-1',
        '--json',
      ],
    ])
    expect(res.code, res.stderr).to.equal(0)
    const printed = JSON.parse(res.stdout) as { token: string; maxUses: number; tokenId: string }
    expect(printed.maxUses).to.equal(3)
    const claims = decodeJwt(printed.token)
    expect(claims.kb_task).to.deep.equal({ run_id: 'run-cli-1', tool_call_id: 'step-1' })
    expect(claims.jti).to.equal(printed.tokenId)
    const left = await t.broker.storage.usage.remaining([printed.tokenId])
    expect(left.get(printed.tokenId), 'the stored budget').to.equal(3)
    const [audit] = await t.broker.log.findByTokenId(printed.tokenId)
    expect(audit).to.include({ run_id: 'run-cli-1', tool_call_id: 'step-1' })

    // without --json: the JWT alone; above the grant cap (10) the budget is capped
    const plain = await runCli([
      'token',
      ...connect,
      '-a',
      'proxy:charges',
      '--max-uses',
      '50',
      '--run-id',
      'run-cli-2',
    ])
    expect(plain.code, plain.stderr).to.equal(0)
    const jti = decodeJwt(plain.stdout.trim()).jti!
    expect((await t.broker.storage.usage.remaining([jti])).get(jti)).to.equal(10)

    const refused = await runCli(['token', ...connect, '-a', 'search-api', '--max-uses', '2'])
    expect(refused.code).to.equal(1)
    expect(refused.stderr).to.match(
      /^keybroker: INVALID_ARGUMENT: max_uses is counted by the injection proxy only/,
    )
  })
})

describe('usage counters of expired tokens are pruned (broker maintenance)', function () {
  this.timeout(120_000)
  const clock = new ManualClock()
  let t: TestBroker
  let agent: CertFiles

  before(async () => {
    t = await TestBroker.start({ configYaml, clock })
    agent = await t.pki.spiffe('agent', AGENT)
  })
  after(() => t.close())

  it('a counter outlives its token by the margin, then goes; live tokens keep theirs', async () => {
    const issue = (ttl: number) =>
      unary<object, IssueTokenResponse__Output>(
        t.brokerClient(agent),
        'IssueToken',
      )({
        audience: 'proxy:charges',
        max_uses: 2,
        ttl_seconds: ttl,
      })
    const short = await issue(60)
    const long = await issue(300)
    const ids = [short.token_id, long.token_id]
    expect((await t.broker.storage.usage.remaining(ids)).size).to.equal(2)

    clock.advance(60_000 + USAGE_PRUNE_MARGIN_SEC * 1000 - 2_000) // expired, but within the margin
    expect(await t.broker.guardrails.pruneUsage()).to.equal(0)
    expect((await t.broker.storage.usage.remaining(ids)).size).to.equal(2)

    clock.advance(5_000)
    expect(await t.broker.guardrails.pruneUsage()).to.equal(1)
    const left = await t.broker.storage.usage.remaining(ids)
    expect([...left.keys()]).to.deep.equal([long.token_id])
    expect(left.get(long.token_id)).to.equal(2)
  })
})
