import type { FastifyRequest } from 'fastify';
import { actorOf } from '../core/principal.js';
import type { SecurityEventSink } from '../core/security-events.js';

/** Refusals their use case already records as a more telling event (`staff.grant.refused`, `staff.access.refused`). */
const RECORDED_BY_USE_CASE = new Set(['GRANT_REQUIRED', 'STAFF_ACCESS_DENIED']);

/**
 * A listener's `onRefused`: every 403 becomes an `authorization.denied` security event (ASVS 16.3.2),
 * once; every 503 AUDIT_UNAVAILABLE an `audit.unavailable` one, which the monitor alerts on.
 */
export function recordRefusals(securityEvents: SecurityEventSink) {
  return (request: FastifyRequest, code: string): void => {
    if (code === 'AUDIT_UNAVAILABLE') {
      securityEvents.record({
        type: 'audit.unavailable',
        outcome: 'failure',
        ip: request.ip,
        ...(request.principal ? { tenantId: request.principal.tenantId, actor: actorOf(request.principal) } : {}),
        details: { method: request.method, route: request.routeOptions.url ?? '' },
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
