import type { Kysely } from 'kysely';
import { Gauge, type Registry } from 'prom-client';
import type { DB } from '../db/schema.js';

/** A scrape must answer even when the database is slow: its gauges are then left out, not waited for. */
export const STORE_READ_TIMEOUT_MS = 2_000;

interface StoreCounts {
  alerts: Array<{ rule: string; state: string; count: number }>;
  mailQueue: number;
  webhookQueue: number;
  /** Running re-encryption jobs (key rotation), summed: values to re-encrypt and values done. */
  reencryption: { jobs: number; total: number; done: number };
}

async function readCounts(db: Kysely<DB>): Promise<StoreCounts> {
  const [alerts, mail, webhooks, reencryption] = await Promise.all([
    db
      .selectFrom('alerts')
      .select(['rule', 'state', (eb) => eb.fn.countAll().as('count')])
      .where('state', 'in', ['open', 'acknowledged'])
      .groupBy(['rule', 'state'])
      .execute(),
    db.selectFrom('mail_queue').select((eb) => eb.fn.countAll().as('count')).executeTakeFirstOrThrow(),
    db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll().as('count')).executeTakeFirstOrThrow(),
    db
      .selectFrom('key_rotations')
      .select((eb) => [eb.fn.countAll().as('jobs'), eb.fn.sum<number>('values_total').as('total'), eb.fn.sum<number>('values_done').as('done')])
      .where('state', '=', 'running')
      .executeTakeFirstOrThrow(),
  ]);
  // PostgreSQL returns count(*) as a bigint string, SQLite as a number.
  return {
    alerts: alerts.map((row) => ({ rule: row.rule, state: row.state, count: Number(row.count) })),
    mailQueue: Number(mail.count),
    webhookQueue: Number(webhooks.count),
    reencryption: { jobs: Number(reencryption.jobs), total: Number(reencryption.total ?? 0), done: Number(reencryption.done ?? 0) },
  };
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`the database did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Gauges read from the database when Prometheus scrapes, never on a request's path: alerts not yet
 * resolved by rule and state, the depth of the mail and webhook queues, and the progress of
 * re-encryption after key rotations. Every node reads the same shared tables, so each reports the
 * deployment's totals.
 */
export function storeGauges(registry: Registry, db: Kysely<DB>): { refresh(): Promise<void> } {
  const registers = [registry];
  const alerts = new Gauge({ name: 'confide_alerts', help: 'Alerts not resolved, by rule and state (open, acknowledged)', labelNames: ['rule', 'state'] as const, registers });
  const mailQueue = new Gauge({ name: 'confide_mail_queue_messages', help: 'Messages waiting in the mail queue (not yet delivered)', registers });
  const webhookQueue = new Gauge({ name: 'confide_webhook_queue_deliveries', help: 'Alert webhooks waiting to be delivered or retried', registers });
  const reencryptionJobs = new Gauge({ name: 'confide_key_reencryption_jobs', help: 'Re-encryption jobs running after key rotations', registers });
  const reencryptionTotal = new Gauge({ name: 'confide_key_reencryption_values_total', help: 'Values the running re-encryption jobs counted at their start', registers });
  const reencryptionDone = new Gauge({ name: 'confide_key_reencryption_values_done', help: 'Values the running re-encryption jobs have done (re-sealed or found current)', registers });
  const up = new Gauge({ name: 'confide_metrics_store_up', help: '1 when this scrape read the database gauges, 0 when the read failed or timed out', registers });
  return {
    async refresh() {
      alerts.reset();
      try {
        const counts = await withTimeout(readCounts(db), STORE_READ_TIMEOUT_MS);
        for (const { rule, state, count } of counts.alerts) alerts.set({ rule, state }, count);
        mailQueue.set(counts.mailQueue);
        webhookQueue.set(counts.webhookQueue);
        reencryptionJobs.set(counts.reencryption.jobs);
        reencryptionTotal.set(counts.reencryption.total);
        reencryptionDone.set(counts.reencryption.done);
        up.set(1);
      } catch {
        // Stale or zero depths would mislead: unknown (NaN) in this scrape, and `up` says why.
        mailQueue.set(Number.NaN);
        webhookQueue.set(Number.NaN);
        up.set(0);
      }
    },
  };
}
