import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import { DECISIONS, EXCHANGE_KINDS } from '../src/audit/record.js'
import { buildConsoleWeb } from '../src/console/build_web.js'
import { ConsoleStartError, type RunningConsole } from '../src/console/server.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { issueTokens } from './fixtures/admin.js'
import { ADMIN, BILLING, expectGrpcError, REPO_ROOT, runCli, TestBroker, unary } from './fixtures/broker.js'
import {
  consoleLogin,
  consoleRequest,
  startTestConsole,
  unexpectedConsoleErrors,
} from './fixtures/console.js'
import { eventually } from './fixtures/net.js'
import type { CertFiles } from './fixtures/pki.js'

const WEB_SRC = join(REPO_ROOT, 'src/console/web')

describe('keybroker console: the local server (sessions, CSRF, Host, headers, admin check)', function () {
  this.timeout(120_000)
  let t: TestBroker
  let admin: CertFiles
  let billing: CertFiles
  let running: RunningConsole

  before(async () => {
    await buildConsoleWeb()
    // a rule with no sink: the alerts it raises are kept as `recorded`
    t = await TestBroker.start({
      extraYaml: 'alerts:\n  evaluate_every: 1s\n  rules:\n    denial_burst: { count: 2, window: 1m }\n',
    })
    admin = await t.pki.spiffe('admin', ADMIN)
    billing = await t.pki.spiffe('billing', BILLING)
    await issueTokens(t, billing, 2)
    running = await startTestConsole(t, admin)
  })
  after(async () => {
    await running?.close()
    await t?.close()
    expect(unexpectedConsoleErrors).to.deep.equal([])
  })

  it('prints a loopback URL with a one-time token', () => {
    expect(running.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{40,}$/)
  })

  it('answers 401 and no data without a session, or with a wrong session cookie', async () => {
    for (const headers of [{}, { cookie: `kb_console_${running.port}=not-a-session` }] as Array<
      Record<string, string>
    >) {
      for (const path of ['/api/exchanges', '/api/alerts', '/api/usage?since=1h&unused_for=1d']) {
        const api = await consoleRequest(running.port, path, { headers })
        expect(api.status, path).to.equal(401)
        expect(api.body).to.not.contain(BILLING)
      }
      const page = await consoleRequest(running.port, '/', { headers })
      expect(page.status).to.equal(401)
      expect(page.body).to.contain('keybroker console')
      expect(page.body).to.not.contain('kb-csrf')
      const script = await consoleRequest(running.port, '/app.js', { headers })
      expect(script.status).to.equal(401)
    }
  })

  it('refuses a wrong one-time token; the right one works once, sets a strict cookie and redirects without it', async () => {
    const wrong = await consoleRequest(running.port, '/?token=guessed')
    expect(wrong.status).to.equal(401)
    expect(wrong.headers['set-cookie']).to.equal(undefined)

    const url = new URL(running.url)
    const first = await consoleRequest(running.port, `/${url.search}`)
    expect(first.status).to.equal(303)
    expect(first.headers.location).to.equal('/')
    const cookie = String(first.headers['set-cookie'])
    expect(cookie).to.match(new RegExp(`^kb_console_${running.port}=`))
    expect(cookie).to.contain('HttpOnly')
    expect(cookie).to.contain('SameSite=Strict')
    expect(first.headers['referrer-policy']).to.equal('no-referrer')

    const again = await consoleRequest(running.port, `/${url.search}`)
    expect(again.status).to.equal(401)
    expect(again.body).to.contain('already used')

    const api = await consoleRequest(running.port, '/api/exchanges?subject=' + encodeURIComponent(BILLING), {
      headers: { cookie: cookie.split(';')[0]! },
    })
    expect(api.status).to.equal(200)
    const body = JSON.parse(api.body) as { exchanges: Array<{ subject: string }> }
    expect(body.exchanges.length).to.be.greaterThan(0)
    expect(body.exchanges.every((r) => r.subject === BILLING)).to.equal(true)
  })

  describe('with a session', () => {
    let session: { cookie: string; csrf: string }
    let again: RunningConsole
    before(async () => {
      // the first console's one-time token is spent: a second console for a fresh login
      again = await startTestConsole(t, admin)
      session = await consoleLogin(again)
    })
    after(() => again?.close())

    it('serves a strict CSP, no-referrer and nosniff on every response; the page has no inline script', async () => {
      for (const path of ['/', '/app.js', '/api/exchanges', '/nope']) {
        const res = await consoleRequest(again.port, path, { headers: { cookie: session.cookie } })
        const csp = String(res.headers['content-security-policy'])
        expect(csp, path).to.contain("script-src 'self'")
        expect(csp).to.contain("default-src 'none'")
        expect(csp).to.not.contain('unsafe-inline')
        expect(res.headers['referrer-policy']).to.equal('no-referrer')
        expect(res.headers['x-content-type-options']).to.equal('nosniff')
      }
      const page = await consoleRequest(again.port, '/', { headers: { cookie: session.cookie } })
      expect(page.body).to.not.match(/<script(?![^>]*\bsrc=)[^>]*>/)
      expect(page.body).to.not.match(/\son[a-z]+=/i)
    })

    it('refuses a Host header other than its own loopback name (DNS rebinding)', async () => {
      for (const host of [`evil.example:${again.port}`, '127.0.0.1', `127.0.0.1:${again.port + 1}`]) {
        const res = await consoleRequest(again.port, '/api/exchanges', {
          headers: { host, cookie: session.cookie },
        })
        expect(res.status, host).to.equal(403)
        expect(res.body).to.not.contain(BILLING)
      }
      const ok = await consoleRequest(again.port, '/api/ping', {
        headers: { host: `localhost:${again.port}`, cookie: session.cookie },
      })
      expect(ok.status).to.equal(200)
    })

    it('refuses a state-changing request without the CSRF token, with a wrong one, or from another origin', async () => {
      const [token] = await issueTokens(t, billing, 1)
      const body = JSON.stringify({ token_id: token!.token_id, reason: 'forged' })
      const json = { 'content-type': 'application/json', cookie: session.cookie }
      const attempts: Array<Record<string, string>> = [
        json,
        { ...json, 'x-csrf-token': 'wrong' },
        { ...json, 'x-csrf-token': session.csrf, origin: 'http://evil.example' },
      ]
      for (const headers of attempts) {
        const res = await consoleRequest(again.port, '/api/revoke', { method: 'POST', headers, body })
        expect(res.status).to.equal(403)
        expect(JSON.parse(res.body).error).to.contain('CSRF')
      }
      // nothing was revoked: no revoke row for that token in the log
      const rows = await t.broker.log.findByTokenId(token!.token_id)
      expect(rows.map((r) => r.kind)).to.deep.equal(['issue'])

      const real = await consoleRequest(again.port, '/api/revoke', {
        method: 'POST',
        headers: { ...json, 'x-csrf-token': session.csrf, origin: `http://127.0.0.1:${again.port}` },
        body,
      })
      expect(real.status, real.body).to.equal(200)
      expect(JSON.parse(real.body).revoked).to.equal(1)
    })

    it('a form-encoded POST (what a cross-site form can send) is refused even with the token', async () => {
      const res = await consoleRequest(again.port, '/api/keys/rotate', {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: session.cookie,
          'x-csrf-token': session.csrf,
        },
        body: 'a=b',
      })
      expect(res.status).to.equal(415)
    })

    it('an invalid time range is a 400 naming the problem, not a crash', async () => {
      const res = await consoleRequest(
        again.port,
        '/api/exchanges?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z',
        { headers: { cookie: session.cookie } },
      )
      expect(res.status).to.equal(400)
      expect(JSON.parse(res.body).error).to.match(/since .* must be before until/)
      const garbage = await consoleRequest(again.port, '/api/exchanges?since=yesterday-ish', {
        headers: { cookie: session.cookie },
      })
      expect(garbage.status).to.equal(400)
      expect(JSON.parse(garbage.body).error).to.contain('is not a time')
    })

    it('alerts: ListAlerts rows from the broker (rule, subject, delivery state); a bad state is a 400 naming it', async () => {
      const issue = unary<object, IssueTokenResponse__Output>(t.brokerClient(billing), 'IssueToken')
      for (let i = 0; i < 2; i++)
        await expectGrpcError(issue({ audience: 'nobody-api', scopes: ['payments:read'] }))
      const get = (path: string) => consoleRequest(again.port, path, { headers: { cookie: session.cookie } })
      let alerts: Array<{
        rule: string
        subject: string
        state: string
        attempts: number
        created_at: number
      }> = []
      await eventually(
        async () => {
          const res = await get('/api/alerts')
          expect(res.status, res.body).to.equal(200)
          alerts = (JSON.parse(res.body) as { alerts: typeof alerts }).alerts
          return alerts.some((a) => a.rule === 'denial_burst' && a.subject === BILLING)
        },
        20_000,
        'the denial_burst alert',
      )
      const burst = alerts.find((a) => a.rule === 'denial_burst' && a.subject === BILLING)!
      expect(burst.state).to.equal('recorded')
      expect(Number(burst.created_at)).to.be.closeTo(Date.now() / 1000, 120)

      const recorded = await get('/api/alerts?state=recorded&limit=5')
      expect(JSON.parse(recorded.body).alerts.length).to.be.greaterThan(0)
      const none = await get('/api/alerts?state=delivered')
      expect(JSON.parse(none.body).alerts).to.deep.equal([])
      const bad = await get('/api/alerts?state=lost')
      expect(bad.status).to.equal(400)
      expect(JSON.parse(bad.body).error).to.contain(
        '"lost" is not one of pending, delivered, failed, recorded',
      )
      const tooMany = await get('/api/alerts?limit=5000')
      expect(tooMany.status).to.equal(400)
    })

    it('usage: GetUsage rows per grant and subject, and the unused list; a bad duration is a 400', async () => {
      const get = (path: string) => consoleRequest(again.port, path, { headers: { cookie: session.cookie } })
      const res = await get('/api/usage?since=1h&unused_for=1d')
      expect(res.status, res.body).to.equal(200)
      const usage = JSON.parse(res.body) as {
        since: number
        rows: Array<{
          grant_name: string
          subject: string
          allowed: number
          denied: number
          live_tokens: number
        }>
        unused: Array<{ kind: string; name: string }>
      }
      expect(Number(usage.since)).to.be.closeTo(Date.now() / 1000 - 3600, 120)
      const billingRow = usage.rows.find((r) => r.grant_name === 'billing' && r.subject === BILLING)
      expect(billingRow, res.body).to.not.equal(undefined)
      expect(Number(billingRow!.allowed)).to.be.at.least(2)
      expect(Number(billingRow!.live_tokens)).to.be.at.least(1)
      // nobody in this test used the agents grant
      expect(usage.unused.map((u) => `${u.kind} ${u.name}`)).to.include('grant agents')
      expect(usage.unused.map((u) => u.name)).to.not.include('billing')

      const bad = await get('/api/usage?unused_for=soon')
      expect(bad.status).to.equal(400)
      expect(JSON.parse(bad.body).error).to.contain('unused_for: "soon" is not a duration')
      // GET only: a report is never a write
      const post = await consoleRequest(again.port, '/api/usage', {
        method: 'POST',
        headers: { cookie: session.cookie, 'content-type': 'application/json', 'x-csrf-token': session.csrf },
        body: '{}',
      })
      expect(post.status).to.equal(405)
    })

    it('the live tail streams a new exchange as a server-sent event', async () => {
      const events: string[] = []
      const controller = new AbortController()
      const res = await fetch(
        `http://127.0.0.1:${again.port}/api/live?subject=${encodeURIComponent(BILLING)}`,
        {
          headers: { cookie: session.cookie },
          signal: controller.signal,
        },
      )
      expect(res.headers.get('content-type')).to.contain('text/event-stream')
      const reader = res.body!.getReader()
      const decoder = new TextDecoder()
      const read = (async () => {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) return
          events.push(decoder.decode(value))
          if (events.join('').includes('event: exchange')) return
        }
      })()
      // wait for the watch to be open before issuing
      const start = Date.now()
      while (!events.join('').includes('event: broker') && Date.now() - start < 20_000)
        await new Promise((r) => setTimeout(r, 50))
      const [issued] = await issueTokens(t, billing, 1)
      await read
      controller.abort()
      const text = events.join('')
      expect(text).to.contain(issued!.token_id)
      expect(text).to.match(/id: \S+\nevent: exchange\n/)
    })
  })

  it("refuses to start with credentials that are not an admin's, saying so", async () => {
    const err = await startTestConsole(t, billing).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).to.be.instanceOf(ConsoleStartError)
    expect((err as Error).message).to.contain("not an admin's")
    expect((err as Error).message).to.contain('admins')
  })

  it('keybroker console with non-admin credentials exits 1 with a clear message and prints no URL', async () => {
    const res = await runCli(
      [
        'console',
        '--address',
        `localhost:${t.broker.grpcPort}`,
        '--ca',
        t.pki.caFile,
        '--cert',
        billing.cert,
        '--key',
        billing.key,
      ],
      { timeoutMs: 60_000 },
    )
    expect(res.code).to.equal(1)
    expect(res.stderr).to.contain("keybroker console: these credentials are not an admin's")
    expect(res.stdout).to.not.contain('token=')
  })

  it('the front end never writes markup from strings (no innerHTML and friends)', () => {
    const files = readdirSync(WEB_SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))
    expect(files.length).to.be.greaterThan(5)
    for (const file of files) {
      const text = readFileSync(join(WEB_SRC, file), 'utf8')
      expect(text, file).to.not.match(
        /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/,
      )
    }
  })

  it("the page's kinds and decisions are the broker's", async () => {
    const web = readFileSync(join(WEB_SRC, 'types.ts'), 'utf8')
    const list = (name: string) =>
      [
        ...(new RegExp(`export const ${name}[^=]*= \\[([^\\]]*)\\]`).exec(web)?.[1] ?? '').matchAll(
          /'([^']+)'/g,
        ),
      ].map((m) => m[1])
    expect(list('KINDS')).to.deep.equal([...EXCHANGE_KINDS])
    expect(list('DECISIONS')).to.deep.equal([...DECISIONS])
  })
})
