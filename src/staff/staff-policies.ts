import type { StaffDeps } from './staff-deps.js';
import type { StaffPrincipal } from '../core/principal.js';
import { isUniqueViolation } from '../db/constraint-errors.js';
import { AppError } from '../lib/app-error.js';
import { assertPrintableName } from '../lib/printable-name.js';

export interface StaffPolicy {
  version: number;
  title: string;
  body: string;
  publishedAt: string;
}

/** Bounds on what a security-admin may publish. */
export const STAFF_POLICY_LIMITS = { titleChars: 200, bodyChars: 65_536 } as const;

const noPolicy = () => new AppError('NOT_FOUND', { message: 'No staff policy has been published yet.' });

/**
 * The internal staff policy: numbered versions published by security-admins. While a current
 * version exists that a staff member has not acknowledged, the admin listener lets them do
 * nothing but read and acknowledge it (the session resolve says so; requireStaffAuthentication
 * enforces it). Acknowledgements are kept, with their time, as the record of who agreed to what.
 */
export class StaffPolicies {
  constructor(private readonly services: StaffDeps) {}

  async current(): Promise<StaffPolicy | undefined> {
    const row = await this.services.db.selectFrom('staff_policies').selectAll().orderBy('version', 'desc').limit(1).executeTakeFirst();
    return row && { version: Number(row.version), title: row.title, body: row.body, publishedAt: row.published_at };
  }

  async read(): Promise<StaffPolicy> {
    const policy = await this.current();
    if (!policy) throw noPolicy();
    return policy;
  }

  /** Publishes the next version; everyone, the publisher too, must acknowledge it before going on. */
  async publish(principal: StaffPrincipal, input: { title: string; body: string }, ip: string): Promise<{ version: number }> {
    const { transactions, clock, securityEvents } = this.services;
    const title = assertPrintableName(input.title, 'title');
    if (input.body.trim() === '') throw new AppError('VALIDATION_FAILED', { message: 'The policy needs a body.', details: { field: 'body', reason: 'empty' } });
    const publishedAt = clock.now().toISOString();
    try {
      const version = await transactions.run(async (trx) => {
        const latest = await trx.selectFrom('staff_policies').select((eb) => eb.fn.max('version').as('v')).executeTakeFirst();
        const next = Number(latest?.v ?? 0) + 1;
        await trx.insertInto('staff_policies').values({ version: next, title, body: input.body, published_at: publishedAt, published_by: principal.staffId }).execute();
        return next;
      });
      securityEvents.record({ type: 'staff.policy.published', outcome: 'success', actor: { type: 'staff', id: principal.staffId }, ip, details: { version } });
      return { version };
    } catch (error) {
      // Two security-admins publishing at the same moment: one wins, the other is told to look again.
      if (isUniqueViolation(error)) throw new AppError('CONFLICT', { message: 'Another version was published at the same time; read it and try again.', details: { reason: 'version_mismatch' } });
      throw error;
    }
  }

  /** Acknowledges the current version (again is harmless); an older or unknown version is refused. */
  async acknowledge(principal: StaffPrincipal, version: number, ip: string): Promise<void> {
    const { transactions, clock, securityEvents } = this.services;
    const current = await this.current();
    if (!current) throw noPolicy();
    if (version !== current.version) {
      throw new AppError('CONFLICT', { message: `Version ${current.version} is the current staff policy; read and acknowledge that one.`, details: { reason: 'version_mismatch', currentVersion: current.version } });
    }
    const acknowledgedAt = clock.now().toISOString();
    await transactions.run((trx) =>
      trx
        .insertInto('staff_policy_acknowledgements')
        .values({ staff_id: principal.staffId, version, acknowledged_at: acknowledgedAt })
        .onConflict((oc) => oc.columns(['staff_id', 'version']).doNothing())
        .execute(),
    );
    securityEvents.record({ type: 'staff.policy.acknowledged', outcome: 'success', actor: { type: 'staff', id: principal.staffId }, ip, details: { version } });
  }
}
