import { Writable } from 'node:stream'
import { expect } from 'chai'
import { Progress } from '../src/cli/exchange_output.js'

/** A stderr stand-in that records what was written, as a terminal or as a pipe. */
function sink(isTTY: boolean) {
  const out = Object.assign(
    new Writable({
      write(chunk, _enc, done) {
        out.text += String(chunk)
        done()
      },
    }),
    { isTTY, text: '' },
  )
  return out
}

describe('CLI progress (verify, export)', () => {
  it('on a terminal: count, total, share and an estimate of the time left, redrawn on one line', () => {
    let now = 0
    const out = sink(true)
    const progress = new Progress('exported', { out, now: () => now, total: 44_000 })
    now = 2_000
    progress.tick(11_000)
    expect(out.text)
      .to.contain('\r')
      .and.contain('keybroker: exported 11,000 / 44,000 exchanges (25%), about 6 s left')
    now = 2_100
    progress.tick(12_000) // within 250 ms of the last draw: not redrawn
    expect(out.text).to.not.contain('12,000')
    now = 8_000
    progress.done(44_000)
    expect(out.text).to.match(/exported 44,000 \/ 44,000 exchanges \(100%\) in 8\.0 s\n$/)
  })

  it('without a total it still counts; minutes for long estimates', () => {
    let now = 0
    const out = sink(true)
    const unknown = new Progress('verified', { out, now: () => now })
    now = 1_000
    unknown.tick(5)
    expect(out.text).to.contain('verified 5 exchanges')
    const long = new Progress('exported', { out, now: () => now, total: 1_000_000 })
    now = 61_000
    long.tick(10_000)
    expect(out.text).to.contain('about 99 min left')
  })

  it('piped (not a terminal): writes nothing at all', () => {
    const out = sink(false)
    const progress = new Progress('exported', { out, total: 10 })
    expect(progress.visible).to.equal(false)
    progress.tick(5)
    progress.done(10)
    expect(out.text).to.equal('')
  })
})
