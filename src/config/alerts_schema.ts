import { z } from 'zod'
import { parseDuration } from './duration.js'

/*
 * `alerts:` and `metrics:` of keybroker.yaml. Every option has its default and a one-line doc here;
 * durations come out as whole seconds. A rule is on when its key is present (`new_peer: {}`).
 */

const duration = (fallback: string) =>
  z
    .string()
    .transform((text, ctx) => {
      const seconds = parseDuration(text)
      if (seconds === undefined || seconds === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `"${text}" is not a duration (use e.g. 30s, 5m, 1h, 24h, 7d)`,
        })
        return z.NEVER
      }
      return seconds
    })
    .prefault(fallback)

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/

/** Where alerts are POSTed. Plain http only to a loopback receiver (a local relay): events name subjects. */
export const alertSinkSchema = z
  .strictObject({
    /** Names the sink in `keybroker alerts list` and in the outbox. */
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-" only, at most 64'),
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
    /** The HMAC-SHA256 key for X-Keybroker-Signature (the file's text, trimmed). */
    secret_file: z.string().min(1, 'must not be empty'),
    /** cloudevents: a CloudEvents 1.0 structured JSON event; json: the bare alert object. */
    format: z.enum(['cloudevents', 'json']).default('cloudevents'),
    /** One POST may take this long; then it counts as failed and is retried. */
    timeout: duration('5s'),
    /** Retry delay after the first failure; doubles each time (with jitter) up to max_backoff. */
    initial_backoff: duration('1s'),
    max_backoff: duration('5m'),
    /** An alert still undelivered this long after it was raised is marked failed and kept. */
    give_up_after: duration('24h'),
  })
  .superRefine((sink, ctx) => {
    const url = URL.canParse(sink.url) ? new URL(sink.url) : undefined
    if (url?.protocol === 'http:' && !LOOPBACK_HOST.test(url.hostname))
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: `${sink.url}: use https (plain http is accepted only for a loopback receiver)`,
      })
  })

/** `new_peer:` with no value (YAML null) turns the rule on, like `new_peer: {}`. */
const rule = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === null ? {} : value), schema).optional()

const count = (fallback: number) => z.number().int().min(1).max(1_000_000).default(fallback)

export const alertRulesSchema = z.strictObject({
  /** `count` refusals for one subject within `window`. */
  denial_burst: rule(z.strictObject({ count: count(20), window: duration('1m') })),
  /** A subject seen from an address it never used before (the first address of a subject is not news). */
  new_peer: rule(z.strictObject({})),
  /** A subject's tokens in `window` reach `factor` × its trailing hourly rate (scaled to the window), and at least `min_count`. */
  issuance_spike: rule(
    z.strictObject({
      factor: z.number().min(1.1).max(1000).default(5),
      window: duration('5m'),
      min_count: count(10),
    }),
  ),
  /** `count` failed authentications from one peer address within `window`. */
  auth_failures: rule(z.strictObject({ count: count(50), window: duration('1m') })),
  /** A request was parked for a person's approval. */
  approval_requested: rule(z.strictObject({})),
  /** The audit log fails verification (checked every `every`). */
  audit_chain_broken: rule(z.strictObject({ every: duration('5m') })),
})

export const alertsSchema = z
  .strictObject({
    sinks: z.array(alertSinkSchema).default([]),
    rules: alertRulesSchema.prefault({}),
    /** How often the leader reads new audit rows and evaluates the rules. */
    evaluate_every: duration('2s'),
  })
  .superRefine((alerts, ctx) => {
    const seen = new Set<string>()
    alerts.sinks.forEach((sink, i) => {
      if (seen.has(sink.name))
        ctx.addIssue({
          code: 'custom',
          path: ['sinks', i, 'name'],
          message: `sink name "${sink.name}" is used twice`,
        })
      seen.add(sink.name)
    })
  })

export const metricsSchema = z.strictObject({
  /** Export keybroker_subject_exchanges_total{subject, decision} (opt-in: one series per subject). */
  per_subject: z.boolean().default(false),
  /** The first this-many subjects get their own label; the rest are counted under subject="other". */
  max_subjects: z.number().int().min(1).max(1000).default(100),
})

export type AlertsConfig = z.output<typeof alertsSchema>
export type AlertSinkConfig = z.output<typeof alertSinkSchema>
export type AlertRulesConfig = z.output<typeof alertRulesSchema>
export type MetricsConfig = z.output<typeof metricsSchema>
