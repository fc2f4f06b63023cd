import { createRequire } from 'node:module'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { expect } from 'chai'
import { protoPath as HEALTH_PROTO } from 'grpc-health-check'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { BILLING, type Call, expectGrpcError, TestBroker, unary } from './fixtures/broker.js'
import { TEST_DRIVER } from './fixtures/postgres.js'
import { SqliteProcess } from './fixtures/sqlite_process.js'

const require = createRequire(import.meta.url)
const REFLECTION_PROTO = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto')

type Status = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN'
type HealthClient = grpc.Client & {
  Check(
    req: { service: string },
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: { status: Status }) => void,
  ): void
}

/** A plain grpc-js client for grpc.health.v1.Health, built from the package's own .proto. */
function healthClient(t: TestBroker): HealthClient {
  const pkg = grpc.loadPackageDefinition(
    protoLoader.loadSync(HEALTH_PROTO, { keepCase: true, enums: String, defaults: true }),
  ) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }
  return new pkg.grpc.health.v1.Health(t.address, t.credentials(), {
    'grpc.ssl_target_name_override': 'localhost',
  }) as unknown as HealthClient
}

function check(client: HealthClient, service: string): Promise<Status> {
  return new Promise((resolve, reject) =>
    client.Check({ service }, { deadline: Date.now() + 5000 }, (err, res) =>
      err ? reject(err) : resolve(res.status),
    ),
  )
}

/** Poll until `service` reports `want` (the status refreshes on a short timer): wide slack. */
async function waitForStatus(client: HealthClient, service: string, want: Status, withinMs = 10_000) {
  const deadline = Date.now() + withinMs
  let last: Status | undefined
  while (Date.now() < deadline) {
    last = await check(client, service)
    if (last === want) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`health for "${service}" stayed ${last}, expected ${want} within ${withinMs} ms`)
}

/** List services over grpc.reflection.v1 ServerReflectionInfo (what grpcurl `list` does). */
function listServices(t: TestBroker): Promise<string[]> {
  const pkg = grpc.loadPackageDefinition(
    protoLoader.loadSync(REFLECTION_PROTO, { keepCase: true }),
  ) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } }
  }
  const client = new pkg.grpc.reflection.v1.ServerReflection(t.address, t.credentials(), {
    'grpc.ssl_target_name_override': 'localhost',
  }) as unknown as grpc.Client & {
    ServerReflectionInfo(options: grpc.CallOptions): grpc.ClientDuplexStream<unknown, unknown>
  }
  return new Promise((resolve, reject) => {
    const stream = client.ServerReflectionInfo({ deadline: Date.now() + 5000 })
    stream.on('data', (res: { list_services_response?: { service: Array<{ name: string }> } }) => {
      resolve((res.list_services_response?.service ?? []).map((s) => s.name))
      stream.end()
    })
    stream.on('error', (err) => {
      client.close()
      reject(err)
    })
    stream.on('end', () => client.close())
    stream.write({ list_services: '' })
  })
}

describe('gRPC health (grpc.health.v1) follows readiness', () => {
  let t: TestBroker
  let health: HealthClient
  let issue: Call<IssueTokenRequest, IssueTokenResponse__Output>
  const request: IssueTokenRequest = { audience: 'payments-api', scopes: ['payments:read'] }

  before(async () => {
    t = await TestBroker.start()
    health = healthClient(t)
    issue = unary(t.brokerClient(await t.pki.spiffe('billing', BILLING)), 'IssueToken')
    await issue(request)
  })
  after(async () => {
    health.close()
    await t.close()
  })

  it('serves "", keybroker.v1.Broker and keybroker.v1.Admin; an unknown name is NOT_FOUND', async () => {
    for (const service of ['', 'keybroker.v1.Broker', 'keybroker.v1.Admin'])
      expect(await check(health, service), service || '(server)').to.equal('SERVING')
    const err = await expectGrpcError(check(health, 'keybroker.v1.Nope'))
    expect(err.code).to.equal(grpc.status.NOT_FOUND)
  })

  it('NOT_SERVING while another process holds the audit database locked, SERVING again after unlock', async function () {
    if (TEST_DRIVER !== 'sqlite') this.skip() // the lock comes from a second SQLite connection
    this.timeout(60_000)
    const locker = await SqliteProcess.open(t.broker.config.audit.path)
    try {
      await locker.lock()
      // one exchange makes the writer meet the lock (the background probe would find it too)
      const refused = await expectGrpcError(issue(request))
      expect(refused.code).to.equal(grpc.status.UNAVAILABLE)
      for (const service of ['', 'keybroker.v1.Broker', 'keybroker.v1.Admin'])
        await waitForStatus(health, service, 'NOT_SERVING')
    } finally {
      await locker.unlock()
      await locker.close()
    }
    for (const service of ['', 'keybroker.v1.Broker', 'keybroker.v1.Admin'])
      await waitForStatus(health, service, 'SERVING', 15_000)
    expect((await issue(request)).token).to.be.a('string')
  })

  it('reflection is off by default: UNIMPLEMENTED', async () => {
    const err = await expectGrpcError(listServices(t))
    expect(err.code).to.equal(grpc.status.UNIMPLEMENTED)
  })
})

describe('gRPC server reflection (server.reflection: true)', () => {
  let t: TestBroker
  before(async () => {
    t = await TestBroker.start({ extraYaml: 'server: { reflection: true }' })
  })
  after(() => t.close())

  it('lists keybroker.v1.Broker, keybroker.v1.Admin and the health service', async () => {
    const services = await listServices(t)
    expect(services).to.include.members([
      'keybroker.v1.Broker',
      'keybroker.v1.Admin',
      'grpc.health.v1.Health',
    ])
  })
})
