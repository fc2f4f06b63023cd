/*
 * The load generator of a bench row, in its own process. BENCH_LOAD (JSON) says what to call:
 *   issue | floor — Broker.IssueToken over mTLS (floor: the no-op server, same client code);
 *   fetch — Broker.FetchSecret; list — Admin.ListExchanges by subject;
 *   peer  — oidc-provider's token endpoint over HTTPS with undici (client_secret_basic or tls_client_auth);
 *   oauth — the broker's POST /oauth2/token, client_credentials with tls_client_auth, same client code.
 * `concurrency` callers loop back to back. After the warm-up it sends { type: 'ready' } and waits for
 * { type: 'go' } (the parent reads the server's CPU in between), then measures for `durationMs`
 * or until `count` requests, drains, and sends the LoadResult.
 */
import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { Pool } from 'undici'
import { loadBrokerProto } from '../../src/proto/load.js'
import { type LoadResult, type LoadSpec, Samples, summarize } from './stats.js'

const spec = JSON.parse(process.env.BENCH_LOAD!) as LoadSpec
const send = (message: object) => process.send!(message)

type Call = () => Promise<unknown>

function grpcCall(): { call: Call; close: () => void } {
  const proto = loadBrokerProto()
  const creds = grpc.credentials.createSsl(
    readFileSync(spec.ca),
    spec.cert ? readFileSync(spec.key!) : null,
    spec.cert ? readFileSync(spec.cert) : null,
  )
  const options = { 'grpc.ssl_target_name_override': 'localhost' }
  const address = `127.0.0.1:${spec.port}`
  const unaryOn = (client: grpc.Client, method: string, request: () => object): Call => {
    const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!.bind(client)
    return () =>
      new Promise((resolve, reject) =>
        fn(request(), (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res))),
      )
  }
  if (spec.kind === 'list') {
    const client = new proto.keybroker.v1.Admin(address, creds, options)
    const subjects = spec.subjects!
    let i = 0
    const call = unaryOn(client, 'ListExchanges', () => ({
      subject: subjects[i++ % subjects.length],
      limit: 100,
    }))
    return { call, close: () => client.close() }
  }
  const client = new proto.keybroker.v1.Broker(address, creds, options)
  const call =
    spec.kind === 'fetch'
      ? unaryOn(client, 'FetchSecret', () => ({ name: 'stripe-key' }))
      : unaryOn(client, 'IssueToken', () => ({
          audience: 'payments-api',
          scopes: ['payments:read'],
          ttl_seconds: 300,
        }))
  return { call, close: () => client.close() }
}

/**
 * A client_credentials token request over HTTPS with undici: oidc-provider (`peer`, client_secret_basic
 * or tls_client_auth) or the broker's own `POST /oauth2/token` (`oauth`, tls_client_auth). The first
 * token is verified with jose against the server's JWKS before anything is measured.
 */
async function tokenEndpointCall(): Promise<{ call: Call; close: () => void }> {
  const broker = spec.kind === 'oauth'
  const mtls = broker || spec.peerAuth === 'tls_client_auth'
  const origin = `https://127.0.0.1:${spec.port}`
  const pool = new Pool(origin, {
    connections: spec.concurrency,
    connect: {
      ca: readFileSync(spec.ca),
      servername: 'localhost',
      ...(mtls ? { cert: readFileSync(spec.cert!), key: readFileSync(spec.key!) } : {}),
    },
  })
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
  if (!mtls)
    headers.authorization = `Basic ${Buffer.from('bench:bench-secret-bench-secret-bench-secret').toString('base64')}`
  const params: Record<string, string> = { grant_type: 'client_credentials', scope: 'payments:read' }
  if (broker) Object.assign(params, { client_id: spec.clientId!, audience: 'payments-api' })
  else
    Object.assign(params, { resource: 'https://payments-api', ...(mtls ? { client_id: 'bench-mtls' } : {}) })
  const body = new URLSearchParams(params).toString()
  const path = broker ? '/oauth2/token' : '/token'
  const call = async () => {
    const res = await pool.request({ method: 'POST', path, headers, body })
    const json = (await res.body.json()) as { access_token?: string; error_description?: string }
    if (res.statusCode !== 200) throw new Error(`token endpoint: ${res.statusCode} ${json.error_description}`)
    return json
  }
  // Before measuring: the tokens must be what we claim they are (ES256 JWTs for payments-api, bound under mTLS).
  const first = (await call()) as { access_token: string }
  const jwksRes = await pool.request({ method: 'GET', path: broker ? '/.well-known/jwks.json' : '/jwks' })
  const jwks = createLocalJWKSet((await jwksRes.body.json()) as never)
  const { protectedHeader, payload } = await jwtVerify(first.access_token, jwks, {
    issuer: broker ? 'https://keybroker.test' : origin,
    audience: 'payments-api',
    algorithms: ['ES256'],
  })
  if (mtls && !(payload.cnf as Record<string, unknown> | undefined)?.['x5t#S256'])
    throw new Error('a token obtained with tls_client_auth is not certificate-bound (no cnf.x5t#S256)')
  send({
    type: 'verified',
    alg: protectedHeader.alg,
    typ: protectedHeader.typ,
    scope: payload.scope,
    cnf: payload.cnf,
  })
  return { call, close: () => void pool.close() }
}

async function drive(call: Call, opts: { durationMs?: number; count?: number; record: boolean }) {
  const samples = new Samples()
  let requests = 0
  let errors = 0
  let firstError: string | undefined
  const deadline =
    opts.durationMs !== undefined ? performance.now() + opts.durationMs : Number.POSITIVE_INFINITY
  const limit = opts.count ?? Number.POSITIVE_INFINITY
  let issued = 0
  const started = performance.now()
  const worker = async () => {
    while (issued < limit && performance.now() < deadline) {
      issued++
      const t0 = performance.now()
      try {
        await call()
        if (opts.record) samples.push((performance.now() - t0) * 1000)
        requests++
      } catch (err) {
        errors++
        firstError ??= (err as Error).message
      }
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, worker))
  return { samples, requests, errors, firstError, wallMs: performance.now() - started }
}

const { call, close } = spec.kind === 'peer' || spec.kind === 'oauth' ? await tokenEndpointCall() : grpcCall()
try {
  await call()
} catch (err) {
  const e = err as grpc.ServiceError
  if (e.code === grpc.status.UNIMPLEMENTED) {
    close()
    process.send!({ type: 'unimplemented', message: e.details ?? e.message }, () => process.exit(0))
    await new Promise(() => {})
  }
  throw err
}
if (spec.warmupMs > 0) await drive(call, { durationMs: spec.warmupMs, record: false })
await new Promise<void>((resolve) => {
  process.once('message', () => resolve())
  send({ type: 'ready' })
})
const run = await drive(call, { durationMs: spec.durationMs, count: spec.count, record: true })
const result: LoadResult = {
  type: 'done',
  requests: run.requests,
  errors: run.errors,
  firstError: run.firstError,
  wallMs: run.wallMs,
  latency: summarize(run.samples.view()),
}
send(result)
close()
process.disconnect()
