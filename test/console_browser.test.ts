import { randomBytes } from 'node:crypto'
import { copyFileSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { expect } from 'chai'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { Agent, request } from 'undici'
import { buildConsoleWeb } from '../src/console/build_web.js'
import type { RunningConsole } from '../src/console/server.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import type { RevokeTokensRequest } from '../src/generated/keybroker/v1/RevokeTokensRequest.js'
import {
  ADMIN,
  AGENT,
  BILLING,
  expectGrpcError,
  REPO_ROOT,
  serverConfigYaml,
  TestBroker,
  unary,
} from './fixtures/broker.js'
import { ARTIFACTS, launchChromium } from './fixtures/chromium.js'
import { startTestConsole, unexpectedConsoleErrors } from './fixtures/console.js'
import { eventually, freePort } from './fixtures/net.js'
import type { CertFiles } from './fixtures/pki.js'
import { RecordingUpstream } from './fixtures/recording_upstream.js'
import { TcpFaultProxy } from './fixtures/tcp_proxy.js'
import { WebhookReceiver } from './fixtures/webhook_receiver.js'

/** The sinks' HMAC key: the secret file's text (the broker signs with the text, not decoded bytes) */
const ALERT_KEY = randomBytes(32).toString('hex')
const HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
const HOSTILE_SUBJECT = `spiffe://example.org/${HOSTILE}`
/** A route name as the proxy records it (the raw path segment: no spaces or quotes survive a URL). */
const HOSTILE_ROUTE = '<script>window.__pwned=3<script><b>bold<b>'

/**
 * The console in a real browser (Debian's Chromium through playwright-core) against a real broker:
 * the operator's path through every page, and the bad inputs the page must survive.
 */
describe('keybroker console in Chromium', function () {
  this.timeout(300_000)
  let t: TestBroker
  let upstream: RecordingUpstream
  let receiver: WebhookReceiver
  let deadPort = 0
  let grpcProxy: TcpFaultProxy
  let consoleServer: RunningConsole
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let agent: CertFiles
  let billing: CertFiles
  let dispatcher: Agent
  const pageErrors: string[] = []
  /** ListSigningKeys, ListRevocations, GetExchangeStats: served by brokers from the operator-CLI work on. */
  let operatorRpcs = true

  const issueAs = (cert: CertFiles, req: IssueTokenRequest) =>
    unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(cert), 'IssueToken')(req)

  async function callProxy(token: string): Promise<number> {
    const res = await request(`${t.httpUrl}/proxy/charges/v1/charges`, {
      headers: { authorization: `Bearer ${token}` },
      dispatcher,
    })
    await res.body.dump()
    return res.statusCode
  }

  async function shot(name: string): Promise<string> {
    const file = join(ARTIFACTS, `${name}.png`)
    await page.screenshot({ path: file, fullPage: true })
    return file
  }

  async function go(hash: string): Promise<void> {
    await page.evaluate((h) => {
      location.hash = h
    }, hash)
  }

  before(async () => {
    await buildConsoleWeb()
    let upstreamUrl = ''
    t = await TestBroker.start({
      configYaml: (dir, pki) => {
        const secretsFile = join(dir, 'secrets.json')
        writeFileSync(secretsFile, JSON.stringify({ api_key: 'sk_test_console_0123456789' }), { mode: 0o600 })
        const hmacFile = join(dir, 'alert-hmac')
        writeFileSync(hmacFile, `${ALERT_KEY}\n`, { mode: 0o600 })
        // two sinks: one that takes every alert, one nobody listens on (its alerts end up failed)
        return `${serverConfigYaml(dir, pki)}admins: ["${ADMIN}"]
alerts:
  evaluate_every: 1s
  sinks:
    - { name: soc, url: "${receiver.url}", secret_file: ${hmacFile}, initial_backoff: 1s, max_backoff: 2s }
    - { name: pager, url: "http://127.0.0.1:${deadPort}/hook", secret_file: ${hmacFile}, timeout: 1s, initial_backoff: 1s, max_backoff: 1s, give_up_after: 2s }
  rules:
    denial_burst: { count: 2, window: 1m }
providers:
  local: { type: file, path: ${secretsFile} }
secrets:
  charges-key: { provider: local, field: api_key }
routes:
  charges: { upstream: "${upstreamUrl}/api", secret: charges-key, ca_file: ${pki.caFile} }
grants:
  - name: billing
    match: { spiffe_id: "${BILLING}" }
    tokens:
      - { audience: payments-api, scopes: ["payments:read"], max_ttl: 15m }
  - name: agents
    match: { spiffe_id: "spiffe://example.org/ns/agents/*" }
    tokens:
      - { audience: "proxy:charges", scopes: ["GET /v1/charges*"], max_ttl: 5m }
`
      },
      beforeConfig: async (pki) => {
        receiver = await WebhookReceiver.start(Buffer.from(ALERT_KEY))
        deadPort = await freePort()
        upstream = await new RecordingUpstream({
          certPem: pki.server.certPem,
          keyPem: pki.server.keyPem,
        }).start()
        upstreamUrl = upstream.url
      },
    })
    agent = await t.pki.spiffe('research-agent', AGENT)
    billing = await t.pki.spiffe('billing', BILLING)
    const admin = await t.pki.spiffe('admin', ADMIN)
    dispatcher = new Agent({ connect: { ca: t.pki.ca.certPem } })

    // data for every chart: allowed exchanges of two subjects and two audiences, and denials
    for (let i = 0; i < 4; i++)
      await issueAs(billing, { audience: 'payments-api', scopes: ['payments:read'] })
    for (let i = 0; i < 2; i++)
      await issueAs(agent, { audience: 'proxy:charges', scopes: ['GET:/v1/charges*'] })
    await expectGrpcError(issueAs(billing, { audience: 'payments-api', scopes: ['payments:write'] }))
    // hostile strings in audience, reason (the refusal quotes the audience) and a revocation's subject
    await expectGrpcError(issueAs(billing, { audience: HOSTILE, scopes: ['payments:read'] }))
    const revoke = unary<RevokeTokensRequest, unknown>(t.adminClient(admin), 'RevokeTokens')
    const victim = await issueAs(billing, { audience: 'payments-api', scopes: ['payments:read'] })
    await revoke({ token_id: victim.token_id, reason: HOSTILE, subject: '' })
    await revoke({ subject: `spiffe://example.org/${HOSTILE}`, reason: 'hostile subject', token_id: '' })
    // node:https sends the path as given (undici would percent-encode it)
    await new Promise<void>((resolve, reject) => {
      httpsRequest(
        {
          host: '127.0.0.1',
          port: t.broker.httpPort,
          path: `/proxy/${HOSTILE_ROUTE}/x`,
          ca: t.pki.ca.certPem,
          servername: 'localhost',
          headers: { authorization: 'Bearer not-a-token' },
        },
        (res) => res.resume().on('end', resolve),
      )
        .on('error', reject)
        .end()
    })

    // mTLS SPIFFE IDs cannot carry markup, so two refusals of a hostile subject go into the log the
    // way the broker writes them: the alert rules raise on them and the usage report counts them
    for (let i = 0; i < 2; i++)
      await t.broker.audit.append({
        kind: 'issue',
        decision: 'deny',
        subject: HOSTILE_SUBJECT,
        audience: 'payments-api',
        reason: 'console test: a hostile subject',
      })

    operatorRpcs = await unary<object, unknown>(
      t.adminClient(admin),
      'ListSigningKeys',
    )({}).then(
      () => true,
      (err: { code: number }) => err.code !== 12, // UNIMPLEMENTED
    )
    if (!operatorRpcs)
      process.stderr.write(
        'NOTICE: this broker has no ListSigningKeys/ListRevocations/GetExchangeStats yet: their pages are skipped\n',
      )

    grpcProxy = await TcpFaultProxy.start(t.broker.grpcPort)
    consoleServer = await startTestConsole(t, admin, grpcProxy.address)
    browser = await launchChromium()
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    page = await context.newPage()
    page.on('pageerror', (err) => pageErrors.push(String(err)))
    page.on('dialog', (d) => {
      pageErrors.push(`unexpected dialog: ${d.message()}`)
      void d.dismiss()
    })
  })

  after(async () => {
    await context?.close()
    await browser?.close()
    await consoleServer?.close()
    await grpcProxy?.close()
    await dispatcher?.close()
    await t?.close()
    await upstream?.close()
    await receiver?.close()
  })

  afterEach(() => {
    expect(pageErrors, 'uncaught page errors').to.deep.equal([])
    expect(unexpectedConsoleErrors).to.deep.equal([])
  })

  it('opens with the one-time URL: the token leaves the address bar, the cookie is HttpOnly', async () => {
    await page.goto(consoleServer.url)
    expect(page.url()).to.equal(`http://127.0.0.1:${consoleServer.port}/`)
    const cookies = await context.cookies()
    expect(cookies).to.have.length(1)
    expect(cookies[0]!.httpOnly).to.equal(true)
    expect(cookies[0]!.sameSite).to.equal('Strict')
    expect(await page.evaluate(() => document.cookie)).to.equal('')
    await page.locator('h1', { hasText: 'Overview' }).waitFor()
  })

  it('overview: every chart is drawn with data points', async function () {
    if (!operatorRpcs) this.skip()
    await go('#/overview?window=1h')
    await page.locator('figure.chart').nth(4).waitFor({ timeout: 30_000 })
    const charts = await page.$$eval('figure.chart', (figs) =>
      figs.map((f) => ({
        title: f.querySelector('figcaption')?.textContent ?? '',
        points: f.querySelectorAll('[data-point]').length,
        sum: [...f.querySelectorAll('[data-point]')].reduce(
          (s, el) => s + Number(el.getAttribute('data-point')),
          0,
        ),
      })),
    )
    expect(charts.map((c) => c.title)).to.deep.equal([
      'Exchanges per minute, by decision',
      'Latency per minute (p50 and p99)',
      'Denials by reason',
      'Top subjects',
      'Top audiences',
    ])
    for (const c of charts) expect(c.points, c.title).to.be.greaterThan(0)
    expect(charts[0]!.sum).to.be.at.least(8)
    const subjects = await page.$$eval('figure.chart:nth-of-type(4) text.label', (els) =>
      els.map((e) => e.textContent),
    )
    expect(subjects.join(' ')).to.contain('billing')
    const file = await shot('overview')
    if (process.env.KEYBROKER_UPDATE_SCREENSHOT)
      copyFileSync(file, join(REPO_ROOT, 'docs/console-overview.png'))
  })

  it('exchanges: filter by subject, a new row arrives live after IssueToken, its detail opens', async () => {
    await go('#/exchanges')
    await page.getByLabel('Subject (ends with * for a prefix)').fill(AGENT)
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.waitForFunction(() => location.hash.includes('subject='))
    await page.locator('table.exchanges tbody tr').first().waitFor()
    const subjects = await page.$$eval('table.exchanges tbody td.subject', (tds) =>
      tds.map((td) => td.textContent),
    )
    expect(subjects.length).to.be.at.least(2)
    expect(new Set(subjects)).to.deep.equal(new Set([AGENT]))

    await page.getByLabel('Live (new rows as they happen)').check()
    await page.locator('.live-state', { hasText: 'live' }).waitFor({ timeout: 30_000 })
    const issued = await issueAs(agent, { audience: 'proxy:charges', scopes: ['GET:/v1/charges*'] })
    const row = page.locator(`table.exchanges tbody tr[data-id="${issued.exchange_id}"]`)
    await row.waitFor({ timeout: 30_000 })
    expect(await row.locator('td.mono').textContent()).to.equal(issued.token_id)
    // a billing row must not arrive on an agent-filtered live view
    await issueAs(billing, { audience: 'payments-api', scopes: ['payments:read'] })
    await shot('exchanges')

    expect(await callProxy(issued.token)).to.equal(200)
    await row.locator('a').first().click()
    await page.locator('h1', { hasText: issued.exchange_id }).waitFor({ timeout: 30_000 })
    const dl = await page.locator('dl.fields').first().textContent()
    expect(dl).to.contain(issued.token_id)
    expect(dl).to.contain('proxy:charges')
    expect(await page.locator('h2', { hasText: 'Place in the hash chain' }).count()).to.equal(1)
    const rows = await page.$$eval('table.exchanges tbody td.subject', (tds) =>
      tds.map((td) => td.textContent),
    )
    expect(new Set(rows)).to.not.contain(BILLING)
    await shot('exchange-detail')

    // revoke from the detail page, through the confirmation step; the proxy then refuses the token
    await page.getByRole('link', { name: 'Revoke this token…' }).click()
    await page.locator('h1', { hasText: 'Tokens' }).waitFor()
    expect(await page.getByLabel('Token id or subject').inputValue()).to.equal(issued.token_id)
    await page.getByRole('button', { name: 'Revoke…' }).click()
    const dialog = page.getByRole('dialog')
    await dialog.waitFor()
    await dialog.getByLabel('Reason (recorded in the audit log)').fill('console test')
    await dialog.getByRole('button', { name: 'Revoke' }).click()
    await page.locator('.msg-ok', { hasText: 'Revoked 1 token(s)' }).waitFor({ timeout: 30_000 })
    await eventually(
      async () => (await callProxy(issued.token)) === 401,
      20_000,
      'the proxy to refuse the token',
    )
    if (operatorRpcs)
      await page.locator('table.revocations', { hasText: issued.token_id }).waitFor({ timeout: 30_000 })
    await shot('tokens')
  })

  it('a cancelled confirmation revokes nothing', async () => {
    const issued = await issueAs(agent, { audience: 'proxy:charges', scopes: ['GET:/v1/charges*'] })
    await go(`#/tokens?token_id=${issued.token_id}`)
    await page.getByRole('button', { name: 'Revoke…' }).click()
    await page.getByRole('dialog').waitFor()
    await page.keyboard.press('Escape')
    await page.getByRole('dialog').waitFor({ state: 'detached' })
    expect(await callProxy(issued.token)).to.equal(200)
  })

  it('keys: ages and states; rotate with confirmation adds a key', async function () {
    if (!operatorRpcs) this.skip()
    await go('#/keys')
    await page.locator('table.keys tbody tr').first().waitFor({ timeout: 30_000 })
    const before = await page.locator('table.keys tbody tr').count()
    expect(await page.locator('table.keys .badge', { hasText: 'signing' }).count()).to.equal(1)
    await page.getByRole('button', { name: 'Rotate…' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate' }).click()
    await page.locator('.msg-ok', { hasText: 'New key' }).waitFor({ timeout: 30_000 })
    await page.locator('table.keys tbody tr').nth(before).waitFor({ timeout: 30_000 })
    await shot('keys')
  })

  it('integrity: VerifyAuditLog runs and says the log is intact', async () => {
    await go('#/integrity')
    await page.getByRole('button', { name: 'Verify the audit log' }).click()
    await page.locator('.msg-ok', { hasText: 'Intact' }).waitFor({ timeout: 60_000 })
    await shot('integrity')
  })

  it('renders <script> and other HTML in subject, reason, audience and route as text', async () => {
    await go('#/exchanges?decision=deny')
    // the refused audience, and the refusal's reason quoting it, both as text in their cells
    await page
      .locator('table.exchanges tbody td', { hasText: '<script>window.__pwned = 1</script>' })
      .first()
      .waitFor()
    const texts = await page.$$eval('table.exchanges tbody', (b) =>
      b.map((x) => x.textContent ?? '').join(''),
    )
    expect(texts).to.contain('<script>window.__pwned = 1</script>')
    expect(texts, texts).to.contain(`route ${HOSTILE_ROUTE}`)
    if (operatorRpcs) {
      await go('#/tokens')
      await page
        .locator('table.revocations td.reason', { hasText: '<script>' })
        .first()
        .waitFor({ timeout: 30_000 })
    }
    // a subject filter carrying markup stays a value; the revoke row's detail shows the subject as text
    await go('#/exchanges?kind=revoke')
    await page.locator('table.exchanges tbody tr').first().waitFor({ timeout: 30_000 })
    const revokeRows = await page.$$eval('table.exchanges tbody tr', (trs) =>
      trs.map((tr) => ({
        href: tr.querySelector('a')?.getAttribute('href') ?? '',
        text: tr.textContent ?? '',
      })),
    )
    const subjectRevoke = revokeRows.find((r) => r.text.includes('hostile subject'))
    expect(subjectRevoke, JSON.stringify(revokeRows)).to.not.equal(undefined)
    await go(subjectRevoke!.href)
    await page
      .locator('pre.json', { hasText: '<script>window.__pwned = 1</script>' })
      .waitFor({ timeout: 30_000 })
    await go(`#/exchanges?subject=${encodeURIComponent(HOSTILE)}`)
    await page.locator('.msg-info', { hasText: 'No exchanges match' }).waitFor({ timeout: 30_000 })
    expect(await page.getByLabel('Subject (ends with * for a prefix)').inputValue()).to.equal(HOSTILE)
    if (operatorRpcs) {
      await go('#/overview?window=15m')
      await page.locator('figure.chart').nth(4).waitFor({ timeout: 30_000 })
    }
    // nothing parsed as markup anywhere: no script or img element came from the data
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).to.equal(undefined)
    expect(await page.locator('main script, main img').count()).to.equal(0)
    await go(`#/exchanges?route=${encodeURIComponent(HOSTILE_ROUTE)}`)
    await page
      .locator('table.exchanges tbody td', { hasText: `route ${HOSTILE_ROUTE}` })
      .first()
      .waitFor()
    expect(await page.locator('main script, main b').count()).to.equal(0)
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).to.equal(undefined)
  })

  it('an invalid time range shows a message on the page, not an exception', async () => {
    await go('#/exchanges')
    await page.getByLabel('From', { exact: true }).fill('2030-01-02T10:00:00')
    await page.getByLabel('To', { exact: true }).fill('2030-01-01T10:00:00')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.locator('[role=alert]', { hasText: '"From" must be before "To"' }).waitFor()
    // the same range arriving in the address (a pasted link) gets the broker's own message
    await go('#/exchanges?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z')
    await page.locator('[role=alert]', { hasText: 'must be before until' }).waitFor({ timeout: 30_000 })
    await go('#/exchanges?since=not-a-time')
    await page.locator('[role=alert]', { hasText: 'is not a time' }).waitFor({ timeout: 30_000 })
  })

  it('the broker going away: the page says so, keeps its data, and reconnects (live rows resume)', async () => {
    await go(`#/exchanges?subject=${encodeURIComponent(AGENT)}`)
    await page.locator('table.exchanges tbody tr').first().waitFor()
    await page.getByLabel('Live (new rows as they happen)').check()
    await page.locator('.live-state', { hasText: 'live' }).waitFor({ timeout: 30_000 })
    const rowsBefore = await page.locator('table.exchanges tbody tr').count()

    grpcProxy.cut()
    const banner = page.locator('#banner')
    await banner.filter({ hasText: 'Broker unreachable' }).waitFor({ timeout: 30_000 })
    expect(await page.locator('table.exchanges tbody tr').count()).to.equal(rowsBefore)
    await shot('broker-down')
    // other pages while it is down: a message, not a blank screen
    await go('#/integrity')
    await page.getByRole('button', { name: 'Verify the audit log' }).click()
    await page.locator('main [role=alert]', { hasText: 'broker unreachable' }).waitFor({ timeout: 30_000 })
    expect(await page.locator('h1').textContent()).to.equal('Integrity')

    grpcProxy.restore()
    await banner.filter({ hasText: 'reachable again' }).waitFor({ timeout: 60_000 })
    await page.getByRole('button', { name: 'Verify the audit log' }).click()
    await page.locator('.msg-ok', { hasText: 'Intact' }).waitFor({ timeout: 60_000 })

    await go(`#/exchanges?subject=${encodeURIComponent(AGENT)}`)
    await page.locator('table.exchanges tbody tr').first().waitFor()
    await page.getByLabel('Live (new rows as they happen)').check()
    await page.locator('.live-state', { hasText: 'live' }).waitFor({ timeout: 30_000 })
    const issued = await issueAs(agent, { audience: 'proxy:charges', scopes: ['GET:/v1/charges*'] })
    await page
      .locator(`table.exchanges tbody tr[data-id="${issued.exchange_id}"]`)
      .waitFor({ timeout: 30_000 })
  })

  it('a live view keeps streaming through an outage (the tail resumes from its cursor)', async () => {
    await go(`#/exchanges?subject=${encodeURIComponent(AGENT)}`)
    await page.locator('table.exchanges tbody tr').first().waitFor()
    await page.getByLabel('Live (new rows as they happen)').check()
    await page.locator('.live-state', { hasText: 'live' }).waitFor({ timeout: 30_000 })
    grpcProxy.cut()
    await page.locator('.live-state', { hasText: 'waiting for the broker' }).waitFor({ timeout: 30_000 })
    // written while the console cannot see the broker: arrives once it can
    const issued = await issueAs(agent, { audience: 'proxy:charges', scopes: ['GET:/v1/charges*'] })
    grpcProxy.restore()
    await page
      .locator(`table.exchanges tbody tr[data-id="${issued.exchange_id}"]`)
      .waitFor({ timeout: 60_000 })
  })

  it('alerts: rows with rule, subject, time, delivery state and attempts; markup in a subject stays text', async () => {
    await go('#/alerts')
    // soc takes the alert; pager never answers, so its copy is retried and then given up
    const failed = page.locator('table.alerts tbody tr', { hasText: 'pager' }).filter({ hasText: 'failed' })
    const delivered = page
      .locator('table.alerts tbody tr', { hasText: 'soc' })
      .filter({ hasText: 'delivered' })
    // the page refreshes itself while deliveries move on
    await failed.first().waitFor({ timeout: 60_000 })
    await delivered.first().waitFor({ timeout: 60_000 })
    const rows = await page.$$eval('table.alerts tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    )
    const hostile = rows.filter((r) => r[2] === HOSTILE_SUBJECT)
    expect(hostile.length, JSON.stringify(rows)).to.be.at.least(1)
    expect(hostile[0]![1]).to.equal('denial_burst')
    expect(hostile[0]![0]).to.match(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/)
    const billingRows = rows.filter((r) => r[2] === BILLING && r[1] === 'denial_burst')
    expect(billingRows.map((r) => r[4]).sort()).to.deep.equal(['pager', 'soc'])
    const pager = rows.find((r) => r[4] === 'pager' && r[5]!.startsWith('failed'))!
    expect(Number(pager[6])).to.be.at.least(1)
    expect(pager[5]).to.match(/failed.+/) // the sink's error is shown with it
    expect(receiver.events('denial_burst').length).to.be.at.least(2)
    expect(await page.locator('main script, main img').count()).to.equal(0)
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).to.equal(undefined)
    await shot('alerts')

    // the state select narrows the list through the address
    await page.getByLabel('Delivery state').selectOption('failed')
    await page.waitForFunction(() => location.hash === '#/alerts?state=failed')
    await page.locator('table.alerts tbody tr').first().waitFor({ timeout: 30_000 })
    const states = await page.$$eval('table.alerts tbody .badge', (els) => els.map((e) => e.textContent))
    expect(new Set(states)).to.deep.equal(new Set(['failed']))
  })

  it('usage: per grant and subject over a window, the unused list, markup in a subject stays text', async () => {
    await go('#/usage')
    expect(await page.getByLabel('Window').inputValue()).to.equal('30d')
    expect(await page.getByLabel('Unused for').inputValue()).to.equal('90d')
    // the selects reload the page through the address
    await page.getByLabel('Window').selectOption('1h')
    await page.waitForFunction(() => location.hash === '#/usage?since=1h&unused_for=90d')
    await page.getByLabel('Unused for').selectOption('1d')
    await page.waitForFunction(() => location.hash === '#/usage?since=1h&unused_for=1d')
    await page.locator('table.usage tbody tr').first().waitFor({ timeout: 30_000 })
    const rows = await page.$$eval('table.usage tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    )
    const billingRow = rows.find((r) => r[0] === 'billing' && r[1] === BILLING)
    expect(billingRow, JSON.stringify(rows)).to.not.equal(undefined)
    expect(Number(billingRow![2])).to.be.at.least(5) // allowed
    // refusals no grant allowed are counted under no grant
    const billingDenied = rows.filter((r) => r[1] === BILLING).reduce((n, r) => n + Number(r[3]), 0)
    expect(billingDenied).to.be.at.least(2)
    expect(billingRow![4]).to.match(/^\d{4}-/) // last used
    expect(Number(billingRow![5])).to.be.at.least(1) // distinct peers
    const hostile = rows.find((r) => r[1] === HOSTILE_SUBJECT)
    expect(hostile, JSON.stringify(rows)).to.deep.equal([
      '—',
      HOSTILE_SUBJECT,
      '0',
      '2',
      hostile![4],
      '0',
      '0',
    ])
    expect(await page.locator('main script, main img').count()).to.equal(0)
    // every configured grant and secret was used in the last day
    await page.locator('.msg-ok', { hasText: 'Every grant and secret was used' }).waitFor()
    await shot('usage')

    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).to.equal(undefined)
  })

  it('is usable at 390 px: no page-wide horizontal scrolling; keyboard reaches the navigation', async () => {
    await page.setViewportSize({ width: 390, height: 844 })
    for (const [hash, name] of [
      ['#/overview', 'overview-390'],
      ['#/exchanges', 'exchanges-390'],
      ['#/tokens', 'tokens-390'],
      ['#/alerts', 'alerts-390'],
      ['#/usage', 'usage-390'],
    ] as const) {
      await go(hash)
      await page.locator('main h1').waitFor()
      await page.waitForTimeout(500)
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      expect(overflow, hash).to.be.at.most(1)
      await shot(name)
    }
    await page.setViewportSize({ width: 1280, height: 900 })
    await page.goto('about:blank')
    await page.goto(`http://127.0.0.1:${consoleServer.port}/#/overview`)
    await page.locator('main h1').waitFor()
    await page.keyboard.press('Tab')
    expect(await page.evaluate(() => document.activeElement?.textContent)).to.equal('Skip to content')
    await page.keyboard.press('Tab')
    const focused = await page.evaluate(() => document.activeElement?.textContent)
    expect(focused).to.equal('Overview')
    await page.keyboard.press('Tab')
    await page.keyboard.press('Enter')
    await page.waitForFunction(() => location.hash === '#/exchanges')
  })
})
