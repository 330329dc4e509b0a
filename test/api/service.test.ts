import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/lib/error-catalogue.js';
import { SECURITY_EVENT_TYPES } from '../../src/core/security-event-types.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { errorCode } from '../harness/builders.js';
import { currentErrorTable, errorTableFromOpenApi } from '../harness/error-table.js';
import { mergeDocuments } from '../harness/openapi-document.js';

describe('service endpoints and the error contract', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('sqlite');
  });
  afterAll(() => t.close());

  it('answers /healthz without authentication and without customer data', async () => {
    const response = await t.request({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('describes the public API as OpenAPI 3.1, covering every contract route', async () => {
    const response = await t.request({ method: 'GET', url: '/v1/openapi.json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json();
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths as Record<string, object>).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes).toEqual(
      expect.arrayContaining([
        'GET /healthz',
        'POST /v1/signup',
        'POST /v1/sessions',
        'DELETE /v1/sessions/current',
        'GET /v1/me',
        'POST /v1/collections/{collection}/records',
        'GET /v1/collections/{collection}/records',
        'GET /v1/collections/{collection}/records/{id}',
        'PUT /v1/collections/{collection}/records/{id}',
        'DELETE /v1/collections/{collection}/records/{id}',
        'GET /v1/access-log',
        'GET /v1/access-log/verify',
        'GET /v1/access-requests',
        'POST /v1/access-requests/{id}/approve',
        'POST /v1/access-requests/{id}/deny',
        'GET /v1/access-grants',
        'POST /v1/access-grants/{id}/revoke',
      ]),
    );
    expect(routes.filter((route) => route.includes('/admin/'))).toEqual([]);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('describes the admin API as its own OpenAPI 3.1 document, covering every contract route of the admin listener', async () => {
    const response = await t.admin({ method: 'GET', url: '/admin/v1/openapi.json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json();
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths as Record<string, object>).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes).toEqual(
      expect.arrayContaining([
        'GET /healthz',
        'POST /admin/v1/enrolment',
        'POST /admin/v1/enrolment/confirm',
        'POST /admin/v1/sessions',
        'POST /admin/v1/sessions/mfa',
        'DELETE /admin/v1/sessions/current',
        'GET /admin/v1/me',
        'GET /admin/v1/staff-policy',
        'POST /admin/v1/staff-policy',
        'POST /admin/v1/staff-policy/{version}/acknowledge',
        'POST /admin/v1/access-requests',
        'GET /admin/v1/access-requests',
        'GET /admin/v1/access-requests/{id}',
        'POST /admin/v1/access-requests/{id}/approve',
        'POST /admin/v1/access-requests/{id}/review',
        'GET /admin/v1/access-grants',
        'GET /admin/v1/tenants/{tenantId}/collections',
        'GET /admin/v1/tenants/{tenantId}/collections/{collection}/records',
        'GET /admin/v1/tenants/{tenantId}/collections/{collection}/records/{id}',
        'PUT /admin/v1/tenants/{tenantId}/collections/{collection}/records/{id}',
        'DELETE /admin/v1/tenants/{tenantId}/collections/{collection}/records/{id}',
        'GET /admin/v1/staff-events',
        'GET /metrics',
      ]),
    );
    // Staff and operations routes only: no customer route is served on the admin listener.
    expect(routes.filter((route) => !['GET /healthz', 'GET /metrics'].includes(route) && !route.includes(' /admin/v1/'))).toEqual([]);
    expect(doc.components.securitySchemes.staffBearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('sends the security headers, a request id and no-store on every answer', async () => {
    const response = await t.request({ method: 'GET', url: '/healthz' });
    expect(response.headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
    expect(response.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers['x-powered-by']).toBeUndefined();
  });

  it('puts the request id of the answer in the error body', async () => {
    const response = await t.request({ method: 'GET', url: '/nowhere' });
    expect(errorCode(response)).toBe('NOT_FOUND');
    expect(response.json().error.requestId).toBe(response.headers['x-request-id']);
  });

  it('exposes no debug, metrics or documentation UI endpoints on the public listener', async () => {
    for (const url of ['/metrics', '/debug', '/documentation', '/docs', '/status', '/admin/v1/staff']) {
      expect((await t.request({ method: 'GET', url })).statusCode, url).toBe(404);
    }
  });

  it('documents every error code of the catalogue in docs/errors.md, with its status', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
      expect(doc, code).toMatch(new RegExp(`\\| ${status} \\| \`${code}\` \\|`));
    }
  });

  it('documents in docs/errors.md exactly the details.reason values of the catalogue, each under its code', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \| `([a-z_]+)` \|/gm)].map(([, code, reason]) => `${code} ${reason}`);
    expect(documented.sort()).toEqual(catalogueReasons().sort());
  });

  it('lists in the catalogue every details.reason that src/ throws, under the code it is thrown with', () => {
    const thrown = new Set<string>();
    for (const file of sourceFiles(new URL('../../src', import.meta.url).pathname)) {
      const text = readFileSync(file, 'utf8');
      // An AppError construction holds no semicolon, so its reason is the one before the next `;`.
      for (const [, code, reason] of text.matchAll(/new AppError\(\s*'([A-Z_]+)'[^;]*?reason: '([a-z_]+)'/g)) thrown.add(`${code} ${reason}`);
      // The password policy names its reasons through one helper.
      for (const [, reason] of text.matchAll(/\brefuse\('([a-z_]+)'/g)) thrown.add(`VALIDATION_FAILED ${reason}`);
    }
    expect(thrown.size).toBeGreaterThan(20);
    expect([...thrown].filter((entry) => !catalogueReasons().includes(entry))).toEqual([]);
  });

  it('documents in docs/security-events.md exactly the security event types of the catalogue, with their descriptions', () => {
    const doc = readFileSync(new URL('../../docs/security-events.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `([a-zA-Z.]+)` \| (.+) \|$/gm)].map(([, type, description]) => [type, description]);
    expect(Object.fromEntries(documented)).toEqual(SECURITY_EVENT_TYPES);
    expect(documented).toHaveLength(Object.keys(SECURITY_EVENT_TYPES).length);
  });

  /** Both listeners' documents, as docs/errors.md's per-endpoint table lists them. */
  const bothDocuments = async () =>
    mergeDocuments((await t.request({ method: 'GET', url: '/v1/openapi.json' })).json(), (await t.admin({ method: 'GET', url: '/admin/v1/openapi.json' })).json());

  it('lists in docs/errors.md, per endpoint of both listeners, exactly the error statuses the OpenAPI descriptions declare', async () => {
    const doc = await bothDocuments();
    const markdown = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    // On a mismatch, `npm run docs:errors` rewrites the table.
    expect(currentErrorTable(markdown)).toBe(errorTableFromOpenApi(doc));
  });

  it('declares on every signed-in route of both listeners the 401 and 403 its authentication can answer', async () => {
    const doc = await bothDocuments();
    for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, { security?: unknown; responses?: object }>>)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (operation.security) expect(Object.keys(operation.responses ?? {}), `${method} ${path}`).toEqual(expect.arrayContaining(['401', '403']));
      }
    }
  });
});

/** Every `CODE reason` pair the error catalogue lists. */
function catalogueReasons(): string[] {
  return Object.entries(ERROR_CATALOGUE).flatMap(([code, entry]) => ('reasons' in entry ? entry.reasons.map((reason) => `${code} ${reason}`) : []));
}

/** The TypeScript files under `dir`, tests aside. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'))
    .map((name) => join(dir, name));
}
