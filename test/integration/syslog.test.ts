import { randomBytes } from 'node:crypto';
import { webcrypto } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import * as x509 from '@peculiar/x509';
import pino from 'pino';
import { SyslogForwarder } from '../../src/security-events/syslog-forwarder.js';
import { systemClock } from '../../src/lib/time.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { buildTenant } from '../harness/builders.js';
import { DIALECTS } from '../harness/dialects.js';
import { freePort } from '../harness/free-port.js';
import { runCli } from '../harness/run-cli.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';

interface SyslogLine {
  pri: number;
  version: string;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  structuredData: string;
  msg: Record<string, unknown>;
}

/** RFC 5424 6: HEADER (PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID) SP STRUCTURED-DATA SP MSG. */
const RFC5424 = /^<(\d{1,3})>(1) (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.+?\]) (.*)$/s;

function parseLine(message: string): SyslogLine {
  const match = RFC5424.exec(message);
  if (!match) throw new Error(`not an RFC 5424 message: ${message}`);
  const [, pri, version, timestamp, hostname, appName, procId, msgId, structuredData, msg] = match;
  return { pri: Number(pri), version: version!, timestamp: timestamp!, hostname: hostname!, appName: appName!, procId: procId!, msgId: msgId!, structuredData: structuredData!, msg: JSON.parse(msg!) };
}

/**
 * A real syslog collector on loopback: a TCP server reading RFC 6587 octet-counted frames
 * (`LEN SP MSG`, no delimiter) and parsing each as RFC 5424. A frame whose length does not match
 * its bytes breaks every frame after it, so the count checks the framing as well.
 */
