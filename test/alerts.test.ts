import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import Database from 'better-sqlite3'
import { expect } from 'chai'
import { backoffMs } from '../src/alerts/deliverer.js'
import { signBody, verifySignature } from '../src/alerts/index.js'
import type { Alert__Output } from '../src/generated/keybroker/v1/Alert.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { loadBrokerProto } from '../src/proto/load.js'
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
import { eventually, freePort } from './fixtures/net.js'
import type { CertFiles, TestPki } from './fixtures/pki.js'
import { TEST_DRIVER } from './fixtures/postgres.js'
import { WebhookReceiver } from './fixtures/webhook_receiver.js'

const AUDITOR = 'spiffe://example.org/ops/auditor'
const KEY = randomBytes(32).toString('hex')

/** A test config with `alerts:` (sinks and rules as given) and an auditor among the admins. */
function alertsConfig(sinksYaml: string, rulesYaml: string, grantsYaml = '') {
  return (dir: string, pki: TestPki) => {
    writeFileSync(join(dir, 'alert-hmac'), `${KEY}\n`)
    return baseConfigYaml(dir, pki, {
      grantsYaml,
      extraYaml: `alerts:
  evaluate_every: 1s
  sinks:
${sinksYaml}
  rules:
${rulesYaml}
`,
    }).replace(
      `admins: ["${ADMIN}"]`,
      `admins:\n  - "${ADMIN}"\n  - { spiffe_id: "${AUDITOR}", role: auditor }`,
    )
  }
}

const sink = (name: string, url: string, extra = '') =>
  `    - { name: ${name}, url: "${url}", secret_file: ./alert-hmac, format: cloudevents, initial_backoff: 1s, max_backoff: 2s${extra} }`

