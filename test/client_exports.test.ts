import { expect } from 'chai'
import { BrokerClient, BrokerError, type BrokerToken } from 'keybroker/client'

describe('keybroker/client inside the repo (tsconfig paths; the packed package is test/client_package.test.ts)', () => {
  it('resolves for a consumer and exposes the SDK types', () => {
    const token: BrokerToken | undefined = undefined
    expect(token).to.equal(undefined)
    expect(BrokerClient).to.be.a('function')
    expect(new BrokerError('ERR_UNREACHABLE', 14, 'm')).to.be.instanceOf(Error)
  })
})
