import { h, s } from './dom.js'
import type { CountEntry } from './types.js'

/**
 * Charts as inline SVG built with DOM calls (no library, nothing fetched). Every plotted value is
 * an element with `data-point` and a <title> (hover text), so the charts are testable and readable.
 */

const W = 640
const H = 220
const M = { left: 52, right: 12, top: 12, bottom: 28 }

export interface Series {
  key: string
  label: string
  /** CSS class that colours it (see style.css). */
  cls: string
}

export interface TimePoint {
  /** unix seconds */
  t: number
  values: Record<string, number>
}

function niceMax(max: number): number {
  if (max <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(max))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p
  return 10 * p
}

function hhmm(t: number): string {
  const d = new Date(t * 1000)
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
}

function figure(title: string, summary: string, svg: SVGElement, legend?: Series[]): HTMLElement {
  svg.setAttribute('role', 'img')
  svg.setAttribute('aria-label', `${title}. ${summary}`)
  return h(
    'figure',
    { class: 'chart' },
    h('figcaption', {}, title),
    svg,
    legend
      ? h(
          'ul',
          { class: 'legend', 'aria-hidden': 'true' },
          ...legend.map((l) => h('li', {}, h('span', { class: `swatch ${l.cls}` }), l.label)),
        )
      : null,
  )
}

function frame(yMax: number, format: (v: number) => string, points: TimePoint[]): SVGElement {
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'plot' })
  const plotH = H - M.top - M.bottom
  for (const frac of [0, 0.5, 1]) {
    const y = M.top + plotH * (1 - frac)
    svg.append(
      s('line', { x1: M.left, x2: W - M.right, y1: y, y2: y, class: 'grid' }),
      s('text', { x: M.left - 6, y: y + 4, class: 'tick', 'text-anchor': 'end' }, format(yMax * frac)),
    )
  }
  if (points.length > 0) {
    const idx = [...new Set([0, Math.floor((points.length - 1) / 2), points.length - 1])]
    for (const i of idx) {
      svg.append(
        s(
          'text',
          { x: xCenter(i, points.length), y: H - 8, class: 'tick', 'text-anchor': 'middle' },
          hhmm(points[i]!.t),
        ),
      )
    }
  }
  return svg
}

function xCenter(i: number, n: number): number {
  const plotW = W - M.left - M.right
  return M.left + (plotW / n) * (i + 0.5)
}

/** Bars per time bucket, stacked by series (exchanges per minute by decision). */
export function stackedBars(title: string, points: TimePoint[], series: Series[]): HTMLElement {
  const totals = points.map((p) => series.reduce((sum, x) => sum + (p.values[x.key] ?? 0), 0))
  const yMax = niceMax(Math.max(0, ...totals))
  const svg = frame(yMax, (v) => String(Math.round(v)), points)
  const plotW = W - M.left - M.right
  const plotH = H - M.top - M.bottom
  const bw = Math.max(1, (plotW / Math.max(points.length, 1)) * 0.8)
  points.forEach((p, i) => {
    let base = 0
    for (const x of series) {
      const v = p.values[x.key] ?? 0
      if (v <= 0) continue
      const y0 = M.top + plotH * (1 - (base + v) / yMax)
      const hgt = (plotH * v) / yMax
      svg.append(
        s(
          'rect',
          {
            x: xCenter(i, points.length) - bw / 2,
            y: y0,
            width: bw,
            height: hgt,
            class: x.cls,
            'data-point': v,
          },
          s('title', {}, `${hhmm(p.t)} ${x.label}: ${v}`),
        ),
      )
      base += v
    }
  })
  const total = totals.reduce((a, b) => a + b, 0)
  return figure(title, `${total} exchanges in ${points.length} buckets`, svg, series)
}

/** Lines over time (latency p50 and p99), a dot per bucket. */
export function lineChart(
  title: string,
  points: TimePoint[],
  series: Series[],
  format: (v: number) => string,
): HTMLElement {
  const yMax = niceMax(Math.max(0, ...points.flatMap((p) => series.map((x) => p.values[x.key] ?? 0))))
  const svg = frame(yMax, format, points)
  const plotH = H - M.top - M.bottom
  const y = (v: number) => M.top + plotH * (1 - v / yMax)
  for (const x of series) {
    // a bucket without the value (no exchanges then) is a gap in the line, not a zero
    const pts = points.map((p, i) =>
      p.values[x.key] === undefined ? undefined : ([xCenter(i, points.length), y(p.values[x.key]!)] as const),
    )
    let d = ''
    pts.forEach((pt, i) => {
      if (pt) d += `${i > 0 && pts[i - 1] ? 'L' : 'M'}${pt[0]},${pt[1]} `
    })
    if (d) svg.append(s('path', { d: d.trim(), class: `line ${x.cls}` }))
    pts.forEach((pt, i) => {
      if (!pt) return
      const [px, py] = pt
      const v = points[i]!.values[x.key]!
      svg.append(
        s(
          'circle',
          { cx: px, cy: py, r: 3, class: `dot ${x.cls}`, 'data-point': v },
          s('title', {}, `${hhmm(points[i]!.t)} ${x.label}: ${format(v)}`),
        ),
      )
    })
  }
  return figure(title, `${points.length} buckets`, svg, series)
}

const LABEL_CHARS = 34

/** Horizontal bars for ranked counts (denials by reason, top subjects and audiences). */
export function rankBars(title: string, entries: CountEntry[], cls: string): HTMLElement {
  const row = 24
  const labelW = 250
  const height = Math.max(1, entries.length) * row + 8
  const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, class: 'plot rank' })
  const max = Math.max(1, ...entries.map((e) => e.count))
  const barMax = W - labelW - 60
  entries.forEach((e, i) => {
    const y = 4 + i * row
    const label = e.key || '(none)'
    // keep both ends: SPIFFE ids differ at the end, reasons at the start
    const short =
      label.length > LABEL_CHARS
        ? `${label.slice(0, 12)}…${label.slice(label.length - (LABEL_CHARS - 13))}`
        : label
    const w = Math.max(2, (barMax * e.count) / max)
    svg.append(
      s(
        'text',
        { x: labelW - 8, y: y + 16, class: 'label', 'text-anchor': 'end' },
        short,
        s('title', {}, label),
      ),
      s(
        'rect',
        { x: labelW, y: y + 3, width: w, height: row - 8, class: cls, 'data-point': e.count },
        s('title', {}, `${label}: ${e.count}`),
      ),
      s('text', { x: labelW + w + 6, y: y + 16, class: 'tick' }, String(e.count)),
    )
  })
  if (entries.length === 0)
    svg.append(s('text', { x: W / 2, y: 18, class: 'tick', 'text-anchor': 'middle' }, 'none in this window'))
  return figure(title, entries.map((e) => `${e.key}: ${e.count}`).join(', ') || 'none', svg)
}
