import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { expect } from 'chai'
import { protoPath as healthProtoPath } from 'grpc-health-check'
import { BILLING, TestBroker } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'
import { SqliteProcess } from './fixtures/sqlite_process.js'

type HealthClient = grpc.Client & {
  check(
    request: { service: string },
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, res: { status: string }) => void,
  ): void
  watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>
}

/** A plain grpc-js client of grpc.health.v1, built from the standard health.proto. */
function healthClient(t: TestBroker, cert: CertFiles): HealthClient {
  const definition = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true })
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { health: { v1: { Health: new (...args: unknown[]) => HealthClient } } }
  }
  return new pkg.grpc.health.v1.Health(t.address, t.credentials(cert), {
    'grpc.ssl_target_name_override': 'localhost',
  })
}

function check(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.check({ service }, { deadline: Date.now() + 10_000 }, (err, res) =>
      err ? reject(err) : resolve(res.status),
    ),
  )
}

describe('grpc.health.v1 and server reflection', () => {
  let t: TestBroker
  let billing: CertFiles
  let client: HealthClient

  before(async () => {
    t = await TestBroker.start()
    billing = await t.pki.spiffe('billing', BILLING)
    client = healthClient(t, billing)
  })
  after(async () => {
    client?.close()
    await t?.close()
  })

  it('SERVING for the server, keybroker.v1.Broker and keybroker.v1.Admin; NOT_FOUND for anything else', async () => {
    for (const service of ['', 'keybroker.v1.Broker', 'keybroker.v1.Admin']) {
      expect(await check(client, service), service || '(server)').to.equal('SERVING')
    }
    let err: grpc.ServiceError | undefined
    try {
      await check(client, 'keybroker.v1.Nope')
    } catch (e) {
      err = e as grpc.ServiceError
    }
    expect(err?.code).to.equal(grpc.status.NOT_FOUND)
  })

  it('NOT_SERVING while another process holds the audit database locked, SERVING again after', async () => {
    const watch = client.watch({ service: 'keybroker.v1.Broker' })
    const seen: string[] = []
    watch.on('data', (m: { status: string }) => seen.push(m.status))
    watch.on('error', () => {})
    const locker = await SqliteProcess.open(t.broker.config.audit.path)
    try {
      await locker.lock()
      expect(await check(client, '')).to.equal('NOT_SERVING')
      expect(await check(client, 'keybroker.v1.Broker')).to.equal('NOT_SERVING')
    } finally {
      await locker.unlock()
      await locker.close()
    }
    expect(await check(client, 'keybroker.v1.Broker')).to.equal('SERVING')
    // The Watch stream saw the same transitions.
    expect(seen).to.deep.equal(['SERVING', 'NOT_SERVING', 'SERVING'])
    watch.cancel()
  })

  it('reflection is off by default', async () => {
    const status = await reflectionListServices(t, billing).catch((err: grpc.ServiceError) => err.code)
    expect(status).to.equal(grpc.status.UNIMPLEMENTED)
  })

  it('server.reflection: true lists the keybroker and health services', async () => {
    const withReflection = await TestBroker.start({ extraYaml: 'server: { reflection: true }\n' })
    try {
      const cert = await withReflection.pki.spiffe('billing', BILLING)
      const services = await reflectionListServices(withReflection, cert)
      expect(services).to.include.members([
        'keybroker.v1.Broker',
        'keybroker.v1.Admin',
        'grpc.health.v1.Health',
      ])
    } finally {
      await withReflection.close()
    }
  })
})

/** ListServices over grpc.reflection.v1 with a raw bidi stream (what grpcurl does first). */
async function reflectionListServices(t: TestBroker, cert: CertFiles): Promise<string[]> {
  const protoFile = new URL(
    '../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto',
    import.meta.url,
  ).pathname
  const definition = protoLoader.loadSync(protoFile, { keepCase: true, defaults: true, oneofs: true })
  const pkg = grpc.loadPackageDefinition(definition) as any
  const client = new pkg.grpc.reflection.v1.ServerReflection(t.address, t.credentials(cert), {
    'grpc.ssl_target_name_override': 'localhost',
  })
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const call = client.ServerReflectionInfo({ deadline: Date.now() + 10_000 })
      call.on('data', (res: { list_services_response?: { service: { name: string }[] } }) => {
        resolve((res.list_services_response?.service ?? []).map((s) => s.name))
        call.end()
      })
      call.on('error', reject)
      call.write({ list_services: '' })
    })
  } finally {
    client.close()
  }
}
