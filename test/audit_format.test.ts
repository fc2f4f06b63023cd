import { expect } from 'chai'
import { formatExchangeLine, type StoredExchange } from '../src/audit/index.js'

const ROW: StoredExchange = {
  node_id: 'node-a',
  run_id: null,
  tool_call_id: null,
  approval_id: null,
  trace_id: null,
  grant_name: null,
  seq: 7,
  id: '01JGJFH1WRA2HEWBRACZG9DHYH',
  ts: Date.UTC(2025, 0, 2, 3, 4, 5, 678),
  kind: 'issue',
  decision: 'deny',
  subject: 'spiffe://example.org/api',
  auth_method: 'mtls',
  issuer: 'spiffe://example.org',
  peer: null,
  cert_thumbprint: null,
  audience: 'billing',
  scopes: 'read write',
  ttl: 300,
  secret_name: null,
  route: null,
  reason: 'scope not granted',
  token_id: null,
  expires_at: null,
  latency_us: 90,
  detail: null,
  prev_hash: '0'.repeat(64),
  hash: 'f'.repeat(64),
}

describe('formatExchangeLine', () => {
  it('prints one line with time, kind, decision, target, reason and id', () => {
    expect(formatExchangeLine(ROW)).to.equal(
      '2025-01-02T03:04:05.678Z issue deny subject=spiffe://example.org/api aud=billing scopes="read write" ' +
        'reason="scope not granted" id=01JGJFH1WRA2HEWBRACZG9DHYH',
    )
  })

  it('quotes a hostile subject so it cannot start a forged line', () => {
    const line = formatExchangeLine({
      ...ROW,
      subject: 'x\n2025-01-01T00:00:00.000Z issue allow subject=admin',
    })
    expect(line).to.not.include('\n')
    expect(line).to.include('subject="x\\n2025-01-01T00:00:00.000Z issue allow subject=admin"')
  })
})
