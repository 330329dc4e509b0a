import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Services } from '../core/services.js';
import type { SecurityEvent, SecurityEventSink } from '../core/security-events.js';
import { storeSecurityEvent } from '../security-events/security-event-store.js';
import { securityEventRoutes } from '../security-events/routes.js';
import { SecurityEventRetention } from '../security-events/security-event-retention.js';
import { Account } from '../identity/account/account.js';
import { accountRoutes } from '../identity/account/routes.js';
import { migrateToLatest, openDatabase, type Database } from '../db/database.js';
import { findExistingDatabase } from '../db/existing-database.js';
import { MissingDatabaseError } from '../db/missing-database-error.js';
import { transactionRunner } from '../db/transaction-runner.js';
import { deriveKey } from '../lib/key-derivation.js';
import { systemClock, type Clock } from '../lib/time.js';
import { KeyRing } from '../keys/key-ring.js';
import { masterKeyProvider } from '../keys/master-key-provider.js';
import { ensurePrivateDirectory } from '../lib/private-path.js';
import { AccessLog } from '../audit/access-log.js';
import { AccessLogQueries } from '../audit/access-log-queries.js';
import { accessLogRoutes } from '../audit/routes.js';
import { Identity } from '../identity/identity.js';
import { identityRoutes } from '../identity/routes.js';
import { Mfa } from '../identity/mfa/mfa.js';
import { ApiKeys } from '../api-keys/api-keys.js';
import { apiKeyRoutes } from '../api-keys/routes.js';
import { Members } from '../members/members.js';
import { Invitations } from '../members/invitations.js';
import { memberRoutes } from '../members/routes.js';
import { TenantSettingsUseCases } from '../tenants/tenant-settings-use-cases.js';
import { tenantRoutes } from '../tenants/routes.js';
import { API_KEY_PREFIX, resolveApiKey } from '../api-keys/api-key-store.js';
import { actorOf, type Principal } from '../core/principal.js';
import { mfaRoutes } from '../identity/mfa/routes.js';
import { Records } from '../records/records.js';
import { recordRoutes } from '../records/routes.js';
import { loadTlsCredentials } from '../http/certificate.js';
import { buildPublicServer } from '../http/public-server.js';
import { createLogger } from './logger.js';
import { MailQueue } from '../mail/mail-queue.js';
import { outboxFolderTransport, smtpTransport } from '../mail/mail-transport.js';
import { join } from 'node:path';
import { claimDataDirectory, refuseClaimedDataDirectory } from './deployment-marker.js';
import { consolePageRoutes } from '../console-pages/routes.js';

export interface AppOptions {
  clock?: Clock;
  logDestination?: DestinationStream;
  /** Background workers (mail delivery); tests turn them off to drive them by hand. */
  startWorkers?: boolean;
  /** See OpenServicesOptions: only `confide serve` (and tests standing in for it) set this. */
  createIfMissing?: boolean;
}

export interface OpenServicesOptions {
  clock?: Clock;
  logger?: Logger;
  /**
   * May create a database and, with it, a master key when there is no database yet. Only
   * `confide serve` passes this: any other command on an empty folder refuses (MissingDatabaseError),
   * rather than report on a database it has just made up.
   */
  createIfMissing?: boolean;
}

export interface App {
  config: Readonly<Config>;
  services: Services;
  publicServer: FastifyInstance;
  logger: Logger;
  selfSignedCertificate: boolean;
  /** The hourly pruning of old security events (tests run it by hand). */
  securityEventRetention: SecurityEventRetention;
  close(): Promise<void>;
}

