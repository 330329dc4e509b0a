import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode, type TestTenant } from '../harness/builders.js';
import { insertMembership, insertUser } from '../../src/identity/user-repository.js';
import { newId } from '../../src/lib/ids.js';

/*
 * Issue 6, item 1: every list page is bounded in bytes (CONFIDE_LIST_MAX_BYTES). A page ends before
 * its body would pass the bound, always returns at least one item, and nextCursor continues exactly
 * where it stopped. Records, the access log and the member list, each with a small bound here.
 */

interface Page<T> {
  items: T[];
  nextCursor: string | null;
  /** The body's length in bytes, as sent. */
  bytes: number;
}

/** Walks every page of `url` (which has a `?`), asserting each is a well-formed 200 JSON page. */
async function walk<T>(t: TestApp, token: string, url: string): Promise<Array<Page<T>>> {
  const pages: Array<Page<T>> = [];
  let cursor: string | null = null;
  do {
    const response = await t.request({ method: 'GET', url: `${url}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json<{ items: T[]; nextCursor: string | null }>();
    expect(Object.keys(body).sort()).toEqual(['items', 'nextCursor']);
    if (response.headers['content-length'] !== undefined) expect(Number(response.headers['content-length'])).toBe(response.rawPayload.length);
    pages.push({ ...body, bytes: response.rawPayload.length });
    cursor = body.nextCursor;
    expect(pages.length).toBeLessThan(500); // a cursor that does not advance would loop forever
  } while (cursor);
  return pages;
}

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/**
 * Every page within the bound, or a single item that alone is larger; and no page ends needlessly
 * early: the next page's first item would not have fitted (`slack` allows for an estimate per item).
 */
function expectBoundedPages<T>(pages: Array<Page<T>>, maxBytes: number, limit: number, slackPerItem: number): void {
  pages.forEach((page, index) => {
    expect(page.items.length).toBeGreaterThanOrEqual(1);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    if (page.items.length > 1) expect(page.bytes).toBeLessThanOrEqual(maxBytes);
    else expect(page.bytes).toBeLessThanOrEqual(Math.max(maxBytes, jsonBytes(page.items[0]) + 200));
    const next = pages[index + 1];
    if (next && page.items.length < limit) {
      expect(page.bytes + 1 + jsonBytes(next.items[0]) + slackPerItem * (page.items.length + 1)).toBeGreaterThan(maxBytes);
    }
  });
}

describe.each(DIALECTS)('bounded list pages on %s', (dialect) => {
  const MAX_BYTES = 8192;
  let t: TestApp;
  let owner: TestTenant;
  beforeAll(async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_LIST_MAX_BYTES: String(MAX_BYTES) } });
    owner = await buildTenant(t);
  });
  afterAll(() => t.close());

  async function entries(tenant: TestTenant): Promise<Array<{ seq: number; action: string; resource: { collection?: string }; details?: { ids?: string[] } }>> {
    return (await walk<any>(t, tenant.token, '/v1/access-log?limit=500')).flatMap((page) => page.items);
  }

  it('ends a records page before CONFIDE_LIST_MAX_BYTES, walks every record once in order, and logs exactly the ids returned', async () => {
    // Records of assorted sizes (some non-ASCII, counted in bytes), one alone larger than the bound.
    const created: Array<{ id: string; data: Record<string, unknown> }> = [];
    for (let i = 0; i < 24; i += 1) {
      const text = i === 9 ? 'x'.repeat(3 * MAX_BYTES) : `${'é'.repeat(i * 37)}${randomBytes(20 + ((i * 97) % 900)).toString('hex')}`;
      created.push(await buildRecord(t, owner, 'sized', { i, text, nested: { list: [i, null, true], quote: '"\\\u2028' } }));
    }
    const before = (await entries(owner)).length;

    const pages = await walk<{ id: string; data: Record<string, unknown>; collection: string; version: number }>(t, owner.token, '/v1/collections/sized/records?limit=200');
    expect(pages.length).toBeGreaterThan(3);
    // The upper bound is estimated from the ciphertext's length, never decrypting: allow ~64 bytes per item.
    expectBoundedPages(pages, MAX_BYTES, 200, 64);
    const big = pages.find((page) => page.items.some((item) => item.id === created[9]!.id))!;
    expect(big.items).toHaveLength(1);
    expect(big.bytes).toBeGreaterThan(MAX_BYTES);

    // Every record exactly once, in creation order, with its data exactly as written.
    const listed = pages.flatMap((page) => page.items);
    expect(listed.map((item) => item.id)).toEqual(created.map((record) => record.id));
    listed.forEach((item, i) => {
      expect(item).toMatchObject({ collection: 'sized', version: 1 });
      expect(item.data).toEqual(created[i]!.data);
    });

    // One `list` entry per page, naming exactly that page's ids.
    const lists = (await entries(owner)).slice(before).filter((entry) => entry.action === 'list' && entry.resource.collection === 'sized');
    expect(lists.map((entry) => entry.details?.ids)).toEqual(pages.map((page) => page.items.map((item) => item.id)));
  });

  it('still honours limit, and an empty collection is one empty page', async () => {
    for (let i = 0; i < 5; i += 1) await buildRecord(t, owner, 'small', { i });
    const pages = await walk<{ id: string }>(t, owner.token, '/v1/collections/small/records?limit=2');
    expect(pages.map((page) => page.items.length)).toEqual([2, 2, 1]);
    const empty = await walk<{ id: string }>(t, owner.token, '/v1/collections/nothing_here/records?limit=50');
    expect(empty).toEqual([{ items: [], nextCursor: null, bytes: Buffer.byteLength('{"items":[],"nextCursor":null}') }]);
  });

  it('bounds an access-log page the same way: at least one entry, every entry once, in order', async () => {
    const tenant = await buildTenant(t);
    for (let i = 0; i < 40; i += 1) await buildRecord(t, tenant, 'logged', { i });
    for (let i = 0; i < 6; i += 1) await t.request({ method: 'GET', url: `/v1/collections/logged/records?limit=${5 + i * 7}`, token: tenant.token });
    // An entry larger than the whole bound (a list names up to 200 ids), appended as a list would.
    const cipher = await t.app.services.keyRing.cipherFor(tenant.tenantId);
    const ids = Array.from({ length: 200 }, () => newId());
    await t.app.services.accessLog.appendDurably(tenant.tenantId, cipher, {
      actor: { type: 'member', id: tenant.userId },
      action: 'list',
      resource: { type: 'collection', collection: 'logged' },
      details: { ids },
      ip: '127.0.0.1',
    });
    for (let i = 0; i < 10; i += 1) await buildRecord(t, tenant, 'logged', { i });

    const pages = await walk<{ seq: number; details?: { ids?: string[] } }>(t, tenant.token, '/v1/access-log?limit=500');
    expect(pages.length).toBeGreaterThan(3);
    expectBoundedPages(pages, MAX_BYTES, 500, 0);
    const big = pages.find((page) => page.items.some((entry) => entry.details?.ids?.length === 200))!;
    expect(big.items).toHaveLength(1);
    expect(big.bytes).toBeGreaterThan(MAX_BYTES);
    // Reading appends `read` entries as it goes; the walk still sees each seq once, with no gap.
    const seqs = pages.flatMap((page) => page.items.map((entry) => entry.seq));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(seqs.length).toBeGreaterThan(50);

    const limited = await walk<{ seq: number; actor: { type: string } }>(t, tenant.token, '/v1/access-log?limit=3&actorType=member');
    expectBoundedPages(limited, MAX_BYTES, 3, 0);
    const actorTypes = limited.flatMap((page) => page.items.map((entry) => entry.actor.type));
    expect(new Set(actorTypes)).toEqual(new Set(['member']));
    expect(actorTypes.length).toBeGreaterThan(seqs.length); // every entry of the first walk, and the reads since
  });

  it('bounds a security-events page the same way: every event once, newest first', async () => {
    const tenant = await buildTenant(t);
    // Events of every size: small sign-ins, and settings changes carrying their details.
    for (let i = 0; i < 30; i += 1) await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: tenant.email, password: tenant.password } });
    for (let i = 0; i < 5; i += 1) await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: tenant.token, payload: { sessionIdleSeconds: 600 + i } });
    await t.app.services.securityEvents.flush();
    const stored = Number(
      (await t.app.services.db.selectFrom('security_events').select((eb) => eb.fn.countAll().as('n')).where('tenant_id', '=', tenant.tenantId).executeTakeFirstOrThrow()).n,
    );
    const pages = await walk<{ id: string }>(t, tenant.token, '/v1/security-events?limit=500');
    expect(pages.length).toBeGreaterThan(1);
    expectBoundedPages(pages, MAX_BYTES, 500, 0);
    const ids = pages.flatMap((page) => page.items.map((event) => event.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(stored);
    expect([...ids].sort().reverse()).toEqual(ids);
  });

  it('pages the member list (limit, cursor, nextCursor) within the bound, every member once in join order', async () => {
    const tenant = await buildTenant(t);
    const { keyRing } = t.app.services;
    // Members joining at the same instant too: the order is (joined at, user id), and the cursor keeps it.
    const joined = ['2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z', '2030-01-02T00:00:00.000Z'];
    const members: Array<{ userId: string; email: string; createdAt: string }> = [];
    for (let i = 0; i < 100; i += 1) {
      const email = `m${i}-${'a'.repeat((i * 13) % 200)}-${randomBytes(3).toString('hex')}@example.test`;
      members.push({ userId: newId(), email, createdAt: joined[i % joined.length]! });
    }
    await t.app.services.transactions.run(async (trx) => {
      for (const member of members) {
        await insertUser(trx, { id: member.userId, email: member.email, emailIndex: `test-${member.userId}`, passwordHash: 'unusable', createdAt: member.createdAt, emailVerifiedAt: member.createdAt }, keyRing.systemCipher());
        await insertMembership(trx, { tenantId: tenant.tenantId, userId: member.userId, role: 'member', createdAt: member.createdAt });
      }
    });

    const pages = await walk<{ userId: string; email: string; role: string; mfa: boolean }>(t, tenant.token, '/v1/members?limit=500');
    expect(pages.length).toBeGreaterThan(2);
    expectBoundedPages(pages, MAX_BYTES, 500, 0);
    const expected = [...members].sort((a, b) => (a.createdAt === b.createdAt ? (a.userId < b.userId ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1));
    expect(pages.flatMap((page) => page.items)).toEqual([
      { userId: tenant.userId, email: tenant.email, role: 'owner', mfa: false },
      ...expected.map((member) => ({ userId: member.userId, email: member.email, role: 'member', mfa: false })),
    ]);

    const byLimit = await walk<{ userId: string }>(t, tenant.token, '/v1/members?limit=7');
    expect(byLimit.map((page) => page.items.length)).toEqual([...Array<number>(14).fill(7), 3]);
    expect(byLimit.flatMap((page) => page.items.map((item) => item.userId))).toEqual(pages.flatMap((page) => page.items.map((item) => item.userId)));

    const bad = await t.request({ method: 'GET', url: '/v1/members?cursor=bm9wZQ', token: tenant.token });
    expect(bad.statusCode).toBe(400);
    expect(errorCode(bad)).toBe('VALIDATION_FAILED');
  });
});
