import { createSecureContext } from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { type Logger, pino } from 'pino'
import { AuditQuery, AuditRetention, SqliteAuditStore, verifyChain } from '../audit/index.js'
import { type Clock, systemClock } from '../clock.js'
import type { BrokerConfig } from '../config/index.js'
import { Exchange, type ExchangeEvent, type ProxySecretSource } from '../exchange/index.js'
import { CertificateIdentityCache } from '../identity/mtls.js'
import { WorkloadTokenVerifier } from '../identity/oidc.js'
import { loadOrCreateKek } from '../issuer/kek.js'
import { SqliteKeyStore } from '../issuer/key_store.js'
import { SqliteRevocationStore } from '../issuer/revocations.js'
import { SigningKeys } from '../issuer/signing_keys.js'
import { Policy } from '../policy/policy.js'
import { loadBrokerProto } from '../proto/load.js'
import { PROXY_PREFIX, proxyHandler, UpstreamPool } from '../proxy/index.js'
import { openDatabase, type SqliteDatabase } from '../storage/database.js'
import { adminService } from './admin_service.js'
import { brokerHandlers } from './broker_service.js'
import { ConfigReloader, type ReloadResult } from './config_reload.js'
import { pageTokenKey, readTlsMaterial, splitHostPort, trustedIssuers } from './config_wiring.js'
import { addGrpcHealthAndReflection } from './grpc_health.js'
import { type GrpcListener, listenGrpcTls, type TlsMaterial } from './grpc_listener.js'
import { type HttpListener, listenHttp, sendJson } from './http_listener.js'
import { BrokerMetrics } from './metrics.js'
import { secretResolverFromConfig } from './providers_from_config.js'

export interface StartOptions {
  clock?: Clock
  logger?: Logger
  /** How long shutdown waits for in-flight calls before cutting them off. */
  shutdownGraceMs?: number
  /** Where the injection proxy gets route keys; defaults to the SecretResolver built from `secrets:`/`providers:`. */
  proxySecrets?: ProxySecretSource
  /** Reload when the config file changes on disk (polled, so ConfigMap symlink swaps are seen too). */
  watchConfig?: boolean | { intervalMs?: number }
}

export type { ReloadResult } from './config_reload.js'

export interface RunningBroker {
  grpcPort: number
  httpPort: number
  config: BrokerConfig
  db: SqliteDatabase
  audit: SqliteAuditStore
  keys: SigningKeys
  revocations: SqliteRevocationStore
  /**
   * Re-read and validate the config file; when valid, swap in its policy (grants, admins) for the next
   * call. A config with any problem is refused and the running one keeps serving.
   */
  reload(trigger?: string): Promise<ReloadResult>
  /** Re-read the TLS files now (the broker also polls them); invalid material is refused, old keeps serving. */
  reloadTls(): { ok: boolean; changed: boolean; problem?: string }
  metrics: BrokerMetrics
  /** Prune rows older than audit.retention_days now (the timer does this periodically). */
  runRetention(): Promise<number>
  /** Stop accepting, let in-flight calls finish (bounded), close SQLite. */
  close(): Promise<void>
}

/** Largest request message accepted; far above any legitimate request, far below memory trouble. */
const MAX_REQUEST_BYTES = 1024 * 1024
const KEY_RELOAD_MS = 10_000
const KEY_MAINTENANCE_MS = 60_000
const TLS_POLL_MS = 30_000
const RETENTION_INTERVAL_MS = 10 * 60_000

