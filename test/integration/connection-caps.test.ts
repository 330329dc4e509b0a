import { request } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { connectionRefusals, type ConnectionRefusal } from '../../src/http/connection-caps.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';

/**
 * Connection caps and slow clients over real sockets to real listeners (issue 10, item 1;
 * SECURITY-CRITERIA "Abuse resistance": connection caps, header timeout, and "Slowloris, 1000
 * sockets"). Linux routes all of 127.0.0.0/8 to the loopback interface, so a client binding
 * `localAddress: 127.0.0.N` is a different client IP to the server: that is how 1,000 connections
 * come from several addresses without the per-IP cap refusing them all.
 *
 * The exact total-cap arithmetic is checked in the small suite at the end, with a handful of
 * sockets: 1,000 TLS connections take seconds to open on a loaded machine, and the first reach
 * their header timeout 10 s later, so the count stays still only for a window whose length this
 * test cannot promise, and "exactly this many more fit" would be a timing bet.
 *
 * This process holds ~2,000 descriptors at the peak (both ends of every connection); `ulimit -n`
 * is 20,000 here and Node raises its soft limit to the hard one, so nothing needs raising.
 * SQLite only: nothing here touches storage, and the large suite holds the machine for ~20 s.
 */

const HOST = '127.0.0.1';
/** How long a refused connection may take to be closed by the server (it is closed at once; this is room for a loaded machine). */
const REFUSED_WITHIN_MS = 1_500;

/** Every socket a test opened, destroyed at the end whatever happened. */
const opened = new Set<Socket>();
const drips = new Set<NodeJS.Timeout>();

function track<S extends Socket>(socket: S): S {
  opened.add(socket);
  socket.on('error', () => undefined); // resets are expected: what counts is whether and when the socket closes
  socket.once('close', () => opened.delete(socket));
  return socket;
}

function portOf(server: FastifyInstance): number {
  return (server.server.address() as { port: number }).port;
}

function refusalCount(listener: string, reason: ConnectionRefusal): number {
  return connectionRefusals().find((entry) => entry.listener === listener && entry.reason === reason)?.count ?? 0;
}

interface OpenTls {
  socket: TLSSocket;
  openedAt: number;
  /** When the server closed it (ms since the epoch). */
  closedAt: Promise<number>;
}

/** A TLS connection from `localAddress` that completes its handshake and then sends nothing (unless the caller writes). */
function openTls(port: number, localAddress: string): Promise<OpenTls> {
  return new Promise((resolve, reject) => {
    const tcp = track(netConnect({ host: HOST, port, localAddress }));
    const socket = track(tlsConnect({ socket: tcp, servername: 'localhost', rejectUnauthorized: false }));
    socket.resume(); // reads (and drops) the 408 the server sends at the timeout, so the close is seen when it comes
    const closedAt = new Promise<number>((done) => socket.once('close', () => done(Date.now())));
    socket.once('secureConnect', () => resolve({ socket, openedAt: Date.now(), closedAt }));
    socket.once('close', () => reject(new Error(`TLS connection from ${localAddress} closed before its handshake`)));
  });
}

/**
 * A bare TCP connection from `localAddress` that sends nothing: `refused` when the server closes
 * it within REFUSED_WITHIN_MS without a byte (so before any TLS handshake: the client never sent
 * its ClientHello), else `open` (an admitted socket waits for its ClientHello until the handshake
 * timeout), with the socket to close later.
 */
function probe(port: number, localAddress: string): Promise<{ outcome: 'refused' | 'open'; socket: Socket; bytes: number }> {
  return new Promise((resolve) => {
    const socket = track(netConnect({ host: HOST, port, localAddress }));
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    const timer = setTimeout(() => resolve({ outcome: 'open', socket, bytes }), REFUSED_WITHIN_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ outcome: 'refused', socket, bytes });
    });
  });
}

