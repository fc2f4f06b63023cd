import { readFileSync } from 'node:fs'
import { rootCertificates } from 'node:tls'
import { Agent, type Dispatcher } from 'undici'
import type { RouteConfig } from '../config/index.js'
import { BrokerError } from '../errors.js'

/**
 * One undici connection pool per route, so a route's CA and deadlines apply to its connections
 * only. Rebuilt when the route's upstream settings change (config reload).
 */
export class UpstreamPool {
  readonly #agents = new Map<string, { fingerprint: string; agent: Agent }>()

  dispatcher(name: string, route: RouteConfig): Dispatcher {
    const fingerprint = JSON.stringify([route.upstream, route.ca_file ?? '', route.timeout])
    const existing = this.#agents.get(name)
    if (existing?.fingerprint === fingerprint) return existing.agent
    if (existing) void existing.agent.close()
    const timeoutMs = route.timeout * 1000
    const agent = new Agent({
      connect: {
        timeout: timeoutMs,
        // `ca` replaces the system roots: keep them and add the route's own CA
        ...(route.ca_file ? { ca: [...rootCertificates, readCa(name, route.ca_file)] } : {}),
      },
      // deadline for the response headers; the body may take longer as long as it keeps moving
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    })
    this.#agents.set(name, { fingerprint, agent })
    return agent
  }

  async close(): Promise<void> {
    const agents = [...this.#agents.values()].map((a) => a.agent)
    this.#agents.clear()
    await Promise.all(agents.map((a) => a.destroy()))
  }
}

function readCa(route: string, file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new BrokerError(
      'ERR_CONFIG',
      `routes.${route}.ca_file: cannot read ${file}: ${(err as Error).message}`,
    )
  }
}
