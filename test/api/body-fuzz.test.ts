import fc from 'fast-check';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/lib/error-catalogue.js';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';

/**
 * "Never 500 on bad input" (issue 6, item 4; SECURITY-CRITERIA "Fuzzing parsers": 0 crashes,
 * 0 unhandled rejections, 0 5xx): every operation of the public OpenAPI document gets nested,
 * huge and malformed bodies, then random ones, as a signed-in owner. Each answer must be below
 * 500 and, when an error, in the contract's shape; a body nested deeper than 64 levels must be
 * refused 400 VALIDATION_FAILED wherever a body is parsed.
 */
const RANDOM_RUNS = Number(process.env.CONFIDE_BODY_FUZZ_RUNS ?? 2_000);
const BODY_LIMIT = 1_048_576; // CONFIDE_BODY_LIMIT_BYTES' default, which the test app keeps

interface Operation {
  method: string;
  path: string;
  hasBody: boolean;
  /** The top-level field names of its JSON body, from the OpenAPI document. */
  fields: string[];
}

interface FuzzBody {
  label: string;
  payload: string | Buffer;
  contentType?: string;
}

const nestedObject = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;
const nestedArray = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

const MALFORMED: FuzzBody[] = [
  { label: 'over the body limit', payload: JSON.stringify({ a: 'x'.repeat(BODY_LIMIT) }) },
  { label: 'truncated', payload: '{"name": "trunc' },
  { label: 'invalid UTF-8', payload: Buffer.concat([Buffer.from('{"name": "'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"}')]) },
  { label: 'text/plain', payload: '{"name": "x"}', contentType: 'text/plain' },
  { label: 'application/xml', payload: '<name>x</name>', contentType: 'application/xml' },
  { label: 'form-encoded', payload: 'name=x', contentType: 'application/x-www-form-urlencoded' },
  { label: 'a __proto__ key', payload: '{"__proto__": {"isAdmin": true}}' },
  { label: 'a constructor.prototype key', payload: '{"constructor": {"prototype": {"isAdmin": true}}}' },
  { label: 'duplicate keys', payload: '{"name": "a", "name": "b"}' },
  { label: '1e999', payload: '{"n": 1e999}' },
  { label: '-1e999 in an array', payload: '{"n": [1, -1e999]}' },
  { label: 'empty', payload: '' },
  { label: 'an array', payload: '[]' },
  { label: 'an array of objects', payload: '[{"name": "x"}]' },
  { label: 'a string', payload: '"x"' },
  { label: 'null', payload: 'null' },
  { label: 'a number', payload: '42' },
];

/** Exact answers where the edge alone decides, whatever the operation. */
const EXPECTED: Record<string, [number, string]> = {
  'over the body limit': [413, 'PAYLOAD_TOO_LARGE'],
  truncated: [400, 'BAD_REQUEST'],
  'text/plain': [415, 'UNSUPPORTED_MEDIA_TYPE'],
  'application/xml': [415, 'UNSUPPORTED_MEDIA_TYPE'],
  'form-encoded': [415, 'UNSUPPORTED_MEDIA_TYPE'],
  'a __proto__ key': [400, 'BAD_REQUEST'],
  'a constructor.prototype key': [400, 'BAD_REQUEST'],
  '1e999': [400, 'VALIDATION_FAILED'],
  '-1e999 in an array': [400, 'VALIDATION_FAILED'],
  empty: [400, 'BAD_REQUEST'],
};

/**
 * Objects with the operation's own field names and random values, so bodies get past the schema's
 * first checks and into the handlers. Booleans are left out: a random `requireMfa: true` would
 * lock the owner out of most operations for the rest of the run.
 */
const shapedBody = (fields: string[]): fc.Arbitrary<FuzzBody> =>
  fc
    .dictionary(
      fields.length > 0 ? fc.constantFrom(...fields) : fc.string({ maxLength: 8 }),
      fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.double(), fc.constant(null), fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v === 'object')),
    )
    .map((value) => ({ label: 'shaped JSON', payload: JSON.stringify(value) }));

/** Random bodies: JSON values, random nesting around the limit, broken JSON, and random bytes. */
const randomBody: fc.Arbitrary<FuzzBody> = fc.oneof(
  fc.jsonValue({ maxDepth: 6 }).map((value) => ({ label: 'random JSON', payload: JSON.stringify(value) ?? 'null' })),
  {
    weight: 2,
    // An object (what most operations take) holding objects or arrays, around the limit and as
    // deep as the ~4,000 levels that once overflowed the stack (issue 6).
    arbitrary: fc
      .tuple(fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1_000, max: 20_000 })), fc.constantFrom('{"k":', '['), fc.jsonValue({ maxDepth: 1 }))
      .map(([levels, open, leaf]) => ({
        label: `random nesting of ${levels}`,
        payload: `{"k":${open.repeat(levels - 1)}${JSON.stringify(leaf)}${(open === '[' ? ']' : '}').repeat(levels - 1)}}`,
      })),
  },
  fc
    .tuple(fc.jsonValue({ maxDepth: 4 }), fc.nat(), fc.string({ maxLength: 3 }))
    .map(([value, cut, noise]) => {
      const text = JSON.stringify(value) ?? 'null';
      const at = cut % (text.length + 1);
      return { label: 'broken JSON', payload: text.slice(0, at) + noise + text.slice(at + 1) };
    }),
  fc.uint8Array({ maxLength: 256 }).map((bytes) => ({ label: 'random bytes', payload: Buffer.from(bytes) })),
  fc
    .tuple(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('application/json; charset=utf-8', 'application/JSON', 'text/json', 'application/json; charset=latin1', ''))
    .map(([value, contentType]) => ({ label: `content-type "${contentType}"`, payload: JSON.stringify(value) ?? 'null', contentType })),
);

