import { randomUUID } from 'node:crypto';
import { AccessLogSelfCheck } from './access-log-self-check.js';
import { raiseAlert, staleAlertIds, transitionAlert } from './alert-store.js';
import { AlertStorm } from './alert-storm.js';
import type { MonitorRule } from './monitor-rule.js';
import type { MonitoringDeps } from './monitoring-deps.js';
import { WorkerLease } from './worker-lease.js';
import { forgetNodeCertificate, recordNodeCertificate, type ServedCertificate } from './node-certificates.js';

/** How often the monitor evaluates its rules. */
const INTERVAL_SECONDS = 60;
/** A node that stops renewing (it died) loses the lease after this: three missed runs. */
const LEASE_SECONDS = 3 * INTERVAL_SECONDS;
/** An alert resolves itself once its condition has not been seen for this long. */
export const ALERT_CLEAR_SECONDS = 30 * 60;

export interface MonitorOptions {
  rules: readonly MonitorRule[];
  /**
   * The TLS certificate this node's listeners serve (null: not known). Every node records its own at
   * each tick, holder or not, so the lease holder's `certificate-expiring` checks every node's.
   */
  certificate: ServedCertificate | null;
  /** This node's id, for the lease and its certificate's row; random per process by default. */
  holder?: string;
  onError: (error: unknown) => void;
}

export interface MonitorRun {
  /** False when another node holds the lease: this node evaluated nothing. */
  held: boolean;
  opened: number;
  refreshed: number;
  resolved: number;
}

/**
 * The background worker that evaluates the monitoring rules over the security events every node
 * writes to the one database, raises de-duplicated alerts, and resolves those whose condition has
 * cleared. It holds the `monitor` lease, so with several nodes exactly one evaluates at a time.
 */
/** The backup interval when backups are scheduled at all, else null. */
const backupSchedule = (config: MonitoringDeps['config']): number | null => (config.backup.target === null ? null : config.backup.intervalSeconds);

export class Monitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly lease: WorkerLease;
  private readonly selfCheck: AccessLogSelfCheck;

  constructor(
    private readonly deps: MonitoringDeps,
    private readonly options: MonitorOptions,
  ) {
    this.lease = new WorkerLease(deps.db, 'monitor', options.holder ?? randomUUID(), LEASE_SECONDS);
    this.selfCheck = new AccessLogSelfCheck(deps);
  }

  get holder(): string {
    return this.lease.holder;
  }

  start(intervalMs = INTERVAL_SECONDS * 1000): void {
    const tick = () => {
      if (this.running) return; // a slow run is never overlapped by the next
      this.running = this.runOnce()
        .catch(this.options.onError)
        .finally(() => (this.running = undefined));
    };
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    await this.lease.release(this.deps.clock.now()).catch(this.options.onError);
    // A node that stops no longer serves its certificate: it must not hold an alert open.
    if (this.options.certificate) await forgetNodeCertificate(this.deps.db, this.holder).catch(this.options.onError);
  }

  /** One evaluation (tests call it by hand with the test clock's time). */
  async runOnce(now: Date = this.deps.clock.now()): Promise<MonitorRun> {
    const run: MonitorRun = { held: false, opened: 0, refreshed: 0, resolved: 0 };
    const { certificate } = this.options;
    if (certificate) await recordNodeCertificate(this.deps.db, this.holder, certificate, now).catch(this.options.onError);
    if (!(await this.lease.acquire(now))) return run;
    run.held = true;
    await this.selfCheck.runOnce(now).catch(this.options.onError);
    await this.deps.securityEvents.flush(); // what this run recorded counts in this run
    const context = { db: this.deps.db, now, systemCipher: this.deps.keyRing.systemCipher(), keyMaxAgeDays: this.deps.config.keyRotation.maxAgeDays, backupIntervalSeconds: backupSchedule(this.deps.config) };
    for (const rule of this.options.rules) {
      try {
        // A storm (more new subjects than the cap) is folded into one alert: see alert-storm.ts.
        const storm = await AlertStorm.load(this.deps, rule.name, now);
        const lastResolved = (subject: string) => storm.lastResolved(subject);
        for (const finding of storm.fold(rule, await rule.evaluate({ ...context, lastResolved }))) {
          const { opened } = await raiseAlert(this.deps, { rule: rule.name, severity: rule.severity, ...finding }, now);
          if (opened) run.opened += 1;
          else run.refreshed += 1;
        }
        for (const id of await staleAlertIds(this.deps.db, rule.name, new Date(now.getTime() - ALERT_CLEAR_SECONDS * 1000))) {
          const resolved = await transitionAlert(this.deps, id, 'resolved', { type: 'system', id: 'monitor' }, now);
          if (resolved && !('conflict' in resolved)) run.resolved += 1;
        }
      } catch (error) {
        this.options.onError(error); // one failing rule does not stop the others
      }
    }
    return run;
  }
}