/** GET /healthz on a fresh TLS connection from `localAddress`: its status and how long it took, connection included. */
function timedHealthz(port: number, localAddress = HOST): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      { host: HOST, port, localAddress, path: '/healthz', agent: false, rejectUnauthorized: false, servername: 'localhost', headers: { connection: 'close' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function connectionsOf(server: FastifyInstance): Promise<number> {
  return new Promise((resolve, reject) => server.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function closeEverything(): void {
  for (const timer of drips) clearInterval(timer);
  drips.clear();
  for (const socket of opened) socket.destroy();
  opened.clear();
}

async function inBatches<T>(count: number, size: number, open: (index: number) => Promise<T>): Promise<T[]> {
  const all: T[] = [];
  for (let start = 0; start < count; start += size) {
    all.push(...(await Promise.all(Array.from({ length: Math.min(size, count - start) }, (_, offset) => open(start + offset)))));
  }
  return all;
}

describe('1,000 idle TLS connections and slowloris clients on the public listener (SECURITY-CRITERIA: slowloris, 1000 sockets)', () => {
  const PER_IP = 100;
  /** 10 addresses × PER_IP: every one of them exactly at its cap. */
  const IDLE_ADDRESSES = Array.from({ length: 10 }, (_, index) => `127.0.0.${index + 2}`);
  const SLOWLORIS = '127.0.0.12';
  const SLOWLORIS_COUNT = 5;
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await createTestApp('sqlite', { env: { CONFIDE_MAX_CONNECTIONS_PER_IP: String(PER_IP), CONFIDE_MAX_CONNECTIONS: '2000', CONFIDE_LOG_LEVEL: 'warn' } });
    await t.app.publicServer.listen({ host: HOST, port: 0 });
    port = portOf(t.app.publicServer);
  });
  afterAll(async () => {
    closeEverything();
    await t.close();
  });

  it('serves a new client within budget, refuses over the per-IP cap before TLS, and cuts idle and dripping sockets off at the header timeout', { timeout: 60_000 }, async () => {
    // 1,000 TLS connections, 100 per address, one address after the other, which complete
    // their handshake and then send nothing. Catches a per-IP cap that refuses below its limit
    // (off by one, or counted for all addresses together).
    const idle: OpenTls[] = [];
    for (const address of IDLE_ADDRESSES) idle.push(...(await inBatches(PER_IP, 50, () => openTls(port, address))));
    expect(idle).toHaveLength(1_000);

    // Slowloris: headers started and dripped a byte a second, never finished.
    const slow = await Promise.all(
      Array.from({ length: SLOWLORIS_COUNT }, async () => {
        const connection = await openTls(port, SLOWLORIS);
        connection.socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
        drips.add(setInterval(() => connection.socket.writable && connection.socket.write('a'), 1_000));
        return connection;
      }),
    );

    // Over the per-IP cap: five more from each of the two addresses filled last (so none of
    // theirs has reached its timeout yet, however slowly this machine opened the rest), all
    // closed at once without a byte: no ServerHello, the refusal comes before the handshake.
    // Catches a missing per-IP cap, and one applied after the TLS handshake (the probe sends no
    // ClientHello, so a socket let through would stay open until the handshake timeout).
    const perIpBefore = refusalCount('public', 'per-ip');
    const full = IDLE_ADDRESSES.slice(-2);
    const overPerIp = await Promise.all(Array.from({ length: 10 }, (_, index) => probe(port, full[index % 2]!)));
    expect(overPerIp.map((result) => result.outcome)).toEqual(Array.from({ length: 10 }, () => 'refused'));
    expect(overPerIp.every((result) => result.bytes === 0)).toBe(true);
    // Counted, for the metrics: catches refusals made some other way than by the cap.
    expect(refusalCount('public', 'per-ip') - perIpBefore).toBe(10);

    // A new, legitimate client (another address) is served while all of that is held open.
    // Budget: each request, fresh TCP + TLS handshake included, under 2 s on a loaded 2-core
    // machine (~10 ms on an idle one). Catches the client being refused or starved.
    expect(await connectionsOf(t.app.publicServer)).toBeGreaterThanOrEqual(1_000);
    const latencies: number[] = [];
    for (let index = 0; index < 20; index += 1) {
      const answer = await timedHealthz(port);
      expect(answer.status).toBe(200);
      latencies.push(answer.ms);
    }
    expect(Math.max(...latencies), `latencies: ${latencies.map(Math.round).join(', ')} ms`).toBeLessThan(2_000);

    // Idle and dripping connections alike are closed by the header timeout (10 s from the
    // handshake, checked every second): not before ~10 s (catches the caps closing admitted
    // sockets early), and well before Node's own defaults of 60 s / 300 s (catches a timeout
    // that is missing or that a drip keeps resetting).
    const lifetimes = await Promise.all([...idle, ...slow].map(async (connection) => (await connection.closedAt) - connection.openedAt));
    expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(9_000);
    expect(Math.max(...lifetimes)).toBeLessThan(17_000);
    closeEverything();

    // Every slot is given back when its connection closes: the addresses that were at their cap
    // are served again. Catches a per-IP count that leaks (never decremented on close).
    await until(async () => (await connectionsOf(t.app.publicServer)) === 0, 5_000, 'every connection to close');
    for (const address of full) expect((await timedHealthz(port, address)).status).toBe(200);
  });
});

describe.each(['public', 'admin'] as const)('connection caps on the %s listener (SECURITY-CRITERIA: connection caps, 15.3.4 trusted proxies)', (listener) => {
  const TRUSTED_PROXY = '127.0.1.9';
  let t: TestApp;
  let server: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    t = await createTestApp('sqlite', {
      // Each listener believes its own list of proxies: the one under test names TRUSTED_PROXY, the other none.
      env: { CONFIDE_MAX_CONNECTIONS_PER_IP: '2', CONFIDE_MAX_CONNECTIONS: '8', [listener === 'public' ? 'CONFIDE_TRUSTED_PROXIES' : 'CONFIDE_ADMIN_TRUSTED_PROXIES']: TRUSTED_PROXY, CONFIDE_LOG_LEVEL: 'warn' },
    });
    server = listener === 'public' ? t.app.publicServer : t.app.adminServer;
    await server.listen({ host: HOST, port: 0 });
    port = portOf(server);
  });
  afterAll(async () => {
    closeEverything();
    await t.close();
  });

  it('refuses a third connection from one IP, exempts a trusted proxy from that, and refuses everyone over the total', async () => {
    const perIpBefore = refusalCount(listener, 'per-ip');
    const totalBefore = refusalCount(listener, 'total');

    // One client: two admitted, the third refused at once. Catches a listener left uncapped
    // (the caps wired to one listener only).
    // (Probes run side by side: an admitted one stays open until the 10 s handshake timeout.)
    const client = await Promise.all(Array.from({ length: 3 }, () => probe(port, '127.0.1.8')));
    expect(client.map((result) => result.outcome).sort()).toEqual(['open', 'open', 'refused']);
    expect(refusalCount(listener, 'per-ip') - perIpBefore).toBe(1);

    // A trusted proxy carries many clients' connections from one address: five admitted.
    // Catches the per-IP cap applied to trusted-proxy peers, which would cap the
    // whole service behind the proxy at two connections.
    const proxy = await Promise.all(Array.from({ length: 5 }, () => probe(port, TRUSTED_PROXY)));
    expect(proxy.map((result) => result.outcome)).toEqual(Array.from({ length: 5 }, () => 'open'));

    // 2 + 5 open: one more from a fresh client fills the total of 8, the next are refused,
    // trusted proxy or not. Catches a missing total cap, or one the exemption bypasses.
    expect(await connectionsOf(server)).toBe(7);
    const late = [await probe(port, '127.0.1.20'), ...(await Promise.all([probe(port, '127.0.1.21'), probe(port, TRUSTED_PROXY)]))];
    expect(late.map((result) => result.outcome)).toEqual(['open', 'refused', 'refused']);
    expect(late.every((result) => result.bytes === 0)).toBe(true);
    expect(refusalCount(listener, 'total') - totalBefore).toBe(2);
    expect(refusalCount(listener, 'per-ip') - perIpBefore).toBe(1);

    // Closing gives the slots back: the client that was refused is admitted again.
    for (const result of [...client, ...proxy, ...late]) result.socket.destroy();
    await until(async () => (await connectionsOf(server)) === 0, 5_000, 'every connection to close');
    expect((await probe(port, '127.0.1.8')).outcome).toBe('open');
  });
});
