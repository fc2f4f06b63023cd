import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { expect } from 'chai'
import { LeakScanner, leakForms } from '../src/proxy/leak_scanner.js'

const KEY = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'
const key = Buffer.from(KEY)

/** Run `input` through a redacting stream cut into `chunks`; returns the output and the count. */
async function throughStream(
  scanner: LeakScanner,
  chunks: Buffer[],
): Promise<{ out: string; count: number }> {
  const stream = scanner.stream()
  const parts: Buffer[] = []
  stream.on('data', (c: Buffer) => parts.push(c))
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve).on('error', reject)
    Readable.from(chunks, { objectMode: false }).pipe(stream)
  })
  return { out: Buffer.concat(parts).toString('latin1'), count: stream.redacted }
}

function redacted(scanner: LeakScanner, text: string): { out: string; count: number } {
  const bytes = Buffer.from(text, 'latin1')
  const count = scanner.redact(bytes)
  return { out: bytes.toString('latin1'), count }
}

describe('leak scanner', () => {
  const scanner = new LeakScanner([key, Buffer.from(`Bearer ${KEY}`)])

  it('masks the raw key with a mask of the same length', () => {
    const text = `{"echo":"${KEY}","n":1}`
    const { out, count } = redacted(scanner, text)
    expect(count).to.equal(1)
    expect(out).to.equal(`{"echo":"${'*'.repeat(KEY.length)}","n":1}`)
    expect(out.length).to.equal(text.length)
  })

  it('masks the whole templated value, not only the key inside it', () => {
    const { out, count } = redacted(scanner, `auth=Bearer ${KEY};`)
    expect(count).to.equal(1)
    expect(out).to.equal(`auth=${'*'.repeat(7 + KEY.length)};`)
  })

  for (const [name, form] of [
    ['upper-case', KEY.toUpperCase()],
    ['lower-case', KEY.toLowerCase()],
    ['hex', key.toString('hex')],
    ['upper-case hex', key.toString('hex').toUpperCase()],
    ['URL-encoded (templated)', encodeURIComponent(`Bearer ${KEY}`)],
    ['form-encoded (templated)', encodeURIComponent(`Bearer ${KEY}`).replaceAll('%20', '+')],
    ['base64 of the templated value', Buffer.from(`Bearer ${KEY}`).toString('base64')],
  ] as const) {
    it(`masks the ${name} form`, () => {
      const text = `before ${form} after`
      const { out, count } = redacted(scanner, text)
      expect(count, out).to.be.at.least(1)
      expect(out).not.to.include(form)
      expect(out.length).to.equal(text.length)
    })
  }

  it('masks URL-encoded escapes in either case, and JSON-escaped keys', () => {
    const odd = new LeakScanner([Buffer.from('k3y/with "quotes"+plus')])
    for (const form of [
      encodeURIComponent('k3y/with "quotes"+plus'),
      encodeURIComponent('k3y/with "quotes"+plus').toLowerCase().replace(/^k3y/, 'k3y'),
      JSON.stringify('k3y/with "quotes"+plus').slice(1, -1),
    ]) {
      const { out, count } = redacted(odd, `x${form}y`)
      expect(count, form).to.equal(1)
      expect(out).to.equal(`x${'*'.repeat(form.length)}y`)
    }
  })

  describe('base64 and base64url inside a larger stream, at every alignment', () => {
    for (const alphabet of ['base64', 'base64url'] as const) {
      for (const before of [0, 1, 2, 3, 4, 5]) {
        for (const after of [0, 1, 2]) {
          it(`${alphabet}: ${before} byte(s) before the key, ${after} after`, () => {
            // bytes chosen so the key's neighbours differ each time, as in a real document
            const plain = Buffer.concat([randomBytes(before), key, randomBytes(after)])
            const encoded = plain.toString(alphabet)
            const { out, count } = redacted(scanner, `{"blob":"${encoded}"}`)
            expect(count).to.be.at.least(1)
            expect(out.length).to.equal(encoded.length + 11)
            // decode what the caller gets (mask → zero bits): at most the key's edge bytes survive
            const masked = out.slice(9, -2).replaceAll('*', 'A')
            const decoded = Buffer.from(masked, alphabet)
            expect(decoded.includes(key.subarray(1, -1)), 'the key (minus its edge bytes) survived').to.equal(
              false,
            )
            expect(decoded.includes(key.subarray(2, 10))).to.equal(false)
          })
        }
      }
    }
  })

  it('finds a key split across two chunks, at every split point', async () => {
    const text = `{"data":"${KEY}","more":"${key.toString('base64')}"}`
    const whole = redacted(scanner, text)
    for (let cut = 1; cut < text.length; cut++) {
      const bytes = Buffer.from(text)
      const got = await throughStream(scanner, [bytes.subarray(0, cut), bytes.subarray(cut)])
      expect(got.out, `cut at ${cut}`).to.equal(whole.out)
      expect(got.count, `cut at ${cut}`).to.equal(whole.count)
    }
  })

  it('finds a key streamed one byte at a time, and counts each occurrence once', async () => {
    const text = `a ${KEY} b ${key.toString('hex')} c ${KEY}`
    const bytes = Buffer.from(text)
    const chunks = [...bytes].map((b) => Buffer.from([b]))
    const got = await throughStream(scanner, chunks)
    expect(got.count).to.equal(3)
    expect(got.out).to.equal(
      `a ${'*'.repeat(KEY.length)} b ${'*'.repeat(KEY.length * 2)} c ${'*'.repeat(KEY.length)}`,
    )
  })

  it('holds back only a tail that could start a key, so streams are not delayed', async () => {
    const stream = scanner.stream()
    const seen: string[] = []
    stream.on('data', (c: Buffer) => seen.push(c.toString()))
    stream.write(Buffer.from('event: tick\n\n'))
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen.join('')).to.equal('event: tick\n\n')
    stream.write(Buffer.from('data: sk_li'))
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen.join('')).to.equal('event: tick\n\ndata: ')
    stream.end(Buffer.from('ve but not the key'))
    await new Promise((resolve) => stream.on('end', resolve))
    expect(seen.join('')).to.equal('event: tick\n\ndata: sk_live but not the key')
    expect(stream.redacted).to.equal(0)
  })

  it('leaves text without the key untouched', () => {
    const text = JSON.stringify({ id: 'ch_1', note: 'sk_live_ is a prefix', hex: 'deadbeef' })
    expect(redacted(scanner, text)).to.deep.equal({ out: text, count: 0 })
  })

  it('does not search derived forms too short to be specific', () => {
    const forms = leakForms(Buffer.from('abc')).map((f) => f.toString())
    expect(forms).to.deep.equal(['abc'])
  })
})
