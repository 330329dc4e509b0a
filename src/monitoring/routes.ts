import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { requireStaffAuthentication, staffOf, type Authenticator } from '../http/authenticate.js';
import { acknowledgeAlert, listAlertsFor, resolveAlert } from './alert-admin.js';
import type { MonitoringDeps } from './monitoring-deps.js';

const State = Type.Union([Type.Literal('open'), Type.Literal('acknowledged'), Type.Literal('resolved')]);

const Alert = Type.Object({
  id: Type.String({ format: 'uuid' }),
  rule: Type.String({ description: 'the rule that raised it (docs/monitoring.md)' }),
  severity: Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high'), Type.Literal('critical')]),
  state: State,
  subject: Type.String({ description: 'what it is about: `member:<id>`, `staff:<id>`, an IPv4 address or IPv6 /64, `tenant:<id>`, `access log`, `tls certificate <first 8 bytes of its SHA-256 fingerprint>`' }),
  summary: Type.String(),
  openedAt: Type.String({ format: 'date-time' }),
  lastSeenAt: Type.String({ format: 'date-time', description: 'when the monitor last found the condition true' }),
  occurrences: Type.Integer({ description: 'how many evaluations found the condition true while the alert was not resolved' }),
  acknowledgedAt: Type.Optional(Type.String({ format: 'date-time' })),
  acknowledgedBy: Type.Optional(Type.String({ description: 'a staff id' })),
  resolvedAt: Type.Optional(Type.String({ format: 'date-time' })),
  resolvedBy: Type.Optional(Type.String({ description: 'a staff id, or `system` when the condition cleared' })),
  details: Type.Optional(Type.Object({}, { additionalProperties: true })),
});

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const common = { tags: ['alerts'], security: [{ staffBearer: [] }] };

/** Alerts raised by the monitor, on the admin listener, for security-admins. */
export function alertRoutes(app: Router, deps: MonitoringDeps, authenticate: Authenticator): void {
  const onRequest = requireStaffAuthentication(authenticate, { role: 'security-admin' });
  app.get(
    '/admin/v1/alerts',
    {
      onRequest,
      schema: {
        ...common,
        summary: 'Alerts raised by the monitor, newest first (security-admin)',
        description: 'One alert per incident (rule and subject) while it is not resolved; `state` keeps those in one state. `nextCursor` continues where a page stopped, null after the last.',
        querystring: Type.Object(
          { state: Type.Optional(State), limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }), cursor: Type.Optional(Type.String({ maxLength: 200 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Alert), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listAlertsFor(deps, staffOf(request), request.query),
  );
  app.post(
    '/admin/v1/alerts/:id/acknowledge',
    {
      onRequest,
      schema: {
        ...common,
        summary: 'Acknowledge an open alert (security-admin)',
        description: 'Someone is on it: the alert stays until resolved, by hand or once its condition has cleared. 409 `alert_not_open` unless the alert is open.',
        params: IdParams,
        response: { 200: Alert, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => acknowledgeAlert(deps, staffOf(request), request.params.id),
  );
  app.post(
    '/admin/v1/alerts/:id/resolve',
    {
      onRequest,
      schema: {
        ...common,
        summary: 'Resolve an alert by hand (security-admin)',
        description: 'Closes the incident; the condition seen again later raises a new alert. 409 `alert_resolved` when it already is resolved.',
        params: IdParams,
        response: { 200: Alert, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => resolveAlert(deps, staffOf(request), request.params.id),
  );
}
