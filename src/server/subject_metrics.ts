import { Counter, type Registry } from 'prom-client'
import type { MetricsConfig } from '../config/index.js'
import type { ExchangeEvent } from '../exchange/index.js'

export const OTHER_SUBJECTS = 'other'

/**
 * `keybroker_subject_exchanges_total{subject, decision}` (opt-in: `metrics.per_subject`). The first
 * `max_subjects` subjects seen get their own label and keep it; every later one is counted under
 * subject="other", so the number of series stays bounded whatever callers present.
 */
export function subjectMetrics(
  config: MetricsConfig,
  registry: Registry,
): ((event: ExchangeEvent) => void) | undefined {
  if (!config.per_subject) return undefined
  const counter = new Counter({
    name: 'keybroker_subject_exchanges_total',
    help: `Exchanges per subject and decision; subjects beyond the first ${config.max_subjects} seen are counted as "${OTHER_SUBJECTS}".`,
    labelNames: ['subject', 'decision'],
    registers: [registry],
  })
  const labelled = new Set<string>()
  return (event) => {
    if (!event.subject) return
    if (!labelled.has(event.subject) && labelled.size < config.max_subjects) labelled.add(event.subject)
    const subject = labelled.has(event.subject) ? event.subject : OTHER_SUBJECTS
    counter.inc({ subject, decision: event.decision })
  }
}

/** `observe` plus the per-subject counter when `metrics.per_subject` is on. */
export function withSubjectMetrics(
  observe: (event: ExchangeEvent) => void,
  config: MetricsConfig,
  registry: Registry,
): (event: ExchangeEvent) => void {
  const perSubject = subjectMetrics(config, registry)
  return perSubject
    ? (event) => {
        observe(event)
        perSubject(event)
      }
    : observe
}
