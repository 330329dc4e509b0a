import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/**
 * A lease in `worker_leases`: one node at a time runs a worker that must not run twice (the
 * monitor). Taking it is one conditional UPDATE — held by nobody live (expired) or already by me —
 * which the database applies atomically, so of several nodes racing exactly one succeeds. The
 * holder renews it on every run; if its node dies, another takes over once it expires.
 */
export class WorkerLease {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly name: string,
    /** This node's id for the lease (random per process). */
    readonly holder: string,
    private readonly ttlSeconds: number,
  ) {}

  /** Takes or renews the lease until now + ttl; true when this node holds it. */
  async acquire(now: Date): Promise<boolean> {
    const nowIso = now.toISOString();
    const until = new Date(now.getTime() + this.ttlSeconds * 1000).toISOString();
    // The row exists once; whoever creates it holds it (a racing insert does nothing).
    const inserted = await this.db
      .insertInto('worker_leases')
      .values({ name: this.name, holder: this.holder, expires_at: until })
      .onConflict((conflict) => conflict.column('name').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return true;
    const updated = await this.db
      .updateTable('worker_leases')
      .set({ holder: this.holder, expires_at: until })
      .where('name', '=', this.name)
      .where((eb) => eb.or([eb('expires_at', '<', nowIso), eb('holder', '=', this.holder)]))
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
  }

  /** Gives the lease up (on stop), so another node takes over at its next run rather than after the ttl. */
  async release(now: Date): Promise<void> {
    await this.db
      .updateTable('worker_leases')
      .set({ expires_at: new Date(now.getTime() - 1000).toISOString() })
      .where('name', '=', this.name)
      .where('holder', '=', this.holder)
      .execute();
  }
}
