import type { Kysely } from 'kysely';
import type { SecurityEventSink } from '../core/security-events.js';
import type { DB } from '../db/schema.js';
import type { Clock } from '../lib/time.js';
import { BACKUP_SCHEDULE_SINCE } from '../monitoring/backup-rules.js';
import { WorkerLease } from '../monitoring/worker-lease.js';

/** What the schedule asks of the backups service (src/backup/backups.ts): make one, verify it, prune old ones. */
export interface ScheduledBackups {
  create(options: { actor: 'system' }): Promise<{ id: string }>;
  verify(id: string, options: { actor: 'system' }): Promise<{ ok: boolean }>;
  prune(retentionSeconds: number, now: Date): Promise<string[]>;
}

export interface BackupSchedulerDeps {
  db: Kysely<DB>;
  clock: Clock;
  backups: ScheduledBackups;
  /** The security event sink: the run's events are stored before the next due time is read from them. */
  securityEvents: Pick<SecurityEventSink, 'record' | 'flush'>;
  intervalSeconds: number;
  retentionSeconds: number;
}

export interface BackupSchedulerOptions {
  holder: string;
  onError: (error: unknown) => void;
  /** How often a node looks whether a backup is due (tests set it small). */
  tickMs?: number;
  /** How long a run may take before the schedule gives up waiting for it (tests set it small). */
  deadlineMs?: number;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** A node that dies mid-run hands the schedule over after this; the holder renews it every third of it while a run lasts. */
const LEASE_SECONDS = 90;
/** After a failed run the next try comes sooner than a whole interval (at most this long). */
export const RETRY_AFTER_FAILURE_SECONDS = 600;
const RUN_EVENTS = ['backup.created', 'backup.failed'] as const;
/** A run that takes longer than this (or the interval, if longer) is given up on: a hung target must not hold the lease for ever. */
const RUN_DEADLINE_MS = 6 * 3600 * 1000;
/** On shutdown a run in progress is waited for this long; the archive is written whole or not at all, so leaving it is safe. */
const STOP_WAIT_MS = 10_000;

export type ScheduledRun = { ran: false; reason: 'not-holder' | 'not-due' } | { ran: true; id: string | null; verified: boolean; pruned: string[] };

/**
 * The backup schedule, on every node, under the `backup` lease so one node runs it: every
 * CONFIDE_BACKUP_INTERVAL it makes a backup, verifies it (a restore into a scratch place and every
 * check), and prunes what CONFIDE_BACKUP_RETENTION no longer keeps. When a run is due is read from
 * the `backup.created` / `backup.failed` events every node shares, so a node that takes the lease
 * over carries on the same schedule rather than starting its own. Failures are events the
 * service records; the monitor's backup-failed and backup-stale rules turn them into alerts.
 */
export class BackupScheduler {
  private readonly lease: WorkerLease;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly deps: BackupSchedulerDeps,
    private readonly options: BackupSchedulerOptions,
  ) {
    this.lease = new WorkerLease(deps.db, 'backup', options.holder, LEASE_SECONDS);
  }

  start(): void {
    const tickMs = this.options.tickMs ?? Math.min(60_000, (this.deps.intervalSeconds * 1000) / 4);
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.race([this.running, delay(STOP_WAIT_MS)]);
    await this.lease.release(this.deps.clock.now()).catch(this.options.onError);
  }

  private tick(): void {
    if (this.running) return; // a long backup is never overlapped by the next tick
    this.running = this.runOnce()
      .catch(this.options.onError)
      .finally(() => (this.running = undefined));
  }

  /** One look: take the lease, and when a backup is due make, verify and prune (tests call it with the test clock). */
  async runOnce(now: Date = this.deps.clock.now()): Promise<ScheduledRun> {
    if (!(await this.lease.acquire(now))) return { ran: false, reason: 'not-holder' };
    await this.markScheduleStart(now);
    if (!(await this.isDue(now))) return { ran: false, reason: 'not-due' };
    const renewal = setInterval(() => void this.renew(renewal), (LEASE_SECONDS * 1000) / 3);
    const deadlineMs = this.options.deadlineMs ?? Math.max(RUN_DEADLINE_MS, this.deps.intervalSeconds * 1000);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), deadlineMs)));
    try {
      const outcome = await Promise.race([this.run(now), deadline]);
      if (outcome !== 'deadline') return outcome;
      // The run may still finish (its archive is whole or absent); the schedule stops waiting and says so.
      const reason = `the backup run did not finish within ${Math.round(deadlineMs / 1000)} s`;
      this.deps.securityEvents.record({ type: 'backup.failed', outcome: 'failure', actor: { type: 'system', id: 'system' }, details: { reason } });
      this.options.onError(new Error(reason));
      return { ran: true, id: null, verified: false, pruned: [] };
    } finally {
      clearTimeout(timer);
      clearInterval(renewal);
      await this.deps.securityEvents.flush();
    }
  }

  /** Keeps the lease while a run lasts; one lost (the database unreachable past its ttl) is not renewed again. */
  private async renew(renewal: NodeJS.Timeout): Promise<void> {
    try {
      if (!(await this.lease.acquire(this.deps.clock.now()))) {
        clearInterval(renewal);
        this.options.onError(new Error('the backup lease was lost during a run: another node may start the next one'));
      }
    } catch (error) {
      this.options.onError(error);
    }
  }

  private async run(now: Date): Promise<ScheduledRun> {
    let id: string | null = null;
    let verified = false;
    try {
      id = (await this.deps.backups.create({ actor: 'system' })).id;
      verified = (await this.deps.backups.verify(id, { actor: 'system' })).ok;
    } catch (error) {
      this.options.onError(error); // the service recorded backup.failed (or backup.verificationFailed) with the reason
    }
    // Pruning keeps the newest verified backup whatever its age, so a run of failures never empties the target.
    const pruned = await this.deps.backups.prune(this.deps.retentionSeconds, now).catch((error: unknown) => {
      this.options.onError(error);
      return [];
    });
    return { ran: true, id, verified, pruned };
  }

  /** Due when no run ever was, an interval after the last run, or sooner after a failed one. */
  private async isDue(now: Date): Promise<boolean> {
    await this.deps.securityEvents.flush();
    const last = await this.deps.db
      .selectFrom('security_events')
      .select(['at', 'type'])
      .where('type', 'in', [...RUN_EVENTS])
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!last) return true;
    const wait = last.type === 'backup.failed' ? Math.min(this.deps.intervalSeconds, RETRY_AFTER_FAILURE_SECONDS) : this.deps.intervalSeconds;
    return now.getTime() - Date.parse(last.at) >= wait * 1000;
  }

  /** Staleness (the backup-stale rule) counts from the schedule's first run until a first backup is verified. */
  private async markScheduleStart(now: Date): Promise<void> {
    await this.deps.db
      .insertInto('system_meta')
      .values({ key: BACKUP_SCHEDULE_SINCE, value: now.toISOString() })
      .onConflict((conflict) => conflict.column('key').doNothing())
      .execute();
  }
}
