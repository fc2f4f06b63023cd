import { expect } from 'chai'
import { BrokerClient } from 'keybroker/client'
import { BILLING, baseConfigYaml, TestBroker } from './fixtures/broker.js'
import { freePort } from './fixtures/net.js'
import type { TestPki } from './fixtures/pki.js'

describe('BrokerClient: broker restarted mid-use', () => {
  let t: TestBroker | undefined
  let sdk: BrokerClient | undefined

  after(async () => {
    sdk?.close()
    await t?.close()
  })

  it('recovers on its own: a call made while the broker is down succeeds once it is back', async () => {
    // A fixed port, so the restarted broker is where the client expects it.
    const port = await freePort()
    const configYaml = (dir: string, pki: TestPki) =>
      baseConfigYaml(dir, pki).replace('grpc: "127.0.0.1:0"', `grpc: "127.0.0.1:${port}"`)
    t = await TestBroker.start({ configYaml })
    const billing = await t.pki.spiffe('billing', BILLING)
    sdk = new BrokerClient({
      address: `127.0.0.1:${port}`,
      tls: { caFile: t.pki.caFile, certFile: billing.cert, keyFile: billing.key, serverName: 'localhost' },
      deadlineMs: 15_000,
    })
    const before = await sdk.token({ audience: 'payments-api', scopes: ['payments:read'] })

    await t.stop()
    // Issued after the broker stopped: the SDK retries UNAVAILABLE with backoff inside its deadline.
    const pending = sdk.token({ audience: 'payments-api', scopes: ['payments:write'] })
    t = await TestBroker.start({ configYaml, reuse: { dir: t.dir, pki: t.pki } })

    const after = await pending
    expect(after.scopes).to.deep.equal(['payments:write'])
    // Same database and keys: the restarted broker recorded the exchange.
    expect(await t.broker.log.findByTokenId(after.tokenId)).to.have.length(1)
    // The cached token from before the restart is still served; new calls keep working.
    expect((await sdk.token({ audience: 'payments-api', scopes: ['payments:read'] })).tokenId).to.equal(
      before.tokenId,
    )
    expect((await sdk.whoami()).subject).to.equal(BILLING)
  })
})
