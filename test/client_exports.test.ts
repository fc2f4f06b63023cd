import { expect } from 'chai'
import { BrokerClient, BrokerError, type BrokerToken } from 'keybroker/client'

describe('package export keybroker/client', () => {
  it('resolves for a consumer and exposes the SDK types', () => {
    const token: BrokerToken | undefined = undefined
    expect(token).to.equal(undefined)
    expect(BrokerClient).to.be.a('function')
    expect(new BrokerError('ERR_UNREACHABLE', 14, 'm')).to.be.instanceOf(Error)
  })
})