/** Opens the services a deployment needs (keys, storage, access log) and wires the public listener. */
export async function openServices(
  config: Readonly<Config>,
  { clock = systemClock, logger, createIfMissing = false }: OpenServicesOptions = {},
): Promise<{ services: Services; database: Database }> {
  const onBackgroundError = (error: unknown) => logger?.error({ err: error }, 'background task failed');
  let store: ((event: SecurityEvent) => Promise<void>) | undefined;
  const storing = new Set<Promise<void>>();
  // Logged at once (shippable), and stored centrally; a failed store is itself logged.
  const securityEvents: SecurityEventSink = {
    record(event) {
      logger?.info({ securityEvent: event }, `security event ${event.type}`);
      if (!store) return;
      const pending = store(event)
        .catch((error: unknown) => logger?.error({ err: error, securityEvent: event.type }, 'security event not stored'))
        .finally(() => storing.delete(pending));
      storing.add(pending);
    },
    async flush() {
      await Promise.all([...storing]);
    },
  };
  const keys = masterKeyProvider(config.masterKey);
  const existing = await findExistingDatabase(config.database);
  if (!existing.exists && !createIfMissing) {
    const where = config.database.kind === 'sqlite' ? `CONFIDE_DATA_DIR=${config.dataDir}` : 'CONFIDE_DATABASE_URL';
    throw new MissingDatabaseError(
      `no Confide database at ${existing.description} (${where}, ${keys.description}); ` +
        'run `confide serve` to create one, or point CONFIDE_DATA_DIR/CONFIDE_DATABASE_URL at an existing one',
    );
  }
  if (!existing.exists) refuseClaimedDataDirectory(config); // a new database never takes over another deployment's folder
  // Next to existing data a missing key is refused before anything is created, the data directory included.
  const existingKey = existing.exists ? await keys.load({ create: false, existingDatabase: existing.description }) : undefined;
  // Before anything is opened or written: the data directory also holds the certificate key and
  // the mail outbox on PostgreSQL, so it is checked whatever the database.
  ensurePrivateDirectory(config.dataDir, 'data directory');
  const masterKey = existingKey ?? (await keys.load({ create: true }));
  const database = await openDatabase(config.database, deriveKey(masterKey, 'sqlcipher-page-key'));
  try {
    await migrateToLatest(database);
    const keyRing = new KeyRing(database.db, masterKey, clock);
    await keyRing.open();
    const deploymentId = await claimDataDirectory(config, database.db);
    const transactions = transactionRunner(database.db, database.dialect);
    const accessLog = new AccessLog(transactions, database.dialect, clock);
    const systemCipher = async () => keyRing.systemCipher();
    store = (event) => storeSecurityEvent(database.db, keyRing.systemCipher(), clock, event);
    const transport = config.mail.smtpUrl
      ? smtpTransport(config.mail.smtpUrl, config.mail.from)
      : outboxFolderTransport(join(config.dataDir, 'outbox'), config.mail.from, systemCipher, deploymentId);
    const mail = new MailQueue(database.db, transport, systemCipher, clock, config.mail.retryBaseSeconds, onBackgroundError);
    return {
      services: { config, db: database.db, dialect: database.dialect, transactions, keyRing, accessLog, clock, mail, securityEvents },
      database,
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

export async function createApp(config: Readonly<Config>, options: AppOptions = {}): Promise<App> {
  const logger = createLogger(config.logLevel, options.logDestination, config.logFormat);
  const { services, database } = await openServices(config, { clock: options.clock, logger, createIfMissing: options.createIfMissing });
  try {
    const identity = new Identity(services);
    const mfa = new Mfa(services, identity);
    const apiKeys = new ApiKeys(services);
    const members = new Members(services);
    const invitations = new Invitations(services, identity);
    const tenantSettings = new TenantSettingsUseCases(services);
    const account = new Account(services, identity);
    const records = new Records(services);
    const accessLogQueries = new AccessLogQueries(services);
    // Bearer tokens are session tokens (cfs_…) or API keys (cfk_…).
    const authenticate = (token: string): Promise<Principal | undefined> =>
      token.startsWith(API_KEY_PREFIX) ? resolveApiKey(services.db, services.clock, token) : identity.authenticate(token);
    const tls = await loadTlsCredentials(config);
    const securityEventRetention = new SecurityEventRetention(services.db, services.clock, config.securityEvents.retentionDays, (error) =>
      logger.error({ err: error }, 'security event pruning failed'),
    );
    if (options.startWorkers ?? true) {
      services.mail.start();
      securityEventRetention.start();
    }
    const publicServer = await buildPublicServer({
      config,
      logger,
      tls,
      onRefused: (request, code) =>
        services.securityEvents.record({
          type: 'authorization.denied',
          outcome: 'refused',
          ip: request.ip,
          ...(request.principal ? { tenantId: request.principal.tenantId } : {}),
          ...(request.principal?.kind === 'member' ? { userId: request.principal.userId } : {}),
          ...(request.principal ? { actor: actorOf(request.principal) } : {}),
          details: { code, method: request.method, route: request.routeOptions.url ?? '' },
        }),
      routes: (router) => {
        identityRoutes(router, identity, authenticate, { signUpsPerIpPerHour: config.limits.signUpsPerIpPerHour });
        apiKeyRoutes(router, apiKeys, authenticate);
        memberRoutes(router, members, invitations, authenticate);
        tenantRoutes(router, tenantSettings, authenticate);
        accountRoutes(router, account, authenticate);
        securityEventRoutes(router, services, authenticate);
        mfaRoutes(router, mfa, authenticate);
        recordRoutes(router, records, authenticate);
        accessLogRoutes(router, accessLogQueries, authenticate);
        consolePageRoutes(router);
      },
    });
    return {
      config,
      services,
      publicServer,
      logger,
      selfSignedCertificate: tls.selfSigned,
      securityEventRetention,
      async close() {
        securityEventRetention.stop();
        await publicServer.close();
        await services.securityEvents.flush();
        await services.mail.stop();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}
