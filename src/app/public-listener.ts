import type { Logger } from 'pino';
import { API_KEY_PREFIX, resolveApiKey } from '../api-keys/api-key-store.js';
import { apiKeyRoutes } from '../api-keys/routes.js';
import { accessLogRoutes } from '../audit/routes.js';
import { consolePageRoutes } from '../console-pages/routes.js';
import type { Principal } from '../core/principal.js';
import type { Authenticator } from '../http/authenticate.js';
import { buildListener, type Listener, type ListenerOptions, type OpenApiDescription } from '../http/build-listener.js';
import type { Router } from '../http/route-types.js';
import { accountRoutes } from '../identity/account/routes.js';
import { mfaRoutes } from '../identity/mfa/routes.js';
import { identityRoutes } from '../identity/routes.js';
import { memberRoutes } from '../members/routes.js';
import { recordRoutes } from '../records/routes.js';
import { fileRoutes } from '../files/routes.js';
import { securityEventRoutes } from '../security-events/routes.js';
import { staffAccessTenantRoutes } from '../staff-access/tenant-routes.js';
import { tenantRoutes } from '../tenants/routes.js';
import { tenantDeletionRoutes } from '../tenants/deletion-routes.js';
import { tenantKeyRoutes } from '../key-rotation/routes.js';
import { recordRefusals } from './refused-requests.js';
import type { Services } from './services.js';
import type { UseCases } from './use-cases.js';

const PUBLIC_OPENAPI: OpenApiDescription = {
  path: '/v1/openapi.json',
  title: 'Confide public API',
  version: '1',
  description:
    'Customer data, encrypted at rest under per-tenant keys, every access logged. Errors use the shape {"error": {"code", "message", "requestId", "details"?}}; see docs/errors.md.',
  securitySchemes: {
    bearer: {
      type: 'http',
      scheme: 'bearer',
      description: 'A session token (cfs_…, from POST /v1/sessions) or an API key (cfk_…, from POST /v1/api-keys): `Authorization: Bearer <token>`',
    },
  },
};

/** The public routes table: a new domain's routes are one more line here. */
function publicRoutes(services: Services, useCases: UseCases) {
  const { config } = services;
  return (router: Router, authenticate: Authenticator): void => {
    identityRoutes(router, useCases.identity, authenticate, { signUpsPerIpPerHour: config.limits.signUpsPerIpPerHour });
    apiKeyRoutes(router, useCases.apiKeys, authenticate);
    memberRoutes(router, useCases.members, useCases.invitations, authenticate);
    tenantRoutes(router, useCases.tenantSettings, authenticate);
    tenantDeletionRoutes(router, useCases.tenantDeletion, authenticate);
    tenantKeyRoutes(router, useCases.tenantKeys, authenticate);
    accountRoutes(router, useCases.account, authenticate);
    securityEventRoutes(router, services, authenticate);
    mfaRoutes(router, useCases.mfa, authenticate);
    recordRoutes(router, useCases.records, authenticate);
    fileRoutes(router, useCases.files, authenticate);
    accessLogRoutes(router, useCases.accessLogQueries, authenticate);
    staffAccessTenantRoutes(router, useCases.staffAccess, authenticate);
    consolePageRoutes(router);
  };
}

/** The customers' listener (CONFIDE_PUBLIC_LISTEN): members with session tokens, machines with API keys. */
export function publicListener(
  services: Services,
  useCases: UseCases,
  logger: Logger,
  tls: { cert: string; key: string },
  rateLimits: ListenerOptions['rateLimits'],
): Promise<Listener> {
  // Bearer tokens are session tokens (cfs_…) or API keys (cfk_…).
  const authenticate = (token: string): Promise<Principal | undefined> =>
    token.startsWith(API_KEY_PREFIX) ? resolveApiKey(services.db, services.clock, token) : useCases.identity.authenticate(token);
  return buildListener({
    name: 'public',
    config: services.config,
    trustedProxies: services.config.trustedProxies,
    logger,
    tls,
    authenticate,
    openapi: PUBLIC_OPENAPI,
    onRefused: recordRefusals(services.securityEvents),
    rateLimits,
    metrics: services.metrics.listener('public'),
    catchUp: () => services.keyRing.sync.ensureFresh(),
    routes: publicRoutes(services, useCases),
  });
}
