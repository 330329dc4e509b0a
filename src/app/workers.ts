import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { CheckpointWorker } from '../audit/checkpoint-worker.js';
import { SecurityEventRetention } from '../security-events/security-event-retention.js';
import { Monitor } from '../monitoring/monitor.js';
import { MONITOR_RULES } from '../monitoring/monitor-rules.js';
import type { ServedCertificate } from '../monitoring/node-certificates.js';
import { ReencryptionWorker } from '../key-rotation/reencryption-worker.js';
import { OrphanBlobSweep } from '../files/orphan-blob-sweep.js';
import { BackupScheduler } from '../backup/backup-scheduler.js';
import type { Services } from './services.js';

/** A background loop of the process: started with the app (unless tests drive it by hand), stopped on close. */
export interface Worker {
  start(): void;
  stop(): void | Promise<void>;
}

export interface Workers {
  /** Every worker, in start order; they stop in reverse order. A new worker is one more entry. */
  all: Worker[];
  /** The hourly pruning of old security events (tests run it by hand). */
  securityEventRetention: SecurityEventRetention;
  /** The monitor: rules over security events, raising alerts, under the `monitor` lease (tests run it by hand). */
  monitor: Monitor;
  /** Key rotation's background side: re-encryption jobs under the `key-reencryption` lease, the schedule (tests run it by hand). */
  keyRotation: ReencryptionWorker;
  /** The hourly removal of file blobs no row names, under the `file-orphan-sweep` lease (tests run it by hand). */
  orphanBlobSweep: OrphanBlobSweep;
  /** Scheduled backups under the `backup` lease (CONFIDE_BACKUP_TARGET and CONFIDE_BACKUP_INTERVAL), else null (tests run it by hand). */
  backupScheduler: BackupScheduler | null;
}

/** What the wiring knows that workers need: the TLS certificate the listeners serve. */
export interface WorkerContext {
  certificate: ServedCertificate | null;
}

/** A node id people can read in an alert (which host, which process), unique even for two processes on one host. */
const nodeId = () => `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

export function backgroundWorkers(services: Services, logger: Logger, context: WorkerContext = { certificate: null }): Workers {
  const { db, clock, config, mail } = services;
  const securityEventRetention = new SecurityEventRetention(db, clock, config.securityEvents.retentionDays, (error) =>
    logger.error({ err: error }, 'security event pruning failed'),
  );
  // The syslog forwarder comes first so it stops last: it still forwards what the others record as they stop.
  const forwarding = services.syslog ? [services.syslog] : [];
  const monitor = new Monitor(services, {
    rules: MONITOR_RULES,
    certificate: context.certificate,
    holder: nodeId(),
    onError: (error) => logger.error({ err: error }, 'monitor run failed'),
  });
  // Signs due access-log heads; idempotent per (tenant, seq), so every node may run it.
  const checkpointer = new CheckpointWorker(services.checkpoints, (error) => logger.error({ err: error }, 'access-log checkpoint failed'));
  const keyRotation = new ReencryptionWorker(services, { holder: nodeId(), onError: (error) => logger.error({ err: error }, 'key re-encryption failed') });
  const orphanBlobSweep = new OrphanBlobSweep(services, {
    holder: nodeId(),
    onError: (error) => logger.error({ err: error }, 'orphan file blob sweep failed'),
    onRemoved: (count) => logger.info({ count }, 'orphan file blobs removed'),
  });
  const backupScheduler = scheduledBackups(services, logger);
  // The monitor comes after the notifier so it stops first: its last alerts are still delivered.
  return {
    all: [...forwarding, mail, securityEventRetention, checkpointer, keyRotation, orphanBlobSweep, ...(backupScheduler ? [backupScheduler] : []), services.alertNotifier, monitor],
    securityEventRetention,
    monitor,
    keyRotation,
    orphanBlobSweep,
    backupScheduler,
  };
}

/** The backup schedule when there is a target and an interval; a backup that fails is an event and, through the monitor, an alert. */
function scheduledBackups(services: Services, logger: Logger): BackupScheduler | null {
  const { backups, config } = services;
  if (!backups || config.backup.intervalSeconds === null) return null;
  return new BackupScheduler(
    { ...services, backups, intervalSeconds: config.backup.intervalSeconds, retentionSeconds: config.backup.retentionSeconds },
    { holder: nodeId(), onError: (error) => logger.error({ err: error }, 'scheduled backup failed') },
  );
}

export function startWorkers(workers: Workers): void {
  for (const worker of workers.all) worker.start();
}

export async function stopWorkers(workers: Workers): Promise<void> {
  for (const worker of [...workers.all].reverse()) await worker.stop();
}
