import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { AccessLog } from '../audit/access-log.js';
import { AccessLogCheckpoints } from '../audit/access-log-checkpoints.js';
import { migrateToLatest, openDatabase, type Database } from '../db/database.js';
import { findExistingDatabase } from '../db/existing-database.js';
import { MissingDatabaseError } from '../db/missing-database-error.js';
import { transactionRunner } from '../db/transaction-runner.js';
import { algorithmForConfig } from '../keys/algorithms.js';
import { KeyRing } from '../keys/key-ring.js';
import { adoptTenantKeys } from '../keys/adopt-tenant-keys.js';
import { openTenantKeyStore } from '../keys/open-tenant-key-store.js';
import { checkTenantKeyStore } from '../keys/tenant-key-store-record.js';
import { masterKeyProvider, type MasterKeyProvider } from '../keys/master-key-provider.js';
import { openWithPageKey } from '../keys/open-with-page-key.js';
import type { MasterKey } from '../keys/master-key.js';
import { SigningKeys } from '../keys/signing-keys.js';
import { ensurePrivateDirectory } from '../lib/private-path.js';
import { systemClock, type Clock } from '../lib/time.js';
import { MailQueue } from '../mail/mail-queue.js';
import { openBlobStore } from '../files/open-blob-store.js';
import { openBackups } from '../backup/open-backups.js';
import { outboxFolderTransport, smtpTransport } from '../mail/mail-transport.js';
import { createMetrics } from '../metrics/metrics.js';
import { storeSecurityEvent } from '../security-events/security-event-store.js';
import { claimDataDirectory, refuseClaimedDataDirectory } from './deployment-marker.js';
import { refuseUnfinishedRestore } from '../backup/restore-marker.js';
import { securityEventSink } from './security-event-sink.js';
import { openAlertDelivery, openSyslogForwarder } from './open-delivery.js';
import type { Services } from './services.js';

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

/** Opens what a deployment needs (keys, storage, access log, mail, the security-event sink), once. */
export async function openServices(
  config: Readonly<Config>,
  { clock = systemClock, logger, createIfMissing = false }: OpenServicesOptions = {},
): Promise<{ services: Services; database: Database }> {
  refuseUnfinishedRestore(config); // a half-restored database is no deployment to start on
  const keys = masterKeyProvider(config.masterKey);
  const { masterKey, creating } = await loadMasterKey(config, keys, createIfMissing);
  let database: Database;
  try {
    // SQLite: the current page key, else the one a stopped master key change left staged.
    const opened =
      config.database.kind === 'sqlite'
        ? await openWithPageKey(config.database.file, masterKey, creating, (pageKey) => openDatabase(config.database, pageKey))
        : await openDatabase(config.database, Buffer.alloc(0));
    // Whoever closes the database is done with the keys too (an HSM session is released).
    database = { ...opened, close: () => opened.close().finally(() => masterKey.close()) };
  } catch (error) {
    masterKey.close();
    throw error;
  }
  try {
    await migrateToLatest(database);
    const tenantKeys = openTenantKeyStore(config, masterKey);
    const opened = database;
    database = { ...opened, close: () => opened.close().finally(() => tenantKeys?.close()) }; // an HSM store's session too
    await checkTenantKeyStore(database.db, tenantKeys);
    const keyRing = new KeyRing(database.db, masterKey, clock, algorithmForConfig(config.dataCipher), tenantKeys);
    await keyRing.open();
    if (tenantKeys) await adoptTenantKeys(database.db, masterKey, tenantKeys, clock);
    const signingKeys = new SigningKeys(database.db, masterKey, clock);
    await signingKeys.open();
    const deploymentId = await claimDataDirectory(config, database.db);
    const metrics = createMetrics(database.db);
    const transactions = transactionRunner(database.db, database.dialect, metrics.groupCommitBatch);
    const accessLog = new AccessLog(transactions, database.dialect, clock, metrics.accessLog);
    const checkpoints = new AccessLogCheckpoints(database.db, signingKeys, clock, config.checkpoints);
    const systemCipher = async () => keyRing.systemCipher();
    const syslog = openSyslogForwarder(config, clock, logger);
    if (syslog) metrics.watch.syslog(syslog);
    const securityEvents = securityEventSink(
      async (event, at) => storeSecurityEvent(database.db, keyRing.systemCipher(), await keyRing.blindIndexKey(), at, event),
      logger,
      { clock, counted: metrics.securityEvent, forward: (event) => syslog?.send(event) },
    );
    metrics.watch.securityEvents(securityEvents.unstored);
    const transport = config.mail.smtpUrl
      ? smtpTransport(config.mail.smtpUrl, config.mail.from)
      : outboxFolderTransport(join(config.dataDir, 'outbox'), config.mail.from, systemCipher, deploymentId);
    const onMailError = (error: unknown) => logger?.error({ err: error }, 'background task failed');
    const mail = new MailQueue(database.db, transport, systemCipher, clock, config.mail.retryBaseSeconds, onMailError);
    const alertNotifier = openAlertDelivery(config, database.db, mail, systemCipher, clock, logger);
    const services = { config, db: database.db, dialect: database.dialect, transactions, masterKey, keyRing, tenantKeys, signingKeys, accessLog, checkpoints, clock, mail, securityEvents, alertNotifier, syslog, metrics, fileBlobs: openBlobStore(config) };
    return { services: { ...services, backups: openBackups(services) }, database };
  } catch (error) {
    await database.close();
    throw error;
  }
}

/**
 * The master key, created only for a new database when `createIfMissing`. Everything here is
 * refused before anything is created, so a refused start leaves nothing behind.
 */
async function loadMasterKey(config: Readonly<Config>, keys: MasterKeyProvider, createIfMissing: boolean): Promise<{ masterKey: MasterKey; creating: boolean }> {
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
  return existingKey ? { masterKey: existingKey, creating: false } : { masterKey: await keys.load({ create: true }), creating: true };
}