/** A TCP relay whose outgoing connections come from `localAddress` (a second client address on loopback). */
async function relayFrom(
  localAddress: string,
  targetPort: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = createConnection({ port: targetPort, host: '127.0.0.1', localAddress })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('alerts: rules, signed delivery, outbox', function () {
  this.timeout(120_000)

  describe('rules firing on realistic sequences', () => {
    let t: TestBroker
    let receiver: WebhookReceiver
    let agent: CertFiles
    let billing: CertFiles
    let auditor: grpc.Client

    before(async () => {
      receiver = await WebhookReceiver.start(Buffer.from(KEY))
      t = await TestBroker.start({
        configYaml: alertsConfig(
          sink('soc', receiver.url),
          `    denial_burst: { count: 20, window: 1m }
    new_peer: {}
    auth_failures: { count: 6, window: 1m }
    approval_requested: {}`,
          `  - name: agents-sensitive
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: search-admin, scopes: ["index:drop"], max_ttl: 5m, approval: { approvers: ["${ADMIN}"], timeout: 10m } }
`,
        ),
      })
      agent = await t.pki.spiffe('agent', AGENT)
      billing = await t.pki.spiffe('billing', BILLING)
      auditor = t.adminClient(await t.pki.spiffe('auditor', AUDITOR))
    })
    after(async () => {
      await t?.close()
      await receiver?.close()
    })

    const issue = (cert?: CertFiles, client?: grpc.Client) =>
      unary<object, IssueTokenResponse__Output>(client ?? t.brokerClient(cert), 'IssueToken')

    it('25 denied requests → exactly one denial_burst event naming the subject and the triggering exchange ids, signed', async () => {
      const call = issue(agent)
      const denied: string[] = []
      for (let i = 0; i < 25; i++) {
        const err = await expectGrpcError(call({ audience: 'search-api', scopes: ['search:write'] }))
        expect(err.code).to.equal(grpc.status.PERMISSION_DENIED)
        denied.push(String(err.metadata.get('keybroker-exchange-id')[0]))
      }
      await eventually(() => receiver.events('denial_burst').length > 0, 30_000, 'a denial_burst event')
      // later evaluations (and the five denials after the twentieth) raise nothing more
      await new Promise((r) => setTimeout(r, 3_000))
      const events = receiver.events('denial_burst')
      expect(events).to.have.length(1)
      const { event, headers, body } = events[0]!
      expect(event).to.include({
        specversion: '1.0',
        type: 'dev.keybroker.alert.denial_burst',
        subject: AGENT,
        source: 'https://keybroker.test',
      })
      expect(event.id).to.match(/^[0-9A-Z]{26}$/)
      expect(Date.parse(String(event.time))).to.be.a('number').and.not.NaN
      const data = event.data as { exchange_ids: string[]; count: number; rule: string }
      expect(data.count).to.equal(20)
      expect(data.exchange_ids).to.deep.equal(denied.slice(0, 20))
      expect(headers['content-type']).to.match(/^application\/cloudevents\+json/)
      expect(headers['x-keybroker-signature']).to.equal(signBody(body, Buffer.from(KEY)))

      // an audit row of kind alert, the metric, and the auditor's ListAlerts with delivery state
      const rows = await t.broker.log.tail(200)
      const alertRows = rows.filter((r) => r.kind === 'alert' && r.detail?.rule === 'denial_burst')
      expect(alertRows).to.have.length(1)
      expect(alertRows[0]).to.include({ subject: AGENT })
      expect(alertRows[0]!.detail).to.include({ alert_id: event.id, count: 20, sinks: 'soc' })
      expect(sample(await scrapeMetrics(t), 'keybroker_alerts_total', { rule: 'denial_burst' })).to.equal(1)
      await eventually(
        async () => {
          const listed = await unary<object, { alerts: Alert__Output[] }>(auditor, 'ListAlerts')({})
          const mine = listed.alerts.find((a) => a.id === event.id)
          return mine?.state === 'delivered' && mine.sink === 'soc' && mine.exchange_ids.length === 20
        },
        10_000,
        'ListAlerts to show the alert delivered',
      )
    })

    it('new_peer: a subject seen from a second address raises one event naming that address', async () => {
      await issue(billing)({ audience: 'payments-api', scopes: ['payments:read'] })
      const relay = await relayFrom('127.0.0.2', t.broker.grpcPort)
      try {
        const far = new (loadBrokerProto().keybroker.v1.Broker)(
          `127.0.0.1:${relay.port}`,
          t.credentials(billing),
          {
            'grpc.ssl_target_name_override': 'localhost',
          },
        )
        try {
          const via = issue(undefined, far)
          await via({ audience: 'payments-api', scopes: ['payments:read'] })
          await via({ audience: 'payments-api', scopes: ['payments:read'] })
        } finally {
          far.close()
        }
      } finally {
        await relay.close()
      }
      await eventually(
        () => receiver.events('new_peer').some((e) => e.event.subject === BILLING),
        30_000,
        'a new_peer event for billing',
      )
      await new Promise((r) => setTimeout(r, 2_000))
      const events = receiver.events('new_peer').filter((e) => e.event.subject === BILLING)
      expect(events).to.have.length(1)
      expect(events[0]!.event.data).to.include({ peer: '127.0.0.2', count: 1 })
    })

    it('auth_failures: repeated calls without an identity from one address raise one event for that address', async () => {
      const anonymous = issue(undefined, t.brokerClient())
      for (let i = 0; i < 7; i++) {
        const err = await expectGrpcError(anonymous({ audience: 'payments-api', scopes: ['payments:read'] }))
        expect(err.code).to.equal(grpc.status.UNAUTHENTICATED)
      }
      await eventually(() => receiver.events('auth_failures').length > 0, 30_000, 'an auth_failures event')
      const { event } = receiver.events('auth_failures')[0]!
      expect(event.subject).to.equal('127.0.0.1')
      expect((event.data as { exchange_ids: string[] }).exchange_ids).to.have.length(6)
    })

    it('approval_requested: a parked request raises one event with its approval id (the same request again: none)', async () => {
      const ask = issue(agent)
      const first = await expectGrpcError(ask({ audience: 'search-admin', scopes: ['index:drop'] }))
      expect(first.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_APPROVAL_PENDING'])
      const approvalId = String(first.metadata.get('keybroker-approval-id')[0])
      await expectGrpcError(ask({ audience: 'search-admin', scopes: ['index:drop'] }))
      await eventually(
        () => receiver.events('approval_requested').length > 0,
        30_000,
        'an approval_requested event',
      )
      await new Promise((r) => setTimeout(r, 2_000))
      const events = receiver.events('approval_requested')
      expect(events).to.have.length(1)
      expect(events[0]!.event.subject).to.equal(AGENT)
      expect(events[0]!.event.data).to.include({ approval_id: approvalId, grant: 'agents-sensitive' })
    })

    it('approval cap: a requester past the pending-approval cap is refused with a clear message and raises one alert', async () => {
      const flooder = await t.pki.spiffe('flooder', 'spiffe://example.org/ns/agents/sa/flooder')
      const ask = issue(flooder)
      // distinct requests (ttl differs), so each opens its own approval, up to the cap of 100
      for (let ttl = 1; ttl <= 100; ttl++) {
        const pending = await expectGrpcError(
          ask({ audience: 'search-admin', scopes: ['index:drop'], ttl_seconds: ttl }),
        )
        expect(pending.metadata.get('keybroker-error-code')).to.deep.equal(['ERR_APPROVAL_PENDING'])
      }
      for (const ttl of [101, 102]) {
        const refused = await expectGrpcError(
          ask({ audience: 'search-admin', scopes: ['index:drop'], ttl_seconds: ttl }),
        )
        expect(refused.code).to.equal(grpc.status.RESOURCE_EXHAUSTED)
        expect(refused.details).to.contain('already has 100 requests waiting for approval (limit 100)')
      }
      await eventually(() => receiver.events('approval_cap').length > 0, 30_000, 'an approval_cap event')
      await new Promise((r) => setTimeout(r, 2_000))
      const events = receiver.events('approval_cap')
      expect(events, 'one alert, not one per refusal').to.have.length(1)
      expect(events[0]!.event.subject).to.equal('spiffe://example.org/ns/agents/sa/flooder')
    })

    it('the receiver rejects a tampered event; the deliverer never sent one it rejected', async () => {
      const { body, headers } = receiver.events('denial_burst')[0]!
      const tampered = body.replace('"count":20', '"count":2')
      expect(tampered).to.not.equal(body)
      const res = await fetch(receiver.url, {
        method: 'POST',
        headers: { 'x-keybroker-signature': String(headers['x-keybroker-signature']) },
        body: tampered,
      })
      expect(res.status).to.equal(401)
      expect(receiver.rejected).to.equal(1)
      expect(verifySignature(body, String(headers['x-keybroker-signature']), Buffer.from(KEY))).to.equal(true)
      expect(
        verifySignature(body, String(headers['x-keybroker-signature']), Buffer.from('another key')),
      ).to.equal(false)
    })

    it('an auditor lists alerts with the CLI (table and JSON) over --address', async () => {
      const auditorCert = await t.pki.spiffe('auditor-cli', AUDITOR)
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
      const json = await runCli(['alerts', 'list', ...remote, '-o', 'json', '--limit', '1000'], {
        timeoutMs: 60_000,
      })
      expect(json.code, json.stderr).to.equal(0)
      const listed = JSON.parse(json.stdout) as Alert__Output[]
      expect(listed.map((a) => a.rule)).to.include.members(['denial_burst', 'new_peer', 'approval_cap'])
      const table = await runCli(['alerts', 'list', ...remote, '--state', 'delivered', '--limit', '1000'], {
        timeoutMs: 60_000,
      })
      expect(table.code, table.stderr).to.equal(0)
      expect(table.stdout).to.match(/^CREATED\s+RULE\s+SUBJECT\s+SINK\s+STATE/)
      expect(table.stdout).to.contain('denial_burst').and.contain('delivered')
      const bad = await runCli(['alerts', 'list', ...remote, '--state', 'lost'], { timeoutMs: 60_000 })
      expect(bad.code).to.not.equal(0)
      expect(bad.stderr).to.contain('not one of pending, delivered, failed, recorded')
    })
  })

  describe('audit_chain_broken', () => {
    let t: TestBroker
    let receiver: WebhookReceiver

    before(async function () {
      if (TEST_DRIVER === 'postgres') this.skip()
      receiver = await WebhookReceiver.start(Buffer.from(KEY))
      t = await TestBroker.start({
        configYaml: alertsConfig(sink('soc', receiver.url), '    audit_chain_broken: { every: 1s }'),
      })
    })
    after(async () => {
      await t?.close()
      await receiver?.close()
    })

    it('an edited row in the SQLite file is found by the periodic check: one event naming the chain and seq', async () => {
      const billing = await t.pki.spiffe('billing', BILLING)
      const issue = unary<object, IssueTokenResponse__Output>(t.brokerClient(billing), 'IssueToken')
      for (let i = 0; i < 3; i++) await issue({ audience: 'payments-api', scopes: ['payments:read'] })
      const [victim] = (await t.broker.log.tail(50)).filter((r) => r.kind === 'issue')
      const db = new Database(join(t.dir, 'keybroker.db'))
      try {
        db.pragma('busy_timeout = 5000')
        db.prepare("UPDATE exchanges SET scopes = 'payments:write' WHERE id = ?").run(victim!.id)
      } finally {
        db.close()
      }
      await eventually(
        () => receiver.events('audit_chain_broken').length > 0,
        30_000,
        'an audit_chain_broken event',
      )
      await new Promise((r) => setTimeout(r, 3_000))
      const events = receiver.events('audit_chain_broken')
      expect(events, 'one event, not one per check').to.have.length(1)
      expect(events[0]!.event.subject).to.equal(victim!.node_id)
      expect(events[0]!.event.data).to.include({
        first_bad_seq: victim!.seq,
        first_bad_node_id: victim!.node_id,
      })
    })
  })

  describe('sinks that fail, and a restart', () => {
    let t: TestBroker
    let flaky: WebhookReceiver
    let hanging: WebhookReceiver
    let downPort: number
    let later: WebhookReceiver | undefined
    let config: ReturnType<typeof alertsConfig>

    before(async () => {
      flaky = await WebhookReceiver.start(Buffer.from(KEY))
      flaky.failFirst = 2
      hanging = await WebhookReceiver.start(Buffer.from(KEY))
      hanging.mode = 'hang'
      downPort = await freePort()
      config = alertsConfig(
        [
          sink('down', `http://127.0.0.1:${downPort}/hook`),
          sink('flaky', flaky.url),
          sink('hanging', hanging.url, ', timeout: 1s'),
        ].join('\n'),
        '    denial_burst: { count: 3, window: 1m }',
      )
      t = await TestBroker.start({ configYaml: config })
    })
    after(async () => {
      await t?.close()
      for (const r of [flaky, hanging, later]) await r?.close()
    })

    const states = async () => {
      const rows = await t.broker.storage.alerts.list({ limit: 100 })
      return new Map(rows.map((r) => [r.sink, r]))
    }

    it('refused, 500 and hanging sinks are retried with backoff; the outbox keeps the event; IssueToken is unaffected', async () => {
      const agent = await t.pki.spiffe('agent', AGENT)
      const billing = await t.pki.spiffe('billing', BILLING)
      const denied = unary<object, IssueTokenResponse__Output>(t.brokerClient(agent), 'IssueToken')
      for (let i = 0; i < 3; i++)
        await expectGrpcError(denied({ audience: 'search-api', scopes: ['search:write'] }))
      await eventually(
        async () => (await states()).size === 3,
        30_000,
        'the alert in the outbox for each sink',
      )

      // while the sinks misbehave, tokens keep coming
      const issue = unary<object, IssueTokenResponse__Output>(t.brokerClient(billing), 'IssueToken')
      for (let i = 0; i < 10; i++) {
        const got = await issue({ audience: 'payments-api', scopes: ['payments:read'] })
        expect(got.token).to.be.a('string').and.not.empty
      }

      await eventually(
        async () => (await states()).get('flaky')?.state === 'delivered',
        30_000,
        'flaky delivered',
      )
      expect(flaky.accepted).to.have.length(1)
      expect((await states()).get('flaky')!.attempts).to.equal(3)
      await eventually(
        async () => {
          const s = await states()
          return (s.get('down')?.attempts ?? 0) >= 2 && (s.get('hanging')?.attempts ?? 0) >= 1
        },
        30_000,
        'retries of the refused and the hanging sink',
      )
      const s = await states()
      expect(s.get('down')).to.include({ state: 'pending' })
      expect(s.get('down')!.last_error).to.contain('down unreachable').and.contain('ECONNREFUSED')
      expect(s.get('down')!.next_attempt_at).to.be.above(s.get('down')!.created_at)
      expect(s.get('hanging')).to.include({ state: 'pending' })
      expect(s.get('hanging')!.last_error).to.contain('no answer from hanging within 1s')
      expect(hanging.hits).to.be.at.least(1)
    })

    it('undelivered alerts are delivered after a broker restart (same event id, at least once)', async () => {
      const before = (await states()).get('down')!
      expect(before.state).to.equal('pending')
      await t.stop()
      later = await WebhookReceiver.start(Buffer.from(KEY), downPort)
      t = await TestBroker.start({ configYaml: config, reuse: { dir: t.dir, pki: t.pki } })
      await eventually(() => later!.accepted.length > 0, 30_000, 'the alert delivered after the restart')
      expect(later.accepted[0]!.event.id).to.equal(before.id)
      expect(later.accepted[0]!.event.type).to.equal('dev.keybroker.alert.denial_burst')
      await eventually(
        async () => (await states()).get('down')?.state === 'delivered',
        10_000,
        'marked delivered',
      )
      expect((await states()).get('down')!.attempts).to.be.above(before.attempts)
    })
  })

  it('backoff doubles from initial up to max, with jitter in [0.5, 1)', () => {
    expect(backoffMs(1, 1000, 60_000, () => 0)).to.equal(500)
    expect(backoffMs(1, 1000, 60_000, () => 0.999)).to.be.closeTo(1000, 1)
    expect(backoffMs(4, 1000, 60_000, () => 0)).to.equal(4000)
    expect(backoffMs(30, 1000, 60_000, () => 0)).to.equal(30_000)
  })
})
