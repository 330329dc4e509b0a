import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Clock } from '../lib/time.js';
import { certificateExpiresAt, certificateFingerprint, loadTlsCredentials } from '../http/certificate.js';
import type { Listener } from '../http/build-listener.js';
import type { SecurityEventRetention } from '../security-events/security-event-retention.js';
import type { Monitor } from '../monitoring/monitor.js';
import type { BackupScheduler } from '../backup/backup-scheduler.js';
import type { ReencryptionWorker } from '../key-rotation/reencryption-worker.js';
import { createLogger } from './logger.js';
import { openServices } from './open-services.js';
import { adminListener } from './admin-listener.js';
import { publicListener } from './public-listener.js';
import type { Services } from './services.js';
import { openUseCases } from './use-cases.js';
import { backgroundWorkers, startWorkers, stopWorkers } from './workers.js';
import { openRateLimitStore, type RateLimitStats, type RateLimitStore } from '../http/rate-limit-store.js';
import { clientSource } from '../lib/client-source.js';
import { recordRateLimiting } from './rate-limited-requests.js';

export interface AppOptions {
  clock?: Clock;
  logDestination?: DestinationStream;
  /** Background workers (mail delivery, pruning); tests turn them off to drive them by hand, `confide serve` to start them once it listens (App.startWorkers). */
  startWorkers?: boolean;
  /** See OpenServicesOptions: only `confide serve` (and tests standing in for it) set this. */
  createIfMissing?: boolean;
}

export interface App {
  config: Readonly<Config>;
  services: Services;
  /** Every listener, by name; `publicServer` is the public one's server. */
  listeners: Listener[];
  publicServer: FastifyInstance;
  /** The admin listener's server (staff and operations, CONFIDE_ADMIN_LISTEN). */
  adminServer: FastifyInstance;
  logger: Logger;
  selfSignedCertificate: boolean;
  /** The hourly pruning of old security events (tests run it by hand). */
  securityEventRetention: SecurityEventRetention;
  /** The monitor (rules and alerts); tests run it by hand with `runOnce(now)`. */
  monitor: Monitor;
  /** Key rotation's re-encryption worker; tests run it by hand with `runOnce()`. */
  keyRotation: ReencryptionWorker;
  /** The backup schedule (null without a target or interval); tests run it by hand with `runOnce(now)`. */
  backupScheduler: BackupScheduler | null;
  /** Rate-limit counts for monitoring: 429s by listener and limit, Redis failures. */
  rateLimitStats: RateLimitStats;
  /** Starts the background workers of an app made with `startWorkers: false` (`confide serve`, once it listens). */
  startWorkers(): void;
  close(): Promise<void>;
}

/**
 * The whole process: services opened once, the use cases over them, the background workers and
 * the listeners. A new listener is one more entry in `listeners`, a new worker one more entry in
 * app/workers.ts.
 */
export async function createApp(config: Readonly<Config>, options: AppOptions = {}): Promise<App> {
  const logger = createLogger(config.logLevel, options.logDestination, config.logFormat);
  const { services, database } = await openServices(config, { clock: options.clock, logger, createIfMissing: options.createIfMissing });
  let rateLimitStore: RateLimitStore | undefined;
  try {
    const useCases = openUseCases(services);
    const tls = await loadTlsCredentials(config);
    // One set of counters for both listeners (in memory, or shared by every node through Redis);
    // a client counts as its IPv4 address or IPv6 /64, as for the sign-in throttle.
    rateLimitStore = await openRateLimitStore(config.rateLimits.redisUrl, logger);
    services.metrics.watch.rateLimits(rateLimitStore.stats);
    const rateLimits = { store: rateLimitStore, sourceOf: clientSource, onRateLimited: recordRateLimiting(services.securityEvents, services.clock) };
    const certificateExpiry = certificateExpiresAt(tls.cert);
    services.metrics.certificateLoaded(certificateExpiry);
    // Both listeners serve this one certificate; the monitor records it as this node's at every tick.
    const certificate = { fingerprint: certificateFingerprint(tls.cert), expiresAt: certificateExpiry, listener: 'public, admin' };
    const workers = backgroundWorkers(services, logger, { certificate });
    if (options.startWorkers ?? true) startWorkers(workers);
    const publicOne = await publicListener(services, useCases, logger, tls, rateLimits);
    const adminOne = await adminListener(services, useCases, logger, tls, rateLimits);
    const listeners = [publicOne, adminOne];
    return {
      config,
      services,
      listeners,
      publicServer: publicOne.server,
      adminServer: adminOne.server,
      logger,
      selfSignedCertificate: tls.selfSigned,
      rateLimitStats: rateLimitStore.stats,
      startWorkers: () => startWorkers(workers),
      securityEventRetention: workers.securityEventRetention,
      monitor: workers.monitor,
      keyRotation: workers.keyRotation,
      backupScheduler: workers.backupScheduler,
      async close() {
        // Both listeners stop taking connections at once and drain their in-flight requests together.
        await Promise.all(listeners.map((listener) => listener.server.close()));
        // Workers stop before the last flush: the monitor's last run records events too.
        await stopWorkers(workers);
        await services.securityEvents.flush();
        services.securityEvents.close();
        await rateLimitStore?.close();
        await database.close();
      },
    };
  } catch (error) {
    await rateLimitStore?.close();
    await database.close();
    throw error;
  }
}
