import type { StaffPrincipal } from '../core/principal.js';
import { requireStaff } from '../core/policies.js';
import type { AlertState } from '../db/monitoring-schema.js';
import { AppError } from '../lib/app-error.js';
import { cursorCodec } from '../lib/cursor-codec.js';
import { isUuid } from '../lib/ids.js';
import { listAlerts, transitionAlert, type AlertView } from './alert-store.js';
import type { MonitoringDeps } from './monitoring-deps.js';

/** Alerts are listed newest first; a cursor names the last id of the previous page. */
const ALERT_CURSOR = cursorCodec<string>({ version: 'a1', format: (lastId) => lastId, parse: (text) => (isUuid(text) ? text : undefined) });

/** The security-admin's view of alerts (GET /admin/v1/alerts). */
export async function listAlertsFor(
  deps: Pick<MonitoringDeps, 'db' | 'keyRing'>,
  staff: StaffPrincipal,
  options: { state?: AlertState; limit: number; cursor?: string },
): Promise<{ items: AlertView[]; nextCursor: string | null }> {
  requireStaff(staff, 'security-admin');
  const beforeId = options.cursor === undefined ? undefined : ALERT_CURSOR.decode(options.cursor);
  const page = await listAlerts(deps, { state: options.state, limit: options.limit, beforeId });
  return { items: page.items, nextCursor: page.nextBeforeId === null ? null : ALERT_CURSOR.encode(page.nextBeforeId) };
}

/** A security-admin acknowledges an open alert (409 `alert_not_open` otherwise). */
export function acknowledgeAlert(deps: MonitoringDeps, staff: StaffPrincipal, id: string): Promise<AlertView> {
  return transitionBy(deps, staff, id, 'acknowledged');
}

/** A security-admin resolves an open or acknowledged alert by hand (409 `alert_resolved` when it already is). */
export function resolveAlert(deps: MonitoringDeps, staff: StaffPrincipal, id: string): Promise<AlertView> {
  return transitionBy(deps, staff, id, 'resolved');
}

async function transitionBy(deps: MonitoringDeps, staff: StaffPrincipal, id: string, to: 'acknowledged' | 'resolved'): Promise<AlertView> {
  requireStaff(staff, 'security-admin');
  const outcome = await transitionAlert(deps, id, to, { type: 'staff', id: staff.staffId }, deps.clock.now());
  if (outcome === null) throw new AppError('NOT_FOUND');
  if ('conflict' in outcome) {
    if (to === 'acknowledged') throw new AppError('CONFLICT', { message: `Only an open alert can be acknowledged; this one is ${outcome.conflict}.`, details: { reason: 'alert_not_open' } });
    throw new AppError('CONFLICT', { message: 'This alert is already resolved.', details: { reason: 'alert_resolved' } });
  }
  return outcome;
}
