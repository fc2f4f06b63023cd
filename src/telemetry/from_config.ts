import type { Logger } from 'pino'
import { OtlpHttpExporter } from './otlp_exporter.js'
import { type ExchangeTracer, Tracer } from './tracer.js'

export interface Telemetry {
  /** Undefined when `telemetry.otlp_endpoint` is not set: the exchange steps then skip tracing. */
  tracer?: ExchangeTracer
  /** Send what is queued and stop exporting. */
  close(): Promise<void>
}

/** Build tracing from `telemetry:`; off (no tracer, nothing started) without an endpoint. */
export function telemetryFromConfig(
  telemetry: { otlp_endpoint?: string; service_name: string },
  context: { logger: Logger; nodeId: string },
): Telemetry {
  if (!telemetry.otlp_endpoint) return { close: async () => {} }
  const exporter = new OtlpHttpExporter({
    endpoint: telemetry.otlp_endpoint,
    resource: { 'service.name': telemetry.service_name, 'service.instance.id': context.nodeId },
    onProblem: ({ message, dropped, err }) => context.logger.warn({ err, dropped }, message),
  })
  context.logger.info({ otlp_endpoint: telemetry.otlp_endpoint }, 'tracing: exporting spans over OTLP/HTTP')
  return { tracer: new Tracer((span) => exporter.export(span)), close: () => exporter.close() }
}
