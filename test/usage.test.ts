import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { ConfigError, parseConfig } from '../src/config/index.js'
import type { FetchSecretResponse__Output } from '../src/generated/keybroker/v1/FetchSecretResponse.js'
import type { GetUsageResponse__Output } from '../src/generated/keybroker/v1/GetUsageResponse.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { sample, scrapeMetrics } from './fixtures/admin.js'
import {
  ADMIN,
  AGENT,
  BILLING,
  baseConfigYaml,
  expectGrpcError,
  runCli,
  TestBroker,
  unary,
} from './fixtures/broker.js'
import type { CertFiles, TestPki } from './fixtures/pki.js'

const AUDITOR = 'spiffe://example.org/ops/auditor'

/** Billing may fetch two secrets (one stays idle), a grant nobody matches, per-subject metrics for one subject. */
function config(dir: string, pki: TestPki): string {
  const secretsFile = join(dir, 'secrets.json')
  writeFileSync(secretsFile, JSON.stringify({ used: 'u-value', idle: 'i-value' }), { mode: 0o600 })
  return baseConfigYaml(dir, pki, {
    extraYaml: `metrics: { per_subject: true, max_subjects: 1 }
providers:
  local: { type: file, path: ${secretsFile} }
secrets:
  used-key: { provider: local, field: used }
  idle-key: { provider: local, field: idle }
`,
    grantsYaml: `  - name: billing-secrets
    match: { spiffe_id: "${BILLING}" }
    secrets: [used-key, idle-key]
  - name: dormant
    match: { spiffe_id: "spiffe://example.org/ns/nobody/sa/ghost" }
    tokens:
      - { audience: ghost-api, scopes: ["ghost:read"], max_ttl: 5m }
`,
  }).replace(
    `admins: ["${ADMIN}"]`,
    `admins:\n  - "${ADMIN}"\n  - { spiffe_id: "${AUDITOR}", role: auditor }`,
  )
}