async function startCollector(port: number, tls?: { cert: string; key: string }): Promise<{ lines: SyslogLine[]; close(): Promise<void> }> {
  const lines: SyslogLine[] = [];
  const sockets = new Set<Socket>();
  const onConnection = (socket: Socket) => {
    sockets.add(socket);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const space = pending.indexOf(0x20);
        if (space < 0) return;
        const length = Number(pending.subarray(0, space).toString('ascii'));
        if (!Number.isInteger(length) || length <= 0) throw new Error(`bad octet count: ${pending.subarray(0, space).toString()}`);
        if (pending.length < space + 1 + length) return;
        lines.push(parseLine(pending.subarray(space + 1, space + 1 + length).toString('utf8')));
        pending = pending.subarray(space + 1 + length);
      }
    });
    socket.on('close', () => sockets.delete(socket));
  };
  const server: Server = tls ? createTlsServer(tls, onConnection) : createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    lines,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe.each(DIALECTS)('syslog forwarding of security events on %s', (dialect) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('forwards each security event as it is recorded to a real TCP collector: RFC 5424, octet counting, authpriv, app confide (ASVS 16.4.3)', async () => {
    const port = await freePort();
    const collector = await startCollector(port);
    try {
      t = await createTestApp(dialect, { env: { CONFIDE_SYSLOG_URL: `tcp://127.0.0.1:${port}` } });
      const tenant = await buildTenant(t);
      const wrong = `Wrong-${randomBytes(6).toString('hex')}-password`;
      const refused = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: tenant.email, password: wrong }, remoteAddress: '198.51.100.7' });
      expect(refused.statusCode).toBe(401);
      const failed = () => collector.lines.find((l) => l.msgId === 'signin.password' && l.msg.outcome === 'failure');
      await vi.waitFor(() => expect(failed()).toBeDefined(), { timeout: 10_000, interval: 50 });

      const line = failed()!;
      expect(line.pri).toBe(10 * 8 + 4); // authpriv.warning: a failure
      expect(line).toMatchObject({ version: '1', appName: 'confide', procId: String(process.pid), structuredData: '-' });
      expect(new Date(line.timestamp).toISOString()).toBe(line.timestamp);
      expect(line.msg).toMatchObject({ type: 'signin.password', outcome: 'failure', ip: '198.51.100.7', actor: { type: 'member', id: tenant.userId } });
      expect(line.msg.at).toBe(line.timestamp);
      expect(JSON.stringify(collector.lines)).not.toContain(wrong);
      // Sign-up's event, a success, came first: authpriv.info, with its tenant.
      const created = collector.lines.find((l) => l.msgId === 'tenant.created')!;
      expect(created.pri).toBe(10 * 8 + 6);
      expect(created.msg).toMatchObject({ outcome: 'success', tenant: tenant.tenantId });
    } finally {
      await collector.close();
    }
  });

  it('buffers events while the collector is down, sends them once it is up, and keeps the bound (oldest dropped, logged once)', async () => {
    const port = await freePort();
    t = await createTestApp(dialect, { env: { CONFIDE_SYSLOG_URL: `tcp://127.0.0.1:${port}`, CONFIDE_SYSLOG_BUFFER_LINES: '3' } });
    const record = (n: number) => t!.app.services.securityEvents.record({ type: 'apiKey.created', outcome: 'success', tenantId: 'tenant-syslog', details: { n } });
    for (let n = 1; n <= 5; n++) record(n);
    const forwarder = t.app.services.syslog!;
    expect(forwarder.status()).toMatchObject({ buffered: 3, dropped: 2, connected: false });
    const dropLogs = () => t!.logs.filter((entry) => entry.includes('dropping the oldest security events'));
    expect(dropLogs()).toHaveLength(1);

    const collector = await startCollector(port);
    try {
      await vi.waitFor(() => expect(collector.lines).toHaveLength(3), { timeout: 15_000, interval: 50 });
      expect(collector.lines.map((line) => (line.msg.details as { n: number }).n)).toEqual([3, 4, 5]);
      expect(t.logs.some((entry) => entry.includes('syslog collector reached again') && entry.includes('"dropped":2'))).toBe(true);
      record(6); // and, connected, the next one goes straight through
      await vi.waitFor(() => expect(collector.lines).toHaveLength(4), { timeout: 10_000, interval: 50 });
      expect(forwarder.status()).toEqual({ buffered: 0, dropped: 0, connected: true });
    } finally {
      await collector.close();
    }
    // The collector goes away again (seen by the forwarder): events wait, and arrive when a new one is up on the same address.
    await vi.waitFor(() => expect(forwarder.status().connected).toBe(false), { timeout: 10_000, interval: 20 });
    record(7);
    expect(forwarder.status().buffered).toBe(1);
    const again = await startCollector(port);
    try {
      await vi.waitFor(() => expect(again.lines.map((line) => (line.msg.details as { n: number }).n)).toContain(7), { timeout: 15_000, interval: 50 });
    } finally {
      await again.close();
    }
  });

  it('forwards what a CLI command records before the command exits: `confide staff add` reaches the collector', async () => {
    t = await createTestApp(dialect);
    const port = await freePort();
    const collector = await startCollector(port);
    try {
      const added = runCli(['staff', 'add', '--email', 'syslog-cli@ops.example', '--role', 'support', '--json'], { ...t.env, CONFIDE_SYSLOG_URL: `tcp://127.0.0.1:${port}` });
      expect(added.status, added.stderr).toBe(0);
      expect(added.stderr).toBe('');
      const { id } = JSON.parse(added.stdout) as { id: string };
      // runCli blocks this process while the command runs: the kernel took the connection and its bytes, read now.
      await vi.waitFor(() => expect(collector.lines.find((l) => l.msgId === 'staff.added')).toBeDefined(), { timeout: 10_000, interval: 50 });
      const line = collector.lines.find((l) => l.msgId === 'staff.added')!;
      expect(line).toMatchObject({ version: '1', appName: 'confide', structuredData: '-' });
      expect(line.pri).toBe(10 * 8 + 6); // authpriv.info: a success
      expect(line.procId).not.toBe(String(process.pid)); // sent by the command's own process
      expect(line.msg).toMatchObject({ type: 'staff.added', outcome: 'success', actor: { type: 'system' } });
      expect(JSON.stringify(line.msg)).toContain(id);
    } finally {
      await collector.close();
    }
  });

  it('a CLI command with the collector down still succeeds, after a bounded wait, and says what was not forwarded', async () => {
    t = await createTestApp(dialect);
    const port = await freePort(); // nothing listens there
    const started = Date.now();
    const added = runCli(['staff', 'add', '--email', 'syslog-down@ops.example', '--role', 'support'], { ...t.env, CONFIDE_SYSLOG_URL: `tcp://127.0.0.1:${port}` });
    expect(added.status, added.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(added.stderr).toBe(
      `confide: warning: 1 security event not forwarded to the syslog collector at 127.0.0.1:${port} (CONFIDE_SYSLOG_URL) within 5 s; they are stored in the database\n`,
    );
  }, 60_000);
});

