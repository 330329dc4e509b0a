import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';

/**
 * Everything the HTTP layer refuses before or outside routing (Node's parser, Fastify's router)
 * answers through the one error edge, over a real TLS socket to a real listener: the contract's
 * error shape, the security headers every answer carries, `connection: close`, nothing of the
 * request echoed, and no framework name (issue 6, item 6).
 */

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  text: string;
  closedAfterMs: number;
}

/** A marker placed in every refused request, which must never come back in the answer. */
const CANARY = 'echocanary';

/** Writes raw bytes on a new TLS connection and reads until the server closes it. */
function exchange(port: number, request: string, options: { drip?: string; timeoutMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' });
    let text = '';
    let drip: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${options.timeoutMs ?? 10_000} ms; got: ${text.slice(0, 300)}`));
    }, options.timeoutMs ?? 10_000);
    socket.once('secureConnect', () => {
      socket.write(request);
      if (options.drip) drip = setInterval(() => socket.writable && socket.write(options.drip!), 1_000);
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined); // the server may reset after answering; what was read is what counts
    socket.once('close', () => {
      clearTimeout(timer);
      clearInterval(drip);
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers = Object.fromEntries(
        headerLines.map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n'), text, closedAfterMs: Date.now() - started });
    });
  });
}

/** The headers of an ordinary routed answer that say nothing about this particular response. */
// Headers that describe this one answer, not the listener's security posture: the rate-limit ones
// count a routed request against the caller's budget, which an answer before routing does not.
const PER_RESPONSE = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive', 'x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']);

function expectEdgeAnswer(answer: RawAnswer, status: number, code: string, reference: Record<string, string>): void {
  expect(answer.status, answer.text.slice(0, 500)).toBe(status);
  const body = JSON.parse(answer.body) as { error: { code: string; message: string; requestId: string } };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(answer.headers['x-request-id']).toBe(body.error.requestId);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.headers.connection).toBe('close');
  // The same security headers as an ordinary routed answer, name for name and value for value...
  for (const [name, value] of Object.entries(reference)) expect(answer.headers[name], name).toBe(value);
  // ...which include at least these (so the comparison above cannot pass on an empty reference).
  expect(answer.headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
  expect(answer.headers['content-security-policy']).toContain("default-src 'none'");
  expect(answer.headers['x-content-type-options']).toBe('nosniff');
  expect(answer.headers['x-frame-options']).toBe('DENY');
  expect(answer.headers['cache-control']).toBe('no-store');
  // Nothing reflected, no framework named.
  expect(answer.text).not.toContain(CANARY);
  expect(answer.text.toLowerCase()).not.toMatch(/fst_|fastify|node\.?js|\bnode\b|llhttp|hpe_/);
}

describe.each(DIALECTS)('the HTTP edge on %s', (dialect) => {
  let t: TestApp;
  let port: number;
  let reference: Record<string, string>;

  beforeAll(async () => {
    t = await createTestApp(dialect);
    await t.app.publicServer.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.publicServer.server.address() as { port: number }).port;
    const ordinary = await exchange(port, 'GET /no-such-route HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(ordinary.status).toBe(404);
    reference = Object.fromEntries(Object.entries(ordinary.headers).filter(([name]) => !PER_RESPONSE.has(name)));
  });
  afterAll(() => t.close());

  it('answers a path parameter over 200 characters 414 URI_TOO_LONG, not the router\'s own body', async () => {
    const answer = await exchange(port, `GET /v1/collections/${CANARY.repeat(30)}/records HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expectEdgeAnswer(answer, 414, 'URI_TOO_LONG', reference);
  });

  it('answers a path over 8 KiB 414 URI_TOO_LONG', async () => {
    const answer = await exchange(port, `GET /${CANARY.repeat(900)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expectEdgeAnswer(answer, 414, 'URI_TOO_LONG', reference);
  });

  it('answers a query over 8 KiB 414 URI_TOO_LONG, even on a route that ignores it', async () => {
    const answer = await exchange(port, `GET /healthz?q=${CANARY.repeat(900)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expectEdgeAnswer(answer, 414, 'URI_TOO_LONG', reference);
  });

  it('answers headers over 16 KiB 431 HEADERS_TOO_LARGE (SECURITY-CRITERIA abuse resistance: 431)', async () => {
    const answer = await exchange(port, `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${CANARY.repeat(2_000)}\r\n\r\n`);
    expectEdgeAnswer(answer, 431, 'HEADERS_TOO_LARGE', reference);
  });

  it('answers a request line over 16 KiB 431 HEADERS_TOO_LARGE (Node counts it with the headers)', async () => {
    const answer = await exchange(port, `GET /healthz?q=${CANARY.repeat(1_800)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expectEdgeAnswer(answer, 431, 'HEADERS_TOO_LARGE', reference);
  });

  it('answers a malformed request line 400 BAD_REQUEST', async () => {
    const answer = await exchange(port, `BR@KEN /${CANARY} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expectEdgeAnswer(answer, 400, 'BAD_REQUEST', reference);
  });

  it('answers a malformed header 400 BAD_REQUEST', async () => {
    const answer = await exchange(port, `GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad ${CANARY}: x\r\n\r\n`);
    expectEdgeAnswer(answer, 400, 'BAD_REQUEST', reference);
  });

  it('answers a URL that does not decode 400 BAD_REQUEST', async () => {
    const answer = await exchange(port, `GET /v1/collections/%zz${CANARY}/records HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expectEdgeAnswer(answer, 400, 'BAD_REQUEST', reference);
  });

  it('still serves ordinary requests on the same listener', async () => {
    const answer = await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ status: 'ok' });
  });
});

// Timing cases: no database is involved, so once is enough.
describe('slow clients at the HTTP edge', () => {
  let t: TestApp;
  let port: number;
  let reference: Record<string, string>;

  beforeAll(async () => {
    t = await createTestApp('sqlite');
    await t.app.publicServer.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.publicServer.server.address() as { port: number }).port;
    const ordinary = await exchange(port, 'GET /no-such-route HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    reference = Object.fromEntries(Object.entries(ordinary.headers).filter(([name]) => !PER_RESPONSE.has(name)));
  });
  afterAll(() => t.close());

  it('answers headers that trickle in past the 10 s header timeout 408 REQUEST_TIMEOUT, and closes', { timeout: 40_000 }, async () => {
    const answer = await exchange(port, `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-${CANARY}: `, { drip: 'a', timeoutMs: 30_000 });
    expectEdgeAnswer(answer, 408, 'REQUEST_TIMEOUT', reference);
    expect(answer.closedAfterMs).toBeGreaterThanOrEqual(9_000);
    expect(answer.closedAfterMs).toBeLessThan(20_000);
  });

  it('closes a TCP connection that never starts TLS within the 10 s handshake timeout', { timeout: 40_000 }, async () => {
    const started = Date.now();
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    const closedAfter = await new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
    expect(closedAfter).toBeGreaterThanOrEqual(9_000);
    expect(closedAfter).toBeLessThan(20_000);
  });
});