describe('usage reports: Admin.GetUsage and keybroker usage on known traffic', function () {
  this.timeout(120_000)
  let t: TestBroker
  let billing: CertFiles
  let agent: CertFiles
  let auditor: grpc.Client
  let auditorCert: CertFiles

  before(async () => {
    t = await TestBroker.start({ configYaml: config })
    billing = await t.pki.spiffe('billing', BILLING)
    agent = await t.pki.spiffe('agent', AGENT)
    auditorCert = await t.pki.spiffe('auditor', AUDITOR)
    auditor = t.adminClient(auditorCert)
    const issueAsBilling = unary<object, IssueTokenResponse__Output>(t.brokerClient(billing), 'IssueToken')
    for (let i = 0; i < 3; i++) await issueAsBilling({ audience: 'payments-api', scopes: ['payments:read'] })
    for (let i = 0; i < 2; i++)
      await expectGrpcError(issueAsBilling({ audience: 'payments-api', scopes: ['payments:admin'] }))
    await unary<object, FetchSecretResponse__Output>(
      t.brokerClient(billing),
      'FetchSecret',
    )({ name: 'used-key' })
    await unary<object, IssueTokenResponse__Output>(
      t.brokerClient(agent),
      'IssueToken',
    )({
      audience: 'search-api',
      scopes: ['search:read'],
    })
  })
  after(() => t?.close())

  const getUsage = (client: grpc.Client) => unary<object, GetUsageResponse__Output>(client, 'GetUsage')

  it('an auditor gets per grant and subject counts, last use, distinct peers and live tokens', async () => {
    const started = Date.now()
    const usage = await getUsage(auditor)({ since: '1h' })
    expect(Number(usage.since)).to.be.closeTo(Math.floor(started / 1000) - 3600, 120)
    const rows = usage.rows.map((r) => ({ ...r, last_used: Number(r.last_used) > 0 }))
    expect(rows).to.deep.equal([
      {
        grant_name: '',
        subject: BILLING,
        allowed: 0,
        denied: 2,
        last_used: true,
        distinct_peers: 1,
        live_tokens: 0,
      },
      {
        grant_name: 'agents',
        subject: AGENT,
        allowed: 1,
        denied: 0,
        last_used: true,
        distinct_peers: 1,
        live_tokens: 1,
      },
      {
        grant_name: 'billing',
        subject: BILLING,
        allowed: 3,
        denied: 0,
        last_used: true,
        distinct_peers: 1,
        live_tokens: 3,
      },
      {
        grant_name: 'billing-secrets',
        subject: BILLING,
        allowed: 1,
        denied: 0,
        last_used: true,
        distinct_peers: 1,
        live_tokens: 0,
      },
    ])
    expect(usage.unused).to.deep.equal([])
    const [row] = await t.broker.log.tail(1)
    expect(row).to.include({ kind: 'admin', decision: 'allow', subject: AUDITOR })
    expect(row!.detail).to.include({ method: 'GetUsage', role: 'auditor', since: '1h', returned: 4 })
  })

  it('unused_for lists the grants and secrets of the config with no allowed exchange in that window', async () => {
    const usage = await getUsage(auditor)({ since: '7d', unused_for: '90d' })
    expect(usage.unused.map((u) => [u.kind, u.name, Number(u.last_used)])).to.deep.equal([
      ['grant', 'dormant', 0],
      ['secret', 'idle-key', 0],
    ])
  })

  it('bad since / unused_for are INVALID_ARGUMENT naming the field, and audited; a workload may not ask', async () => {
    const since = await expectGrpcError(getUsage(auditor)({ since: 'last tuesday' }))
    expect(since.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(since.details).to.contain('since: "last tuesday" is not a time')
    const [row] = await t.broker.log.tail(1)
    expect(row).to.include({ kind: 'admin', decision: 'deny', subject: AUDITOR })
    const unused = await expectGrpcError(getUsage(auditor)({ unused_for: 'forever' }))
    expect(unused.code).to.equal(grpc.status.INVALID_ARGUMENT)
    expect(unused.details).to.contain('unused_for: "forever" is not a duration')
    const workload = await expectGrpcError(getUsage(t.adminClient(agent))({}))
    expect(workload.code).to.equal(grpc.status.PERMISSION_DENIED)
  })

  it('keybroker usage --config: table, JSON and CSV, with --unused', async () => {
    const table = await runCli(['usage', '--config', t.configFile, '--since', '1h', '--unused', '90d'], {
      timeoutMs: 60_000,
    })
    expect(table.code, table.stderr).to.equal(0)
    const lines = table.stdout.split('\n')
    expect(lines[0]).to.match(/^GRANT\s+SUBJECT\s+ALLOWED\s+DENIED\s+LAST_USED\s+PEERS\s+LIVE_TOKENS$/)
    expect(lines.find((l) => l.startsWith('billing ') && l.includes(BILLING))).to.match(
      /\s3\s+0\s+\S+\s+1\s+3$/,
    )
    expect(table.stdout)
      .to.contain('unused for 90d:')
      .and.match(/grant\s+dormant\s+-/)
    expect(table.stdout).to.match(/secret\s+idle-key\s+-/)

    const json = await runCli(['usage', '--config', t.configFile, '--unused', '90d', '-o', 'json'], {
      timeoutMs: 60_000,
    })
    expect(json.code, json.stderr).to.equal(0)
    const parsed = JSON.parse(json.stdout) as GetUsageResponse__Output
    expect(parsed.rows.find((r) => r.grant_name === 'agents')).to.include({ subject: AGENT, allowed: 1 })
    expect(parsed.unused.map((u) => u.name)).to.deep.equal(['dormant', 'idle-key'])

    const csv = await runCli(['usage', '--config', t.configFile, '-o', 'csv'], { timeoutMs: 60_000 })
    expect(csv.code, csv.stderr).to.equal(0)
    const csvLines = csv.stdout.trim().split('\n')
    expect(csvLines[0]).to.equal('GRANT,SUBJECT,ALLOWED,DENIED,LAST_USED,PEERS,LIVE_TOKENS')
    expect(csvLines).to.have.length(5)
    expect(csvLines.some((l) => l.startsWith(`billing,${BILLING},3,0,`))).to.equal(true)
  })

  it('keybroker usage over --address as an auditor equals the file view', async () => {
    const remote = [
      '--address',
      `localhost:${t.broker.grpcPort}`,
      '--ca',
      t.pki.caFile,
      '--cert',
      auditorCert.cert,
      '--key',
      auditorCert.key,
    ]
    const res = await runCli(['usage', ...remote, '--since', '1h', '-o', 'json'], { timeoutMs: 60_000 })
    expect(res.code, res.stderr).to.equal(0)
    const parsed = JSON.parse(res.stdout) as GetUsageResponse__Output
    expect(parsed.rows.map((r) => `${r.grant_name}|${r.subject}|${r.allowed}|${r.denied}`)).to.deep.equal([
      `|${BILLING}|0|2`,
      `agents|${AGENT}|1|0`,
      `billing|${BILLING}|3|0`,
      `billing-secrets|${BILLING}|1|0`,
    ])
  })

  it('metrics.per_subject: the first max_subjects subjects get a label, the rest count as "other"', async () => {
    const text = await scrapeMetrics(t)
    expect(
      sample(text, 'keybroker_subject_exchanges_total', { subject: BILLING, decision: 'allow' }),
    ).to.equal(4)
    expect(
      sample(text, 'keybroker_subject_exchanges_total', { subject: BILLING, decision: 'deny' }),
    ).to.equal(2)
    expect(sample(text, 'keybroker_subject_exchanges_total', { subject: AGENT, decision: 'allow' })).to.equal(
      0,
    )
    expect(
      sample(text, 'keybroker_subject_exchanges_total', { subject: 'other', decision: 'allow' }),
    ).to.be.at.least(1)
  })
})

describe('config: alerts and metrics errors name the key path', () => {
  const problems = (yaml: string): string[] => {
    try {
      parseConfig(`issuer: https://kb.test\n${yaml}`, '/tmp/kb.yaml')
    } catch (err) {
      if (err instanceof ConfigError) return err.problems
      throw err
    }
    throw new Error('expected the config to be refused')
  }

  it('bad sink format, plain http to a remote host, duplicate names, bad durations, unknown rules', () => {
    const found = problems(`alerts:
  sinks:
    - { name: soc, url: "http://hooks.example.com/kb", secret_file: ./k, format: xml }
    - { name: soc, url: "https://hooks.example.com/kb", secret_file: ./k, timeout: soon }
  rules:
    denial_burst: { count: 0, window: 1 minute }
    new_peers: {}
metrics: { per_subject: yes }
`)
    expect(found).to.include.members([
      'alerts.sinks[0].format: Invalid option: expected one of "cloudevents"|"json"',
      'alerts.sinks[1].timeout: "soon" is not a duration (use e.g. 30s, 5m, 1h, 24h, 7d)',
      'alerts.rules.denial_burst.window: "1 minute" is not a duration (use e.g. 30s, 5m, 1h, 24h, 7d)',
    ])
    const text = found.join('\n')
    expect(text).to.contain('alerts.rules: unknown key "new_peers"')
    expect(text).to.contain('alerts.rules.denial_burst.count:')
    expect(text).to.contain('metrics.per_subject:')
  })

  it('refinements: http only on loopback, sink names unique', () => {
    const found = problems(`alerts:
  sinks:
    - { name: soc, url: "http://hooks.example.com/kb", secret_file: ./k }
    - { name: soc, url: "http://127.0.0.1:9/kb", secret_file: ./k }
`)
    expect(found.join('\n')).to.contain(
      'alerts.sinks[0].url: http://hooks.example.com/kb: use https (plain http is accepted only for a loopback receiver)',
    )
    expect(found.join('\n')).to.contain('alerts.sinks[1].name: sink name "soc" is used twice')
  })

  it('new_peer with no value turns the rule on; absent rules stay off', () => {
    const config = parseConfig(
      'issuer: https://kb.test\nalerts:\n  rules:\n    new_peer:\n    denial_burst: {}\n',
      '/tmp/kb.yaml',
    )
    expect(config.alerts!.rules.new_peer).to.deep.equal({})
    expect(config.alerts!.rules.denial_burst).to.deep.equal({ count: 20, window: 60 })
    expect(config.alerts!.rules.auth_failures).to.equal(undefined)
    expect(config.metrics).to.deep.equal({ per_subject: false, max_subjects: 100 })
  })
})
