import { type ApiError, getJson } from '../api.js'
import { lineChart, rankBars, type Series, stackedBars, type TimePoint } from '../charts.js'
import { field, h, message, replace } from '../dom.js'
import type { PageContext } from '../page.js'
import type { Stats, StatsBucket } from '../types.js'

/** Window → bucket (the broker aggregates; the page never pages through rows). */
const WINDOWS: Record<string, { seconds: number; bucket: string; bucketSeconds: number; label: string }> = {
  '15m': { seconds: 900, bucket: '1m', bucketSeconds: 60, label: 'last 15 minutes' },
  '1h': { seconds: 3600, bucket: '1m', bucketSeconds: 60, label: 'last hour' },
  '6h': { seconds: 21600, bucket: '5m', bucketSeconds: 300, label: 'last 6 hours' },
  '24h': { seconds: 86400, bucket: '1h', bucketSeconds: 3600, label: 'last 24 hours' },
}
const REFRESH_MS = 15_000

const DECISION_SERIES: Series[] = [
  { key: 'allow', label: 'allow', cls: 's-allow' },
  { key: 'deny', label: 'deny', cls: 's-deny' },
  { key: 'error', label: 'error', cls: 's-error' },
  { key: 'pending', label: 'pending', cls: 's-pending' },
]
const LATENCY_SERIES: Series[] = [
  { key: 'p50', label: 'p50', cls: 's-p50' },
  { key: 'p99', label: 'p99', cls: 's-p99' },
]

function values(b: StatsBucket | undefined): Record<string, number> {
  const counts = {
    allow: Number(b?.allow ?? 0),
    deny: Number(b?.deny ?? 0),
    error: Number(b?.error ?? 0),
    pending: Number(b?.pending ?? 0),
  }
  // latency only where there were exchanges: an empty minute is a gap, not 0 ms
  if (!b || counts.allow + counts.deny + counts.error + counts.pending === 0) return counts
  return { ...counts, p50: Number(b.latency_p50_us), p99: Number(b.latency_p99_us) }
}

/** Every bucket of the window, empty ones as zeros, so the time axis is even. */
function timeline(stats: Stats, sinceS: number, nowS: number, step: number): TimePoint[] {
  const byStart = new Map(stats.buckets.map((b) => [Number(b.start), b]))
  const points: TimePoint[] = []
  for (let t = Math.floor(sinceS / step) * step; t <= nowS; t += step) {
    points.push({ t, values: values(byStart.get(t)) })
    byStart.delete(t)
  }
  // buckets the broker returned off the computed grid (clock skew): keep them, in order
  for (const [t, b] of byStart) points.push({ t, values: values(b) })
  return points.sort((a, b) => a.t - b.t)
}

const ms = (us: number) => (us >= 10_000 ? `${Math.round(us / 1000)} ms` : `${(us / 1000).toFixed(1)} ms`)

/** Overview: charts from Admin.GetExchangeStats over a chosen window. */
export function overviewPage(ctx: PageContext): void {
  const { main, params } = ctx
  const chosen = WINDOWS[params.get('window') ?? ''] ? (params.get('window') as string) : '1h'
  const win = WINDOWS[chosen]!
  const windowSelect = h(
    'select',
    { name: 'window' },
    ...Object.entries(WINDOWS).map(([k, w]) => h('option', { value: k, selected: k === chosen }, w.label)),
  )
  windowSelect.addEventListener('change', () => {
    location.hash = `#/overview?window=${windowSelect.value}`
  })
  const status = h('div', { class: 'status-area', 'aria-live': 'polite' })
  const charts = h('div', { class: 'charts' })
  const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh')
  replace(
    main,
    h('h1', {}, 'Overview'),
    h('div', { class: 'toolbar' }, field('Window', windowSelect), refresh),
    status,
    charts,
  )

  async function load(): Promise<void> {
    const nowS = Math.floor(Date.now() / 1000)
    const sinceS = nowS - win.seconds
    try {
      const stats = await getJson<Stats>('stats', { since: String(sinceS), bucket: win.bucket, limit: 10 })
      const points = timeline(stats, sinceS, nowS, win.bucketSeconds)
      const per = win.bucket === '1m' ? 'per minute' : `per ${win.bucket}`
      replace(status, message('info', `${stats.total} exchanges in the ${win.label}.`))
      replace(
        charts,
        stackedBars(`Exchanges ${per}, by decision`, points, DECISION_SERIES),
        lineChart(`Latency ${per} (p50 and p99)`, points, LATENCY_SERIES, ms),
        rankBars('Denials by reason', stats.denials_by_reason, 's-deny'),
        rankBars('Top subjects', stats.top_subjects, 's-subject'),
        rankBars('Top audiences', stats.top_audiences, 's-audience'),
      )
    } catch (err) {
      replace(status, message('error', (err as ApiError).message))
    }
  }
  refresh.addEventListener('click', () => void load())
  const timer = window.setInterval(() => void load(), REFRESH_MS)
  ctx.onLeave(() => window.clearInterval(timer))
  void load()
}
