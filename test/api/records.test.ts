import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode, type TestTenant } from '../harness/builders.js';

describe.each(DIALECTS)('records on %s', (dialect) => {
  let t: TestApp;
  let owner: TestTenant;
  beforeAll(async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_BODY_LIMIT_BYTES: '65536' } });
    owner = await buildTenant(t);
  });
  afterAll(() => t.close());

  const countRecords = async () => Number((await t.app.services.db.selectFrom('records').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const countEntries = async () => Number((await t.app.services.db.selectFrom('access_log').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it('creates, reads, updates, lists and deletes a record', async () => {
    const created = await t.request({ method: 'POST', url: '/v1/collections/patients/records', token: owner.token, payload: { name: 'Ada', tags: ['x'], nested: { n: 1 } } });
    expect(created.statusCode).toBe(201);
    const record = created.json();
    expect(record).toMatchObject({ collection: 'patients', data: { name: 'Ada', tags: ['x'], nested: { n: 1 } }, version: 1 });
    expect(record.createdAt).toBe(record.updatedAt);

    const read = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: owner.token });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(record);
    expect(read.headers.etag).toBe('"1"');

    const updated = await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${record.id}`, token: owner.token, headers: { 'if-match': '"1"' }, payload: { name: 'Ada L.' } });
    expect(updated.statusCode).toBe(200);
    expect(updated.json()).toMatchObject({ id: record.id, data: { name: 'Ada L.' }, version: 2, createdAt: record.createdAt });

    const list = await t.request({ method: 'GET', url: '/v1/collections/patients/records', token: owner.token });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((item: { id: string }) => item.id)).toContain(record.id);

    expect((await t.request({ method: 'DELETE', url: `/v1/collections/patients/records/${record.id}`, token: owner.token })).statusCode).toBe(204);
    const gone = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: owner.token });
    expect(gone.statusCode).toBe(404);
    expect(errorCode(gone)).toBe('NOT_FOUND');
    const again = await t.request({ method: 'DELETE', url: `/v1/collections/patients/records/${record.id}`, token: owner.token });
    expect(again.statusCode).toBe(404);
  });

  it('refuses a stale update with 409 and keeps the newer data', async () => {
    const record = await buildRecord(t, owner, 'orders', { n: 1 });
    const first = await t.request({ method: 'PUT', url: `/v1/collections/orders/records/${record.id}`, token: owner.token, headers: { 'if-match': '1' }, payload: { n: 2 } });
    expect(first.statusCode).toBe(200);
    const stale = await t.request({ method: 'PUT', url: `/v1/collections/orders/records/${record.id}`, token: owner.token, headers: { 'if-match': '1' }, payload: { n: 3 } });
    expect(stale.statusCode).toBe(409);
    expect(errorCode(stale)).toBe('CONFLICT');
    expect(stale.json().error.details.currentVersion).toBe(2);
    const read = await t.request({ method: 'GET', url: `/v1/collections/orders/records/${record.id}`, token: owner.token });
    expect(read.json()).toMatchObject({ data: { n: 2 }, version: 2 });
  });

  it('updates without If-Match as last writer wins, bumping the version', async () => {
    const record = await buildRecord(t, owner, 'orders', { n: 1 });
    const response = await t.request({ method: 'PUT', url: `/v1/collections/orders/records/${record.id}`, token: owner.token, payload: { n: 9 } });
    expect(response.json()).toMatchObject({ data: { n: 9 }, version: 2 });
  });

  it('pages through a collection with cursors, every record exactly once, in creation order', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) ids.push((await buildRecord(t, owner, 'paged', { i })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/collections/paged/records?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await t.request({ method: 'GET', url, token: owner.token });
      expect(page.statusCode).toBe(200);
      seen.push(...page.json().items.map((item: { id: string }) => item.id));
      cursor = page.json().nextCursor;
      pages += 1;
    } while (cursor);
    expect(seen).toEqual(ids);
    expect(pages).toBe(3);
  });

  it('lists an unknown collection as empty', async () => {
    const response = await t.request({ method: 'GET', url: '/v1/collections/never_written/records', token: owner.token });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ items: [], nextCursor: null });
  });

  it('answers a valid id that does not exist with 404', async () => {
    const response = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${uuidv7()}`, token: owner.token });
    expect(response.statusCode).toBe(404);
    expect(errorCode(response)).toBe('NOT_FOUND');
  });

  const record = () => `/v1/collections/patients/records/${uuidv7()}`;
  const badRequests: Array<[string, () => Record<string, unknown>, number, string]> = [
    ['a collection name with capitals', () => ({ method: 'POST', url: '/v1/collections/Patients/records', payload: { a: 1 } }), 400, 'VALIDATION_FAILED'],
    ['a collection name starting with a digit', () => ({ method: 'POST', url: '/v1/collections/1abc/records', payload: { a: 1 } }), 400, 'VALIDATION_FAILED'],
    ['a collection name of 64 characters', () => ({ method: 'POST', url: `/v1/collections/a${'b'.repeat(63)}/records`, payload: { a: 1 } }), 400, 'VALIDATION_FAILED'],
    ['a collection name with a dot', () => ({ method: 'POST', url: '/v1/collections/a.b/records', payload: { a: 1 } }), 400, 'VALIDATION_FAILED'],
    ['a JSON array body', () => ({ method: 'POST', url: '/v1/collections/patients/records', payload: [1, 2] }), 400, 'VALIDATION_FAILED'],
    ['a JSON string body', () => ({ method: 'POST', url: '/v1/collections/patients/records', headers: { 'content-type': 'application/json' }, payload: '"text"' }), 400, 'VALIDATION_FAILED'],
    ['a JSON null body', () => ({ method: 'POST', url: '/v1/collections/patients/records', headers: { 'content-type': 'application/json' }, payload: 'null' }), 400, 'VALIDATION_FAILED'],
    ['malformed JSON', () => ({ method: 'POST', url: '/v1/collections/patients/records', headers: { 'content-type': 'application/json' }, payload: '{"a":' }), 400, 'BAD_REQUEST'],
    ['an empty JSON body', () => ({ method: 'POST', url: '/v1/collections/patients/records', headers: { 'content-type': 'application/json' }, payload: '' }), 400, 'BAD_REQUEST'],
    ['a non-JSON content type', () => ({ method: 'POST', url: '/v1/collections/patients/records', headers: { 'content-type': 'text/plain' }, payload: 'hello' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['an oversized body', () => ({ method: 'POST', url: '/v1/collections/patients/records', payload: { big: 'x'.repeat(70_000) } }), 413, 'PAYLOAD_TOO_LARGE'],
    ['a record id that is not a UUID', () => ({ method: 'GET', url: '/v1/collections/patients/records/123' }), 400, 'VALIDATION_FAILED'],
    ['an SQL-looking id', () => ({ method: 'GET', url: "/v1/collections/patients/records/1'%20OR%20'1'='1" }), 400, 'VALIDATION_FAILED'],
    ['a bad If-Match', () => ({ method: 'PUT', url: record(), headers: { 'if-match': 'abc' }, payload: { a: 1 } }), 400, 'VALIDATION_FAILED'],
    ['a limit of 0', () => ({ method: 'GET', url: '/v1/collections/patients/records?limit=0' }), 400, 'VALIDATION_FAILED'],
    ['a limit that is not a number', () => ({ method: 'GET', url: '/v1/collections/patients/records?limit=ten' }), 400, 'VALIDATION_FAILED'],
    ['a limit over 200', () => ({ method: 'GET', url: '/v1/collections/patients/records?limit=201' }), 400, 'VALIDATION_FAILED'],
    ['a forged cursor', () => ({ method: 'GET', url: `/v1/collections/patients/records?cursor=${Buffer.from('r1:nope').toString('base64url')}` }), 400, 'VALIDATION_FAILED'],
    ['an unknown query parameter', () => ({ method: 'GET', url: '/v1/collections/patients/records?tenantId=x' }), 400, 'VALIDATION_FAILED'],
    ['an unknown route', () => ({ method: 'GET', url: '/v1/nothing-here' }), 404, 'NOT_FOUND'],
  ];
  it.each(badRequests)('refuses %s with the documented code and changes nothing', async (_name, make, status, code) => {
    const records = await countRecords();
    const entries = await countEntries();
    const response = await t.request({ ...(make() as object), token: owner.token });
    expect(response.statusCode, response.body).toBe(status);
    expect(errorCode(response)).toBe(code);
    expect(await countRecords()).toBe(records);
    expect(await countEntries()).toBe(entries);
  });

  it.each([
    ['create', 'POST', '/v1/collections/patients/records'],
    ['read', 'GET', `/v1/collections/patients/records/${uuidv7()}`],
    ['update', 'PUT', `/v1/collections/patients/records/${uuidv7()}`],
    ['delete', 'DELETE', `/v1/collections/patients/records/${uuidv7()}`],
    ['list', 'GET', '/v1/collections/patients/records'],
  ])('refuses to %s without a valid token, and changes nothing', async (_name, method, url) => {
    const records = await countRecords();
    for (const headers of [{}, { authorization: 'Bearer cfs_forged' }, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }]) {
      const response = await t.request({ method: method, url, headers, ...(method === 'POST' || method === 'PUT' ? { payload: { a: 1 } } : {}) });
      expect(response.statusCode).toBe(401);
      expect(errorCode(response)).toBe('UNAUTHENTICATED');
      expect(response.body).not.toContain('"data"');
    }
    expect(await countRecords()).toBe(records);
  });

  it('keeps a record intact through unicode, deep nesting and large numbers', async () => {
    const data = { text: 'Grüße 🌍 \u0000 "quoted" \\ back', deep: { a: { b: { c: { d: [1, { e: null }] } } } }, n: 12345678901234, f: -0.5, t: true };
    const created = await buildRecord(t, owner, 'odd', data);
    const read = await t.request({ method: 'GET', url: `/v1/collections/odd/records/${created.id}`, token: owner.token });
    expect(read.json().data).toEqual(data);
  });

  it('answers a create and a read with the same JSON text, byte for byte, as the schema serialises', async () => {
    // A create and a read splice the data into their answer as it is sealed (records.ts,
    // RecordJson) where an update's answer is serialised from the object through the response
    // schema: integer-like keys, escapes, unicode and numbers must come out the same either way.
    const data = { b: 1, 10: 'ten', 2: 'two', text: 'Grüße 🌍 \u0000 "q" \\ \u2028', n: 1e21, small: 5e-7, neg: -0, list: [{ z: 1, a: 2 }], empty: {} };
    const created = await t.request({ method: 'POST', url: '/v1/collections/verbatim/records', token: owner.token, payload: data });
    expect(created.statusCode).toBe(201);
    const { id, createdAt } = created.json();
    const fields = (version: number, updatedAt: string) => ({ id, collection: 'verbatim', data: JSON.parse(JSON.stringify(data)), version, createdAt, updatedAt, files: [] });
    expect(created.body).toBe(JSON.stringify(fields(1, createdAt)));
    const url = `/v1/collections/verbatim/records/${id}`;
    const read = await t.request({ method: 'GET', url, token: owner.token });
    expect(read.statusCode).toBe(200);
    expect(read.body).toBe(created.body);
    expect(read.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(created.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(read.headers['content-length']).toBe(String(Buffer.byteLength(read.body)));
    const list = await t.request({ method: 'GET', url: '/v1/collections/verbatim/records', token: owner.token });
    expect(list.body).toBe(`{"items":[${created.body}],"nextCursor":null}`);

    const updated = await t.request({ method: 'PUT', url, token: owner.token, payload: data });
    expect(updated.statusCode).toBe(200);
    expect(updated.body).toBe(JSON.stringify(fields(2, updated.json().updatedAt)));
    expect((await t.request({ method: 'GET', url, token: owner.token })).body).toBe(updated.body);
  });

  it('accepts a collection name of exactly 63 characters and any random UUID as an id to look up', async () => {
    const name = `a${'b'.repeat(62)}`;
    expect((await t.request({ method: 'POST', url: `/v1/collections/${name}/records`, token: owner.token, payload: { ok: true } })).statusCode).toBe(201);
    const random = await t.request({ method: 'GET', url: `/v1/collections/${name}/records/${uuidv4()}`, token: owner.token });
    expect(random.statusCode).toBe(404);
  });

  it('never writes a record value into the logs', async () => {
    const canary = `canary-${randomBytes(8).toString('hex')}`;
    const created = await buildRecord(t, owner, 'secrets', { canary });
    await t.request({ method: 'GET', url: `/v1/collections/secrets/records/${created.id}`, token: owner.token });
    const logs = t.logs.join('');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(canary);
    expect(logs).not.toContain(owner.token);
    expect(logs).not.toContain(owner.password);
  });
});