describe.each(DIALECTS)('request bodies on %s: never a 5xx', (dialect) => {
  let t: TestApp;
  let owner: TestTenant;
  let operations: Operation[];
  let recordId: string;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let ipCounter = 0;

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    t = await createTestApp(dialect);
    owner = await buildTenant(t);
    recordId = (await buildRecord(t, owner, 'fuzz_things')).id;
    type OpenApiOperation = { requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> } };
    const doc = (await t.request({ method: 'GET', url: '/v1/openapi.json' })).json<{ paths: Record<string, Record<string, OpenApiOperation>> }>();
    operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({
        method: method.toUpperCase(),
        path,
        hasBody: operation.requestBody !== undefined,
        fields: Object.keys(operation.requestBody?.content?.['application/json']?.schema?.properties ?? {}),
      })),
    );
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await t.close();
  });

  /** Path parameters filled with values that exist, so a body gets as far as it can. */
  const urlOf = (operation: Operation) =>
    operation.path.replace(/\{(\w+)\}/g, (_match, name: string) => {
      if (name === 'collection') return 'fuzz_things';
      if (name === 'userId') return owner.userId;
      if (name === 'id' && operation.path.startsWith('/v1/collections/')) return recordId;
      return uuidv7();
    });

  /** Each request from its own address, so per-IP rate limits never stand between a body and its parser. */
  const send = (operation: Operation, body: FuzzBody) => {
    ipCounter += 1;
    return t.request({
      method: operation.method,
      url: urlOf(operation),
      token: owner.token,
      remoteAddress: `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`,
      headers: body.contentType === '' ? {} : { 'content-type': body.contentType ?? 'application/json' },
      payload: body.payload,
    });
  };

  const expectContractAnswer = (response: { statusCode: number; body: string; headers: Record<string, unknown> }, what: string) => {
    expect(response.statusCode, `${what}: ${response.body.slice(0, 300)}`).toBeLessThan(500);
    expect(response.body, what).not.toMatch(/FST_|fastify|RangeError|stack/i);
    if (response.statusCode < 400) return;
    const error = (JSON.parse(response.body) as { error?: { code?: string; message?: unknown; requestId?: unknown } }).error;
    expect(error, `${what}: ${response.body.slice(0, 300)}`).toBeDefined();
    expect(Object.keys(ERROR_CATALOGUE), what).toContain(error!.code);
    expect(typeof error!.message, what).toBe('string');
    expect(error!.requestId, what).toBe(response.headers['x-request-id']);
  };

  it('reads the operations from the OpenAPI document', () => {
    expect(operations.filter((operation) => operation.hasBody).length).toBeGreaterThanOrEqual(20);
    expect(operations).toContainEqual(expect.objectContaining({ method: 'POST', path: '/v1/signup', hasBody: true, fields: expect.arrayContaining(['email', 'password']) }));
    expect(operations).toContainEqual(expect.objectContaining({ method: 'POST', path: '/v1/collections/{collection}/records', hasBody: true }));
  });

  it('refuses a body nested deeper than 64 levels, on every operation that takes a body, 400 VALIDATION_FAILED', { timeout: 120_000 }, async () => {
    // A file upload's body is the file itself, stored as sent and never parsed (docs/files.md): it has no depth to refuse.
    const isFileUpload = (operation: Operation) => operation.method === 'PUT' && operation.path.endsWith('/files/{name}');
    const bodyMethods = operations.filter((operation) => operation.method !== 'GET' && !isFileUpload(operation));
    expect(bodyMethods.length).toBeGreaterThan(0);
    expect(operations.filter(isFileUpload)).toHaveLength(1);
    for (const operation of bodyMethods) {
      for (const levels of [65, 1_000, 100_000]) {
        for (const [shape, payload] of [['objects', nestedObject(levels)], ['arrays', nestedArray(levels)]] as const) {
          const what = `${operation.method} ${operation.path} with ${levels} nested ${shape}`;
          const response = await send(operation, { label: what, payload });
          expectContractAnswer(response, what);
          expect(response.statusCode, what).toBe(400);
          expect(response.json().error, what).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'body', reason: 'too_deep' } });
        }
      }
    }
  });

  it('accepts a record nested exactly 64 levels deep, and stores it as sent', async () => {
    const data = JSON.parse(nestedObject(64)) as Record<string, unknown>;
    const created = await t.request({ method: 'POST', url: '/v1/collections/fuzz_things/records', token: owner.token, payload: data });
    expect(created.statusCode, created.body).toBe(201);
    const read = await t.request({ method: 'GET', url: `/v1/collections/fuzz_things/records/${created.json().id}`, token: owner.token });
    expect(read.json().data).toEqual(data);
  });

  it('answers huge and malformed bodies on every operation with a 4xx in the contract\'s shape', { timeout: 120_000 }, async () => {
    for (const operation of operations.filter((candidate) => candidate.hasBody)) {
      for (const body of MALFORMED) {
        const what = `${operation.method} ${operation.path} with ${body.label}`;
        const response = await send(operation, body);
        expectContractAnswer(response, what);
        const expected = EXPECTED[body.label];
        if (expected) {
          expect(response.statusCode, `${what}: ${response.body}`).toBe(expected[0]);
          expect(response.json().error.code, what).toBe(expected[1]);
        }
      }
    }
  });

  it(`answers ${RANDOM_RUNS} random bodies below 500, errors in the contract's shape`, { timeout: 180_000 }, async () => {
    const withBody = operations.filter((operation) => operation.hasBody);
    await fc.assert(
      fc.asyncProperty(
        fc.nat().chain((pick) => {
          const operation = withBody[pick % withBody.length]!;
          return fc.tuple(fc.constant(operation), fc.oneof(randomBody, shapedBody(operation.fields)));
        }),
        async ([operation, body]) => {
          const response = await send(operation, body);
          expectContractAnswer(response, `${operation.method} ${operation.path} with ${body.label}`);
        },
      ),
      { numRuns: RANDOM_RUNS, seed: 20_060_406 },
    );
  });

  it('left no unhandled rejection and logged no unexpected error', () => {
    expect(unhandled).toEqual([]);
    expect(t.logs.filter((line) => line.includes('unexpected error') || line.includes('"level":50'))).toEqual([]);
  });
});