/** Composition root: the only place concrete classes are built and wired. */
export async function startBroker(config: BrokerConfig, options: StartOptions = {}): Promise<RunningBroker> {
  const clock = options.clock ?? systemClock
  const logger = options.logger ?? pino({ level: process.env.KEYBROKER_LOG_LEVEL ?? 'info' })
  const tlsMaterial = readTlsMaterial(config)
  const kek = loadOrCreateKek(config.keys.kek_file)
  const db = openDatabase(config.audit.path, { busyTimeoutMs: config.audit.write_timeout * 1000 })
  try {
    const audit = new SqliteAuditStore(db, { clock, writeTimeoutMs: config.audit.write_timeout * 1000 })
    // The swappable part of the config: replaced whole by reload, read per call.
    const live = { config, policy: new Policy(config) }
    const maxTokenLifetimeMs = () =>
      Math.max(3600, ...live.config.grants.flatMap((g) => g.tokens.map((t) => t.max_ttl))) * 1000
    const keys = new SigningKeys(new SqliteKeyStore(db, kek), {
      algorithm: config.keys.algorithm,
      rotationPeriodMs: config.keys.rotation_period * 1000,
      publishAheadMs: config.keys.publish_ahead * 1000,
      maxTokenLifetimeMs,
      clock,
    })
    await keys.init()
    const revocations = new SqliteRevocationStore(db, clock)
    const query = new AuditQuery(db, pageTokenKey(kek))
    const retention = new AuditRetention(audit, { clock, retentionDays: config.audit.retention_days })
    const metrics = new BrokerMetrics({
      signingKeyAgeMs: () => (keys.isReady ? clock.now() - keys.signingKey().activatesAt : undefined),
      revokedLive: () => revocations.liveCount(),
    })

    // One structured line per exchange; exchange_id is the request id that ties a log line to
    // its audit row and to the id the caller got. Only non-secret fields are copied in. Allowed
    // exchanges log at debug: the audit row is their record, and a line per issued token costs a
    // write(2) on the hot path; refusals stay at info and failures at warn.
    const observe = (event: ExchangeEvent) => {
      metrics.observe(event)
      const level = event.decision === 'error' ? 'warn' : event.decision === 'deny' ? 'info' : 'debug'
      if (!logger.isLevelEnabled(level)) return
      const line = {
        exchange_id: event.exchangeId,
        kind: event.kind,
        decision: event.decision,
        subject: event.subject,
        latency_us: event.latencyUs,
        code: event.code,
      }
      logger[level](line, event.decision === 'error' ? 'exchange failed' : 'exchange')
    }
    const secrets = secretResolverFromConfig(config, {
      clock,
      logger,
      onCacheResult: (_provider, result) => metrics.secretCache.inc({ result }),
      onUpstream: (provider, result) => metrics.upstreamRequests.inc({ provider, result }),
    })
    const workloadTokens =
      config.trust.oidc.length > 0 ? new WorkloadTokenVerifier(trustedIssuers(config), { clock }) : undefined
    const exchange = new Exchange({
      issuer: () => config.issuer,
      policy: () => live.policy,
      keys,
      audit: { append: (record) => metrics.timeAuditWrite(audit.append(record)) },
      certificates: new CertificateIdentityCache(),
      workloadTokens: () => workloadTokens,
      revocations,
      secrets,
      clock,
      observe,
      routes: () => config.routes,
      proxySecrets: options.proxySecrets ?? secrets,
    })
    const upstreams = new UpstreamPool()
    // Build every route's pool now: an unreadable routes.*.ca_file fails startup, not a request.
    for (const [name, route] of Object.entries(config.routes)) upstreams.dispatcher(name, route)
    const onUnexpected = (err: unknown) => logger.error({ err }, 'unexpected error in handler')

    const proto = loadBrokerProto()
    const server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
      'grpc.max_concurrent_streams': 1000,
    })
    let grpcListener: GrpcListener | undefined
    server.addService(
      proto.keybroker.v1.Broker.service,
      brokerHandlers({ exchange, listener: () => grpcListener, onUnexpected }),
    )
    const admin = adminService({
      admin: exchange.admin({ admins: () => live.config.admins, query, verifyLog: () => verifyChain(db) }),
      query,
      log: audit,
      clock,
      listener: () => grpcListener,
      watchMaxLag: config.audit.watch_max_lag,
      onUnexpected,
      onWatcherDropped: (info) => {
        metrics.watchersDropped.inc()
        logger.warn(info, 'dropped a watcher that stopped reading')
      },
    })
    server.addService(proto.keybroker.v1.Admin.service, admin.handlers)

    const grpcAddress = splitHostPort(config.listen.grpc)
    let grpcPort: number
    if (tlsMaterial) {
      grpcListener = await listenGrpcTls(
        server,
        grpcAddress.host,
        grpcAddress.port,
        tlsMaterial,
        (failure) => {
          // A handshake that never became a call: still an exchange attempt worth an audit row.
          audit
            .append({
              kind: 'auth_failure',
              decision: 'deny',
              peer: failure.peer,
              reason: `TLS handshake failed: ${failure.reason}`,
            })
            .catch((err) => logger.error({ err }, 'could not audit a TLS handshake failure'))
        },
      )
      grpcPort = grpcListener.port
    } else {
      logger.warn(
        'tls is not configured: gRPC listens in plaintext (local development only; bearer tokens refused)',
      )
      grpcPort = await new Promise<number>((resolve, reject) =>
        server.bindAsync(config.listen.grpc, grpc.ServerCredentials.createInsecure(), (err, port) =>
          err ? reject(err) : resolve(port),
        ),
      )
    }

    // Readiness writes for real: a lock check alone reports ready on a file the disk refuses to write.
    db.exec(
      'CREATE TABLE IF NOT EXISTS readiness_probe (id INTEGER PRIMARY KEY CHECK (id = 1), ts INTEGER NOT NULL)',
    )
    const probe = db.prepare('INSERT OR REPLACE INTO readiness_probe (id, ts) VALUES (1, ?)')
    const ready = () => {
      if (!keys.isReady) return 'signing keys not loaded'
      try {
        probe.run(clock.now())
        return undefined
      } catch (err) {
        return `audit database not writable: ${(err as { code?: string }).code ?? 'error'}`
      }
    }
    // grpc.health.v1: SERVING exactly while ready(); reflection only with server.reflection: true
    addGrpcHealthAndReflection(server, { healthStatus: () => !ready(), reflection: config.server.reflection })
    const httpAddress = splitHostPort(config.listen.http)
    const httpListener: HttpListener = await listenHttp(
      httpAddress.host,
      httpAddress.port,
      tlsMaterial,
      {
        exact: {
          '/.well-known/jwks.json': (_req, res) => {
            const body = keys.jwksText()
            res.writeHead(200, {
              'content-type': 'application/jwk-set+json',
              'content-length': Buffer.byteLength(body),
              // Short cache: a key published ahead must reach verifiers before it signs.
              'cache-control': `public, max-age=${Math.min(300, Math.max(0, config.keys.publish_ahead / 2))}`,
            })
            res.end(body)
          },
          '/.well-known/openid-configuration': (_req, res) =>
            sendJson(res, 200, {
              issuer: config.issuer,
              jwks_uri: `${config.issuer.replace(/\/$/, '')}/.well-known/jwks.json`,
              id_token_signing_alg_values_supported: [config.keys.algorithm],
              token_endpoint_auth_methods_supported: ['tls_client_auth'],
              tls_client_certificate_bound_access_tokens: true,
            }),
          '/metrics': async (_req, res) => {
            const { contentType, body } = await metrics.exposition()
            res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) })
            res.end(body)
          },
          '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
          '/readyz': (_req, res) => {
            const problem = ready()
            sendJson(
              res,
              problem ? 503 : 200,
              problem ? { status: 'unavailable', reason: problem } : { status: 'ready' },
            )
          },
        },
        prefix: [[PROXY_PREFIX, proxyHandler({ exchange: exchange.proxy, upstreams, logger })]],
      },
      onUnexpected,
    )

    const runRetention = async (): Promise<number> => {
      try {
        const pruned = await retention.run()
        if (pruned > 0)
          logger.info({ pruned, retention_days: config.audit.retention_days }, 'audit retention')
        return pruned
      } catch (err) {
        logger.error({ err }, 'audit retention failed')
        throw err
      }
    }
    const timers = [
      setInterval(() => {
        keys.reload().catch((err) => logger.error({ err }, 'signing key reload failed'))
        // the CLI may revoke against the file directly; pick its rows up
        try {
          revocations.refresh()
        } catch (err) {
          logger.error({ err }, 'revocation list refresh failed')
        }
      }, KEY_RELOAD_MS),
      setInterval(
        () => keys.maintain().catch((err) => logger.error({ err }, 'signing key rotation failed')),
        KEY_MAINTENANCE_MS,
      ),
      // failures are logged inside; the next tick retries
      setInterval(() => runRetention().catch(() => {}), RETENTION_INTERVAL_MS),
    ]
    // Certificate rotation without restart (cert-manager, SPIRE, Vault PKI rewrite the same paths):
    // poll the TLS files; new material is validated as a whole before either listener switches.
    let currentTls = tlsMaterial
    const reloadTls = (trigger: string): { ok: boolean; changed: boolean; problem?: string } => {
      if (!currentTls) return { ok: true, changed: false }
      let next: TlsMaterial | undefined
      try {
        next = readTlsMaterial(live.config)
        if (!next) return { ok: true, changed: false }
        createSecureContext({ cert: next.cert, key: next.key, ca: next.clientCa })
      } catch (err) {
        const problem = (err as Error).message
        logger.error({ trigger, problem }, 'tls reload refused: the current certificate keeps serving')
        return { ok: false, changed: false, problem }
      }
      if (
        next.cert.equals(currentTls.cert) &&
        next.key.equals(currentTls.key) &&
        next.clientCa.equals(currentTls.clientCa)
      )
        return { ok: true, changed: false }
      grpcListener?.updateTls(next)
      httpListener.updateTls(next)
      currentTls = next
      logger.info({ trigger }, 'tls material reloaded')
      return { ok: true, changed: true }
    }
    if (tlsMaterial) timers.push(setInterval(() => reloadTls('tls file change'), TLS_POLL_MS))
    for (const t of timers) t.unref()

    const reloader = new ConfigReloader(config.sourceFile, {
      logger,
      current: () => live.config,
      apply: (next, trigger) => {
        live.policy = new Policy(next)
        live.config = next
        running.config = next
        admin.closeWatchesOfFormerAdmins()
        reloadTls(trigger)
      },
    })
    const reload = (trigger = 'api') => reloader.reload(trigger)
    if (options.watchConfig) {
      reloader.watch(typeof options.watchConfig === 'object' ? options.watchConfig.intervalMs : undefined)
    }

    logger.info(
      { grpc_port: grpcPort, http_port: httpListener.port, tls: Boolean(tlsMaterial) },
      'keybroker serving',
    )

    let closing: Promise<void> | undefined
    const close = () => {
      closing ??= (async () => {
        for (const t of timers) clearInterval(t)
        reloader.stop()
        grpcListener?.stopAccepting()
        admin.closeWatches()
        const grace = options.shutdownGraceMs ?? 10_000
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            server.forceShutdown()
            resolve()
          }, grace)
          force.unref()
          server.tryShutdown(() => {
            clearTimeout(force)
            resolve()
          })
        })
        grpcListener?.destroy()
        await httpListener.close()
        await upstreams.close()
        await audit.close()
        await workloadTokens?.close()
        await secrets.close()
        db.close()
        logger.info('keybroker stopped')
      })()
      return closing
    }
    const running: RunningBroker = {
      grpcPort,
      httpPort: httpListener.port,
      config,
      db,
      audit,
      keys,
      revocations,
      reload,
      reloadTls: () => reloadTls('api'),
      metrics,
      runRetention,
      close,
    }
    return running
  } catch (err) {
    db.close()
    throw err
  }
}
