import { existsSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { type Logger, pino } from 'pino'
import type { RunningAlerts } from '../alerts/index.js'
import { signingKeyRows } from '../audit/checkpoint/index.js'
import { type AuditQuery, AuditRetention, type ChainAppender, verifyChain } from '../audit/index.js'
import { AuditQuery as AuditQueryImpl } from '../audit/query.js'
import { type Clock, systemClock } from '../clock.js'
import { type BrokerConfig, statePermissionWarnings } from '../config/index.js'
import { Exchange, type ProxySecretSource } from '../exchange/index.js'
import type { BrokerHandlers } from '../generated/keybroker/v1/Broker.js'
import { Guardrails } from '../guardrails/guardrails.js'
import { CertificateIdentityCache } from '../identity/mtls.js'
import { WorkloadTokenVerifier } from '../identity/oidc.js'
import { loadOrCreateKek } from '../issuer/kek.js'
import { assertKekMatches } from '../issuer/kek_check.js'
import { SealedKeyStore } from '../issuer/key_store.js'
import { listRevocations } from '../issuer/revocation_listing.js'
import { RevocationList } from '../issuer/revocations.js'
import { SigningKeys } from '../issuer/signing_keys.js'
import { Policy } from '../policy/policy.js'
import { loadBrokerProto } from '../proto/load.js'
import { UpstreamPool } from '../proxy/index.js'
import type { Storage } from '../storage/ports.js'
import { telemetryFromConfig } from '../telemetry/index.js'
import { adminService } from './admin_service.js'
import { alertsFromConfig } from './alerts_wiring.js'
import { approvalHandlers } from './approval_service.js'
import { type AuditLogView, auditLogView } from './audit_view.js'
import { brokerHandlers } from './broker_service.js'
import { checkpointRoute } from './checkpoint_route.js'
import { wireCluster } from './cluster_wiring.js'
import { ConfigReloader, type ReloadResult } from './config_reload.js'
import { pageTokenKey, readTlsMaterial, splitHostPort, trustedIssuers } from './config_wiring.js'
import { connectionLimitsFromConfig, grpcServerLimits, refusalReporter } from './connection_limits.js'
import { exchangeObserver } from './exchange_observer.js'
import { bindGrpc } from './grpc_bind.js'
import { serveGrpcHealth } from './grpc_health.js'
import type { GrpcListener } from './grpc_listener.js'
import { serveReflection } from './grpc_reflection.js'
import { type HttpListener, listenHttp } from './http_listener.js'
import { brokerHttpRoutes } from './http_routes.js'
import { startMaintenance } from './maintenance.js'
import { BrokerMetrics } from './metrics.js'
import { secretResolverFromConfig } from './providers_from_config.js'
import { Readiness } from './readiness.js'
import { reportHandlers } from './report_service.js'
import { revocationFeedService, storeFeedSource } from './revocation_feed.js'
import { chooseNodeId, openBrokerStorage } from './storage_wiring.js'
import { withSubjectMetrics } from './subject_metrics.js'
import { TlsReloader } from './tls_reload.js'

export interface StartOptions {
  clock?: Clock
  logger?: Logger
  /** How long shutdown waits for in-flight calls before cutting them off. */
  shutdownGraceMs?: number
  /** Where the injection proxy gets route keys; defaults to the SecretResolver built from `secrets:`/`providers:`. */
  proxySecrets?: ProxySecretSource
  /** Reload when the config file changes on disk (polled, so ConfigMap symlink swaps are seen too). */
  watchConfig?: boolean | { intervalMs?: number }
  /** `serve --new-log`: start a new audit log on purpose where the checkpoints or the KEK say one existed. */
  newLog?: boolean
  /** Free bytes where the database lives, for readiness (tests inject a reading; default statfs). */
  freeSpace?: () => Promise<number | undefined>
}

export type { ReloadResult } from './config_reload.js'

export interface RunningBroker {
  grpcPort: number
  httpPort: number
  config: BrokerConfig
  storage: Storage
  /** This process's audit chain. */
  nodeId: string
  audit: ChainAppender
  query: AuditQuery
  /** Reads over the whole log (every chain), newest last: for operators' tools and tests. */
  log: AuditLogView
  keys: SigningKeys
  revocations: RevocationList
  /** Subject blocks, rate limits, refusal folding (agent guardrails). */
  guardrails: Guardrails
  readiness: Readiness
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
const APPROVAL_EXPIRY_MS = 1000
/** Pending approvals one requester may hold; further requests are refused (ERR_TOO_MANY_APPROVALS). */
const MAX_PENDING_APPROVALS = 100

/** Composition root: the only place concrete classes are built and wired. */
export async function startBroker(config: BrokerConfig, options: StartOptions = {}): Promise<RunningBroker> {
  const clock = options.clock ?? systemClock
  // every log line names its replica (node_id = its audit chain)
  const nodeId = chooseNodeId(config)
  const logger = (options.logger ?? pino({ level: process.env.KEYBROKER_LOG_LEVEL ?? 'info' })).child({
    node_id: nodeId,
  })
  const tlsMaterial = readTlsMaterial(config)
  const kekExisted = existsSync(config.keys.kek_file)
  const kek = loadOrCreateKek(config.keys.kek_file)
  for (const warning of config.warnings ?? []) logger.warn({ config: config.sourceFile }, warning)
  if (config.storage.driver === 'sqlite')
    for (const warning of statePermissionWarnings(config))
      logger.warn({ warning }, 'state files are not private')
  const opened = await openBrokerStorage(config, {
    clock,
    logger,
    nodeId,
    durability: { kek, kekExisted, newLog: options.newLog },
  })
  const { storage, appender: audit } = opened
  const closeOnFailure: Array<() => unknown> = []
  try {
    // The swappable part of the config: replaced whole by reload, read per call.
    const live = { config, policy: new Policy(config) }
    const maxTokenLifetimeMs = () =>
      Math.max(3600, ...live.config.grants.flatMap((g) => g.tokens.map((t) => t.max_ttl))) * 1000
    const keys = new SigningKeys(new SealedKeyStore(signingKeyRows(storage.keys), kek), {
      algorithm: config.keys.algorithm,
      rotationPeriodMs: config.keys.rotation_period * 1000,
      publishAheadMs: config.keys.publish_ahead * 1000,
      maxTokenLifetimeMs,
      clock,
    })
    await assertKekMatches(signingKeyRows(storage.keys), kek, {
      kekFile: config.keys.kek_file,
      location: storage.location,
    })
    await keys.init()
    const revocations = new RevocationList(storage.revocations, clock)
    await revocations.refresh()
    const guardrails = new Guardrails({
      now: () => clock.now(),
      storage,
      append: (record) => audit.append(record),
      onSuppressed: (n) => metrics.authFailuresSuppressed.inc(n),
      onSummaryWriteFailed: (err) => logger.error({ err }, 'could not write a refusal summary row'),
    })
    await guardrails.blocks.refresh()
    const query = new AuditQueryImpl(storage.reader, pageTokenKey(kek))
    const retention = new AuditRetention(storage.reader, storage.pruner, {
      clock,
      retentionDays: config.audit.retention_days,
    })
    const readiness = new Readiness({
      clock,
      storage,
      appendHealth: audit.health,
      keysReady: () => keys.isReady,
      minFreeBytes: config.storage.min_free_mb * 2 ** 20,
      damage: () => opened.integrity.problem(),
      ...(options.freeSpace ? { freeBytes: options.freeSpace } : {}),
    })
    closeOnFailure.push(() => readiness.stop())
    const metrics = new BrokerMetrics({
      signingKeyAgeMs: () => (keys.isReady ? clock.now() - keys.signingKey().activatesAt : undefined),
      revokedLive: () => revocations.liveCount(),
    })

    const observe = withSubjectMetrics(exchangeObserver(metrics, logger), config.metrics, metrics.registry)
    const cluster = await wireCluster({
      config,
      storage,
      nodeId,
      revocations,
      keys,
      localAppends: audit,
      metrics,
      clock,
      logger,
    })
    closeOnFailure.push(() => cluster.close())
    let alerts: RunningAlerts | undefined
    const secrets = secretResolverFromConfig(config, {
      clock,
      logger,
      onCacheResult: (_provider, result) => metrics.secretCache.inc({ result }),
      onUpstream: (provider, result) => metrics.upstreamRequests.inc({ provider, result }),
      onCircuitState: (provider, state) => metrics.setCircuitState(provider, state),
    })
    const workloadTokens =
      config.trust.oidc.length > 0 ? new WorkloadTokenVerifier(trustedIssuers(config), { clock }) : undefined
    const telemetry = telemetryFromConfig(config.telemetry, { logger, nodeId })
    closeOnFailure.push(() => telemetry.close())
    const exchange = new Exchange({
      tracer: telemetry.tracer,
      issuer: () => config.issuer,
      policy: () => live.policy,
      keys,
      audit: { append: (record, effects) => metrics.timeAuditWrite(audit.append(record, effects)) },
      guardrails,
      certificates: new CertificateIdentityCache(),
      workloadTokens: () => workloadTokens,
      revocations,
      secrets,
      clock,
      observe,
      routes: () => config.routes,
      proxySecrets: options.proxySecrets ?? secrets,
      approvals: {
        store: storage.approvals,
        secretApproval: (name) => live.config.secrets[name]?.approval,
        maxPendingPerSubject: MAX_PENDING_APPROVALS,
        onCapped: () => alerts?.wake(),
      },
    })
    closeOnFailure.push(
      () => secrets.close(),
      () => workloadTokens?.close(),
    )
    const upstreams = new UpstreamPool()
    closeOnFailure.push(() => upstreams.close())
    // Build every route's pool now: an unreadable routes.*.ca_file fails startup, not a request.
    for (const [name, route] of Object.entries(config.routes)) upstreams.dispatcher(name, route)
    const onUnexpected = (err: unknown) => logger.error({ err }, 'unexpected error in handler')

    const proto = loadBrokerProto()
    const limits = connectionLimitsFromConfig(config.limits)
    const guard = (listener: string) => ({
      limits,
      onRefused: refusalReporter(listener, config.limits.max_connections_per_peer, metrics, logger),
    })
    const server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
      'grpc.max_concurrent_streams': 1000,
      ...grpcServerLimits(limits),
    })
    let grpcListener: GrpcListener | undefined
    const feed = revocationFeedService({
      exchange,
      source: storeFeedSource(revocations),
      listener: () => grpcListener,
      onUnexpected,
    })
    server.addService(proto.keybroker.v1.Broker.service, {
      ...brokerHandlers({ exchange, listener: () => grpcListener, onUnexpected }),
      WatchRevocations: feed.handler,
      WaitForApproval: (call: Parameters<BrokerHandlers['WaitForApproval']>[0]) =>
        approvals.broker.WaitForApproval(call),
    })
    const adminExchange = exchange.admin({
      admins: () => live.config.admins,
      query,
      verifyLog: () => verifyChain(storage.reader),
      policyHash: cluster.policyHash,

      listRevocations: (limit) => listRevocations(storage.revocations, Math.floor(clock.now() / 1000), limit),
      maxTokenLifetimeMs,
    })
    const approvalFlow = exchange.approvals(adminExchange)
    const approvals = approvalHandlers({
      flow: () => approvalFlow,
      listener: () => grpcListener,
      onUnexpected,
    })
    const admin = adminService({
      admin: adminExchange,
      query,
      log: cluster.appends,
      clock,
      listener: () => grpcListener,
      watchMaxLag: config.audit.watch_max_lag,
      onUnexpected,
      onWatcherDropped: (info) => {
        metrics.watchersDropped.inc()
        logger.warn(info, 'dropped a watcher that stopped reading')
      },
    })
    server.addService(proto.keybroker.v1.Admin.service, {
      ...admin.handlers,
      ...approvals.admin,
      ...reportHandlers({
        admin: adminExchange,
        storage,
        config: () => live.config,
        clock,
        listener: () => grpcListener,
        onUnexpected,
      }),
    })
    alerts = alertsFromConfig(config, { storage, audit, clock, logger, nodeId, metrics })
    closeOnFailure.push(() => alerts?.stop())

    const health = serveGrpcHealth(server, { problem: () => readiness.problem() })
    closeOnFailure.push(() => health.stop())
    if (config.server.reflection) serveReflection(server)

    closeOnFailure.push(() => {
      grpcListener?.destroy()
      server.forceShutdown()
    })
    const bound = await bindGrpc(server, config.listen.grpc, tlsMaterial, {
      audit,
      logger,
      guard: guard('grpc'),
      // past 20 a minute from one address, handshake failures are counted into a summary row
      fold: (record) => guardrails.fold(record, 'ERR_CERTIFICATE_INVALID') !== undefined,
    })
    grpcListener = bound.listener
    const grpcPort = bound.port

    const httpAddress = splitHostPort(config.listen.http)
    const httpListener: HttpListener = await listenHttp(
      httpAddress.host,
      httpAddress.port,
      tlsMaterial,
      brokerHttpRoutes({
        config,
        clock,
        keys,
        exchange,
        metrics,
        readiness,
        upstreams,
        logger,
        onUnexpected,
        checkpoint: checkpointRoute(opened.checkpoints),
      }),
      onUnexpected,
      guard('http'),
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
    const tls = new TlsReloader(tlsMaterial, () => live.config, logger)
    tls.attach(grpcListener)
    tls.attach(httpListener)
    const reloadTls = (trigger: string) => tls.reload(trigger)
    const maintenance = startMaintenance({
      keys,
      revocations,
      runRetention,
      reloadTls: tls.enabled ? () => reloadTls('tls file change') : undefined,
      expireApprovals: { run: () => approvalFlow.expire(), everyMs: APPROVAL_EXPIRY_MS },
      pruneUsage: () => guardrails.pruneUsage(),
      everySecond: () => {
        guardrails.blocks.refresh().catch((err) => logger.error({ err }, 'subject block refresh failed'))
        guardrails.tick()
      },
      logger,
    })

    const reloader = new ConfigReloader(config.sourceFile, {
      logger,
      current: () => live.config,
      apply: (next, trigger) => {
        live.policy = new Policy(next)
        live.config = next
        running.config = next
        cluster.configChanged(next)
        admin.closeWatchesOfFormerAdmins()
        feed.closeUnauthorized()
        reloadTls(trigger)
      },
    })
    const reload = (trigger = 'api') => reloader.reload(trigger)
    if (options.watchConfig) {
      reloader.watch(typeof options.watchConfig === 'object' ? options.watchConfig.intervalMs : undefined)
    }

    logger.info(
      {
        grpc_port: grpcPort,
        http_port: httpListener.port,
        tls: Boolean(tlsMaterial),
        policy_hash: cluster.policyHash(),
        storage: `${storage.driver}:${storage.location}`,
      },
      'keybroker serving',
    )

    let closing: Promise<void> | undefined
    const close = () => {
      closing ??= (async () => {
        maintenance.stop()
        reloader.stop()
        health.stop()
        grpcListener?.stopAccepting()
        admin.closeWatches()
        feed.closeAll()
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
        await guardrails.flush()
        await upstreams.close()
        readiness.stop()
        await alerts?.stop()
        await workloadTokens?.close()
        await secrets.close()
        await telemetry.close()
        await cluster.close()
        await opened.close()
        logger.info('keybroker stopped')
      })()
      return closing
    }
    const running: RunningBroker = {
      grpcPort,
      httpPort: httpListener.port,
      config,
      storage,
      nodeId,
      audit,
      query,
      log: auditLogView(storage),
      keys,
      revocations,
      guardrails,
      readiness,
      reload,
      reloadTls: () => reloadTls('api'),
      metrics,
      runRetention,
      close,
    }
    return running
  } catch (err) {
    // a failure half-way through start closes whatever already listens or runs
    for (const undo of closeOnFailure.reverse()) await Promise.resolve(undo()).catch(() => {})
    await opened.close().catch(() => {})
    throw err
  }
}