/** A self-signed certificate for `localhost`, as a collector on another host would present (signed by a private CA). */
async function localhostCertificate(): Promise<{ cert: string; key: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  x509.cryptoProvider.set(webcrypto as never);
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=localhost',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: algorithm,
    keys,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return { cert: certificate.toString('pem'), key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n` };
}

describe('syslog forwarding over TLS', () => {
  it('sends over TLS to a collector whose certificate it trusts, and nothing to one it does not (RFC 5425)', async () => {
    const port = await freePort();
    const pem = await localhostCertificate();
    const collector = await startCollector(port, pem);
    const logger = pino({ level: 'silent' });
    const event = { type: 'apiKey.created', outcome: 'success', tenantId: 'tenant-tls', details: { over: 'tls' } } as const;
    const trusting = new SyslogForwarder({ transport: 'tls', host: 'localhost', port }, systemClock, logger, { bufferLines: 10, tls: { ca: pem.cert } });
    const doubting = new SyslogForwarder({ transport: 'tls', host: 'localhost', port }, systemClock, logger, { bufferLines: 10 });
    try {
      doubting.send({ ...event, details: { over: 'untrusted' } });
      trusting.send(event);
      await vi.waitFor(() => expect(collector.lines).toHaveLength(1), { timeout: 10_000, interval: 50 });
      expect(collector.lines[0]!.msg).toMatchObject({ type: 'apiKey.created', tenant: 'tenant-tls', details: { over: 'tls' } });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(collector.lines).toHaveLength(1); // the certificate it cannot verify gets nothing
      expect(doubting.status()).toMatchObject({ buffered: 1, connected: false });
    } finally {
      await trusting.stop(0);
      await doubting.stop(0);
      await collector.close();
    }
  });
});

/** A real TCP listener that takes connections and never says a word: no TLS handshake ever completes. */
async function silentListener(port: number): Promise<{ connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('syslog forwarder robustness', () => {
  const logger = pino({ level: 'silent' });
  const event = (n: number) => ({ type: 'apiKey.created', outcome: 'success', tenantId: 'tenant-robust', details: { n } }) as const;

  it('gives up a connection attempt whose TLS handshake never completes, retries, and keeps the events for a collector that does answer', async () => {
    const port = await freePort();
    const pem = await localhostCertificate();
    const silent = await silentListener(port);
    const options = { bufferLines: 10, connectTimeoutMs: 300, reconnectMs: 50, maxReconnectMs: 100, tls: { ca: pem.cert } };
    const forwarder = new SyslogForwarder({ transport: 'tls', host: 'localhost', port }, systemClock, logger, options);
    try {
      forwarder.send(event(1));
      forwarder.send(event(2));
      // Each attempt is abandoned after 300 ms and another one made: without the timeout the first would hang forever.
      await vi.waitFor(() => expect(silent.connections()).toBeGreaterThanOrEqual(3), { timeout: 10_000, interval: 50 });
      expect(forwarder.counts().connectionFailures).toBeGreaterThanOrEqual(2);
      expect(forwarder.status()).toMatchObject({ buffered: 2, connected: false });
      expect(forwarder.counts().sent).toBe(0);
      await silent.close();
      // A real collector takes the same port: the events kept meanwhile reach it, in order.
      const collector = await startCollector(port, pem);
      try {
        await vi.waitFor(() => expect(collector.lines).toHaveLength(2), { timeout: 10_000, interval: 50 });
        expect(collector.lines.map((line) => (line.msg.details as { n: number }).n)).toEqual([1, 2]);
        expect(forwarder.counts()).toMatchObject({ sent: 2, dropped: 0 });
      } finally {
        await forwarder.stop(0);
        await collector.close();
      }
    } finally {
      await forwarder.stop(0);
      await silent.close();
    }
  }, 30_000);

  it('drops the oldest in constant time: overflowing a full buffer costs about what filling it did, and the newest arrive in order', async () => {
    const port = await freePort(); // nothing listens yet
    const lines = 100_000;
    const forwarder = new SyslogForwarder({ transport: 'tcp', host: '127.0.0.1', port }, systemClock, logger, { bufferLines: lines, reconnectMs: 50, maxReconnectMs: 100 });
    try {
      const timed = (from: number) => {
        const started = performance.now();
        for (let n = from; n < from + lines; n += 1) forwarder.send(event(n));
        return performance.now() - started;
      };
      const filling = timed(0);
      const overflowing = timed(lines); // every send now also drops the oldest
      expect(forwarder.status()).toMatchObject({ buffered: lines, dropped: lines, connected: false });
      expect(forwarder.counts().dropped).toBe(lines);
      // With Array.shift() each drop moves the whole buffer: here about 30 times as long as filling it.
      expect(overflowing, `filling ${filling} ms, overflowing ${overflowing} ms`).toBeLessThan(4 * filling + 500);

      const collector = await startCollector(port);
      try {
        await vi.waitFor(() => expect(collector.lines).toHaveLength(lines), { timeout: 30_000, interval: 100 });
        const numbers = collector.lines.map((line) => (line.msg.details as { n: number }).n);
        expect(numbers[0]).toBe(lines);
        expect(numbers.every((n, i) => n === lines + i)).toBe(true);
        expect(forwarder.counts()).toMatchObject({ sent: lines, dropped: lines });
      } finally {
        await forwarder.stop(0);
        await collector.close();
      }
    } finally {
      await forwarder.stop(0);
    }
  }, 60_000);
});

describe('syslog configuration', () => {
  const base = { CONFIDE_MASTER_KEY: randomBytes(32).toString('base64') };
  const problem = (url: string) => {
    try {
      loadConfig({ ...base, CONFIDE_SYSLOG_URL: url }, '/tmp');
      return '';
    } catch (error) {
      return (error as Error).message;
    }
  };

  it('takes tls:// anywhere and tcp:// only for a loopback collector', () => {
    expect(loadConfig({ ...base, CONFIDE_SYSLOG_URL: 'tls://logs.example.com:6514' }, '/tmp').syslog.target).toEqual({ transport: 'tls', host: 'logs.example.com', port: 6514 });
    expect(loadConfig({ ...base, CONFIDE_SYSLOG_URL: 'tcp://[::1]:514' }, '/tmp').syslog.target).toEqual({ transport: 'tcp', host: '::1', port: 514 });
    expect(problem('tcp://logs.example.com:514')).toMatch(/^CONFIDE_SYSLOG_URL may use tcp:\/\/ only for a loopback host/);
    expect(problem('udp://127.0.0.1:514')).toMatch(/^CONFIDE_SYSLOG_URL must be tls:\/\/host:port/);
    expect(problem('tls://logs.example.com')).toMatch(/^CONFIDE_SYSLOG_URL must name a host and a port/);
  });
});
