import type { FastifyRequest } from 'fastify';
import { actorOf } from '../core/principal.js';
import type { SecurityEventSink } from '../core/security-events.js';
import type { ErrorDetails } from '../lib/app-error.js';

/** Refusals their use case already records as a more telling event (`staff.grant.refused`, `staff.access.refused`). */
const RECORDED_BY_USE_CASE = new Set(['GRANT_REQUIRED', 'STAFF_ACCESS_DENIED']);

/**
 * A listener's `onRefused`: every 403 becomes an `authorization.denied` security event (ASVS 16.3.2),
 * once; every 503 AUDIT_UNAVAILABLE an `audit.unavailable` one, which the monitor alerts on; every
 * 503 for a full or failing store (the database, the file store) a `storage.unavailable` one too.
 */
export function recordRefusals(securityEvents: SecurityEventSink) {
  return (request: FastifyRequest, code: string, details?: ErrorDetails): void => {
    if (details?.reason === 'storage_full' || details?.reason === 'storage_failed') recordStorageFault(securityEvents, request, details);
    if (code === 'AUDIT_UNAVAILABLE') {
      securityEvents.record({
        type: 'audit.unavailable',
        outcome: 'failure',
        ip: request.ip,
        ...(request.principal ? { tenantId: request.principal.tenantId, actor: actorOf(request.principal) } : {}),
        // Kept during a failover too (reason database_unavailable): the log could not be written; the reason tells the operator why.
        details: { method: request.method, route: request.routeOptions.url ?? '', ...(typeof details?.reason === 'string' ? { reason: details.reason } : {}) },
      });
      return;
    }
    if (RECORDED_BY_USE_CASE.has(code)) return;
    securityEvents.record({
      type: 'authorization.denied',
      outcome: 'refused',
      ip: request.ip,
      ...(request.principal ? { tenantId: request.principal.tenantId } : {}),
      ...(request.principal?.kind === 'member' ? { userId: request.principal.userId } : {}),
      ...(request.principal ? { actor: actorOf(request.principal) } : {}),
      details: { code, method: request.method, route: request.routeOptions.url ?? '' },
    });
  };
}

/**
 * Names the store and the fault, never a path or the raw error (those are in the log, under the
 * request id). On a full database the sink cannot store it yet: it is logged, counted in
 * `confide_security_events_total` and forwarded to syslog at once, and stored (so the monitor
 * alerts) once the database takes writes again.
 */
function recordStorageFault(securityEvents: SecurityEventSink, request: FastifyRequest, details: ErrorDetails): void {
  securityEvents.record({
    type: 'storage.unavailable',
    outcome: 'failure',
    ip: request.ip,
    ...(request.principal ? { tenantId: request.principal.tenantId, actor: actorOf(request.principal) } : {}),
    details: { component: typeof details.component === 'string' ? details.component : 'unknown', reason: details.reason, method: request.method, route: request.routeOptions.url ?? '' },
  });
}
