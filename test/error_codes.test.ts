import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { expect } from 'chai'
import { BROKER_ERROR_CODES, CLIENT_ERROR_CODES, BrokerError as ClientBrokerError } from 'keybroker/client'
import { fromServiceError } from '../src/client/errors.js'
import { BrokerError as ServerBrokerError } from '../src/errors.js'
import { GRPC_STATUS } from '../src/server/status.js'
import { REPO_ROOT } from './fixtures/broker.js'

function serviceError(code: grpc.status, trailers: Record<string, string>): grpc.ServiceError {
  const metadata = new grpc.Metadata()
  for (const [k, v] of Object.entries(trailers)) metadata.set(k, v)
  return Object.assign(new Error('refused'), { code, details: 'refused', metadata })
}

/** Relative import specifiers of a TypeScript file (static imports and re-exports). */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/(?:import|export)[^'"]*?from\s+'(\.[^']+)'/g)].map((m) => m[1]!)
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
}

describe('one error-code list shared by the broker and the SDK', () => {
  it('every broker code has exactly one gRPC status, and the SDK codes do not collide with them', () => {
    expect(Object.keys(GRPC_STATUS).sort()).to.deep.equal([...BROKER_ERROR_CODES].sort())
    for (const code of CLIENT_ERROR_CODES) expect(BROKER_ERROR_CODES).not.to.include(code)
    // The types agree too: a server code is assignable to the SDK's code type.
    const server = new ServerBrokerError('ERR_SCOPE_NOT_GRANTED', 'no')
    const client = new ClientBrokerError(server.code, grpc.status.PERMISSION_DENIED, 'no')
    expect(client.code).to.equal('ERR_SCOPE_NOT_GRANTED')
    // @ts-expect-error: a code outside the list does not type-check
    new ClientBrokerError('ERR_MADE_UP', grpc.status.INTERNAL, 'no')
  })

  it('the SDK keeps a known broker code, and reports an unknown one as ERR_UNKNOWN_CODE with the raw code', () => {
    const known = fromServiceError(
      serviceError(grpc.status.PERMISSION_DENIED, {
        'keybroker-error-code': 'ERR_AUDIENCE_NOT_GRANTED',
        'keybroker-exchange-id': '01J0000000000000000000000X',
      }),
    )
    expect(known).to.include({
      code: 'ERR_AUDIENCE_NOT_GRANTED',
      brokerCode: 'ERR_AUDIENCE_NOT_GRANTED',
      exchangeId: '01J0000000000000000000000X',
    })
    const newer = fromServiceError(
      serviceError(grpc.status.FAILED_PRECONDITION, { 'keybroker-error-code': 'ERR_FROM_THE_FUTURE' }),
    )
    expect(newer).to.include({ code: 'ERR_UNKNOWN_CODE', brokerCode: 'ERR_FROM_THE_FUTURE' })
    expect(fromServiceError(serviceError(grpc.status.UNAVAILABLE, {})).code).to.equal('ERR_UNREACHABLE')
    expect(fromServiceError(serviceError(grpc.status.INTERNAL, {})).code).to.equal('ERR_TRANSPORT')
  })

  it('the code module imports nothing, and the SDK imports nothing outside src/client but that module', () => {
    const codes = join(REPO_ROOT, 'src/errors/codes.ts')
    expect(readFileSync(codes, 'utf8')).not.to.match(/^\s*import\s/m)
    const clientDir = join(REPO_ROOT, 'src/client')
    for (const file of tsFiles(clientDir)) {
      for (const spec of relativeImports(file)) {
        const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts')
        const inside = !relative(clientDir, target).startsWith('..')
        expect(inside || target === codes, `${relative(REPO_ROOT, file)} imports ${spec}`).to.equal(true)
      }
    }
  })
})
