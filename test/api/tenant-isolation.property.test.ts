import fc from 'fast-check';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';

/**
 * Tenant isolation as a property (ASVS 8.4.1): random operations by users of several tenants,
 * aimed at their own records, other tenants' records and ids that exist nowhere. No response may
 * reveal another tenant's record, and "another tenant's id" must answer byte-for-byte like
 * "no such id" (apart from the request id).
 */
const RUNS = Number(process.env.CONFIDE_ISOLATION_RUNS ?? 10_000);

type Target = 'own' | 'foreign' | 'missing';
type Operation = 'read' | 'update' | 'delete' | 'list' | 'create';
const METHODS = { read: 'GET', update: 'PUT', delete: 'DELETE', list: 'GET', create: 'POST' } as const;

describe.each(DIALECTS)('tenant isolation on %s', (dialect) => {
  let t: TestApp;
  const tenants: TestTenant[] = [];
  const owned = new Map<string, Array<{ id: string; marker: string }>>(); // tenantId → its live records

  beforeAll(async () => {
    t = await createTestApp(dialect);
    for (let i = 0; i < 3; i += 1) {
      const tenant = await buildTenant(t);
      tenants.push(tenant);
      owned.set(tenant.tenantId, []);
      for (let j = 0; j < 3; j += 1) {
        const marker = `marker-${tenant.tenantId}-${j}`;
        const record = await buildRecord(t, tenant, 'shared', { marker });
        owned.get(tenant.tenantId)!.push({ id: record.id, marker });
      }
    }
  });
  afterAll(() => t.close());

  const normalise = (body: string) => body.replace(/"requestId":"[^"]+"/, '"requestId":"-"');

  it(`holds over ${RUNS} random operations`, { timeout: 300_000 }, async () => {
    let crossTenantSuccesses = 0;
    let foreignProbes = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 2 }),
        fc.constantFrom<Operation>('read', 'update', 'delete', 'list', 'create'),
        fc.constantFrom<Target>('own', 'foreign', 'missing'),
        fc.nat(),
        async (actorIndex, otherIndex, operation, target, pick) => {
          const actor = tenants[actorIndex]!;
          const victim = tenants[otherIndex === actorIndex ? (otherIndex + 1) % tenants.length : otherIndex]!;
          // Every marker embeds its tenant's id, so one search per foreign tenant covers all its records.
          const foreignMarkerPrefixes = tenants.filter((x) => x !== actor).map((x) => `marker-${x.tenantId}`);
          const pool = target === 'own' ? owned.get(actor.tenantId)! : owned.get(victim.tenantId)!;
          const chosen = pool.length > 0 ? pool[pick % pool.length]! : undefined;
          const id = target === 'missing' || !chosen ? uuidv7() : chosen.id;
          const url = `/v1/collections/shared/records/${id}`;

          let response;
          switch (operation) {
            case 'read':
              response = await t.request({ method: 'GET', url, token: actor.token });
              break;
            case 'update':
              response = await t.request({ method: 'PUT', url, token: actor.token, payload: { marker: target === 'own' && chosen ? chosen.marker : 'overwritten' } });
              break;
            case 'delete':
              response = await t.request({ method: 'DELETE', url, token: actor.token });
              if (response.statusCode === 204) {
                const list = owned.get(actor.tenantId)!;
                list.splice(list.findIndex((r) => r.id === id), 1);
              }
              break;
            case 'list':
              response = await t.request({ method: 'GET', url: '/v1/collections/shared/records?limit=50', token: actor.token });
              break;
            case 'create': {
              const marker = `marker-${actor.tenantId}-${uuidv7()}`;
              response = await t.request({ method: 'POST', url: '/v1/collections/shared/records', token: actor.token, payload: { marker } });
              owned.get(actor.tenantId)!.push({ id: response.json().id, marker });
              break;
            }
          }

          for (const prefix of foreignMarkerPrefixes) expect(response.body).not.toContain(prefix);
          if (operation === 'list') {
            const ids: string[] = response.json().items.map((item: { id: string }) => item.id);
            const own = owned.get(actor.tenantId)!.map((r) => r.id);
            expect(ids.every((listed) => own.includes(listed))).toBe(true);
            expect(ids).toHaveLength(Math.min(own.length, 50));
          }
          if (target === 'foreign' && chosen && operation !== 'list' && operation !== 'create') {
            foreignProbes += 1;
            if (response.statusCode < 300) crossTenantSuccesses += 1;
            // The same request against an id that exists nowhere must answer identically.
            const missingUrl = `/v1/collections/shared/records/${uuidv7()}`;
            const control = await t.request({
              method: METHODS[operation],
              url: missingUrl,
              token: actor.token,
              ...(operation === 'update' ? { payload: { marker: 'overwritten' } } : {}),
            });
            expect(response.statusCode).toBe(404);
            expect(normalise(response.body)).toBe(normalise(control.body));
            expect(Object.keys(response.headers).sort()).toEqual(Object.keys(control.headers).sort());
          }
        },
      ),
      { numRuns: RUNS },
    );
    expect(crossTenantSuccesses).toBe(0);
    expect(foreignProbes).toBeGreaterThan(RUNS / 10);

    // And the foreign records are untouched.
    for (const tenant of tenants) {
      for (const record of owned.get(tenant.tenantId)!) {
        const read = await t.request({ method: 'GET', url: `/v1/collections/shared/records/${record.id}`, token: tenant.token });
        expect(read.json().data.marker).toBe(record.marker);
      }
    }
  });
});
