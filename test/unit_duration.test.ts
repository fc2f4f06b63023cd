import { expect } from 'chai'
import { formatDuration, parseDuration } from '../src/config/duration.js'

describe('unit: config durations', () => {
  it('parses the documented forms into seconds', () => {
    expect(parseDuration('30s')).to.equal(30)
    expect(parseDuration('5m')).to.equal(300)
    expect(parseDuration('1h')).to.equal(3600)
    expect(parseDuration('24h')).to.equal(86_400)
    expect(parseDuration('7d')).to.equal(604_800)
    expect(parseDuration('0s')).to.equal(0)
  })

  it('adds up compound forms and tolerates surrounding blanks', () => {
    expect(parseDuration('1h30m')).to.equal(5400)
    expect(parseDuration('1d2h3m4s')).to.equal(93_784)
    expect(parseDuration(' 5m ')).to.equal(300)
  })

  for (const bad of [
    '',
    '5',
    'm',
    '5 m',
    '24 hours',
    '1.5h',
    '-5m',
    '+5m',
    '5M',
    '5ms',
    '1w',
    '5m!',
    'h1',
    '1h 30m',
  ]) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      expect(parseDuration(bad)).to.equal(undefined)
    })
  }

  it('refuses a duration too large to count exactly', () => {
    expect(parseDuration('99999999999999999999d')).to.equal(undefined)
  })

  it('formats seconds back in the largest exact unit', () => {
    expect(formatDuration(0)).to.equal('0s')
    expect(formatDuration(45)).to.equal('45s')
    expect(formatDuration(300)).to.equal('5m')
    expect(formatDuration(5400)).to.equal('90m')
    expect(formatDuration(86_400)).to.equal('1d')
    expect(formatDuration(90)).to.equal('90s')
    for (const s of [1, 59, 60, 3600, 7200, 604_800]) expect(parseDuration(formatDuration(s))).to.equal(s)
  })
})
