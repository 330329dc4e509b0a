import type { Router } from '../http/route-types.js';
import { HELMET_OPTIONS, securityHeaders } from '../http/security-headers.js';
import { PAGE_SCRIPT_HASH } from './page-script.js';
import { renderTokenPage, TOKEN_PAGES } from './token-pages.js';

/**
 * The pages' own CSP: the API's `default-src 'none'` plus exactly the one inline script (by its
 * hash) and calls back to this origin. No form may submit natively (`form-action 'none'`): without
 * the script, a password must never end up in a URL. The API routes keep their stricter policy.
 */
const PAGE_HEADERS = securityHeaders({
  ...HELMET_OPTIONS,
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      scriptSrc: [PAGE_SCRIPT_HASH],
      connectSrc: ["'self'"],
      formAction: ["'none'"],
      baseUri: ["'none'"],
      frameAncestors: ["'none'"],
    },
  },
});

/** GET /verify-email, /accept-invitation, /reset-password: no authentication, static HTML. */
export function consolePageRoutes(app: Router): void {
  for (const page of TOKEN_PAGES) {
    const html = renderTokenPage(page);
    app.get(page.path, { schema: { hide: true }, config: { securityHeaders: PAGE_HEADERS } }, async (_request, reply) =>
      reply.type('text/html; charset=utf-8').send(html),
    );
  }
}
