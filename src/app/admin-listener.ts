import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Principal } from '../core/principal.js';
import type { Authenticator } from '../http/authenticate.js';
import { buildListener, type Listener, type ListenerOptions, type OpenApiDescription } from '../http/build-listener.js';
import type { Router } from '../http/route-types.js';
import { staffRoutes } from '../staff/routes.js';
import { accessRequestRoutes } from '../staff-access/request-routes.js';
import { staffDataRoutes } from '../staff-access/data-routes.js';
import { staffEventRoutes } from '../security-events/staff-event-routes.js';
import { alertRoutes } from '../monitoring/routes.js';
import { metricsAccess } from '../metrics/metrics-access.js';
import { metricsRoutes } from '../metrics/routes.js';
import { recordRefusals } from './refused-requests.js';
import type { Services } from './services.js';
import type { UseCases } from './use-cases.js';

const ADMIN_OPENAPI: OpenApiDescription = {
  path: '/admin/v1/openapi.json',
  title: 'Confide admin API',
  version: '1',
  description:
    'Staff and operations, on the admin listener only (CONFIDE_ADMIN_LISTEN). Staff reach a tenant’s data only under an active grant the tenant can see and revoke; ' +
    'every such access is in the tenant’s access log. Errors use the shape {"error": {"code", "message", "requestId", "details"?}}; see docs/errors.md.',
  securitySchemes: {
    staffBearer: {
      type: 'http',
      scheme: 'bearer',
      description: 'A staff session token (cfst_…, from POST /admin/v1/sessions/mfa): `Authorization: Bearer <token>`',
    },
    metricsBearer: { type: 'http', scheme: 'bearer', description: 'CONFIDE_METRICS_TOKEN, for GET /metrics only: `Authorization: Bearer <token>`' },
  },
};

/** The admin routes table: a new staff or operations domain is one more line here. */
function adminRoutes(services: Services, useCases: UseCases) {
  return (router: Router, authenticate: Authenticator): void => {
    staffRoutes(router, useCases.staff, authenticate);
    accessRequestRoutes(router, useCases.staffAccess, authenticate);
    // Data access by grant goes through the very record use cases the public listener serves.
    staffDataRoutes(router, useCases.staffAccess.data, useCases.staffAccess.grantCheck, authenticate);
    staffEventRoutes(router, services, authenticate);
    alertRoutes(router, services, authenticate);
    metricsRoutes(router, services.metrics, metricsAccess({ token: services.config.metrics.token, clientCertificates: services.config.admin.clientCaFile !== null }));
  };
}

/**
 * The staff and operations listener (CONFIDE_ADMIN_LISTEN): its own Fastify instance, realm and
 * OpenAPI document; staff session tokens only (customer tokens and API keys resolve to no one
 * here). With CONFIDE_ADMIN_CLIENT_CA the handshake also requires a client certificate from that CA.
 */
export function adminListener(
  services: Services,
  useCases: UseCases,
  logger: Logger,
  tls: { cert: string; key: string },
  rateLimits: ListenerOptions['rateLimits'],
): Promise<Listener> {
  const { config } = services;
  const authenticate = (token: string): Promise<Principal | undefined> => useCases.staff.authenticate(token);
  return buildListener({
    name: 'admin',
    config,
    trustedProxies: config.adminTrustedProxies,
    logger,
    tls,
    clientCa: config.admin.clientCaFile === null ? undefined : readFileSync(config.admin.clientCaFile, 'utf8'),
    authenticate,
    openapi: ADMIN_OPENAPI,
    onRefused: recordRefusals(services.securityEvents),
    rateLimits,
    metrics: services.metrics.listener('admin'),
    catchUp: () => services.keyRing.sync.ensureFresh(),
    routes: adminRoutes(services, useCases),
  });
}
