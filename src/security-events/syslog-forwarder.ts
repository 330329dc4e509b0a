import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import Denque from 'denque';
import type { Logger } from 'pino';
import type { SyslogTarget } from '../config/parsers.js';
import type { SecurityEvent } from '../core/security-events.js';
import type { Clock } from '../lib/time.js';
import { octetCounted, syslogMessage } from './syslog-message.js';

export interface SyslogForwarderOptions {
  /** Messages kept while the collector is unreachable; beyond this the oldest are dropped. */
  bufferLines: number;
  /** First reconnect delay, doubling up to `maxReconnectMs`. */
  reconnectMs?: number;
  maxReconnectMs?: number;
  /**
   * How long a connection attempt may take, TLS handshake included, before it is abandoned and
   * retried [10 s]: a collector (or a firewall) that accepts nothing, or never finishes TLS, would
   * otherwise hold the one attempt, and with it every buffered event, forever.
   */
  connectTimeoutMs?: number;
  /** Extra TLS options (a private CA for the collector, in tests). */
  tls?: ConnectionOptions;
}

/** Counts since the forwarder started, for the metrics (monotonic, never reset). */
export interface SyslogCounts {
  /** Messages handed to a connection to the collector. */
  sent: number;
  /** Messages dropped, oldest first, because the buffer was full. */
  dropped: number;
  /** Connection attempts that never came up: refused, timed out, TLS refused. */
  connectionFailures: number;
}

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Forwards every security event to a syslog collector (CONFIDE_SYSLOG_URL) as it is recorded:
 * RFC 5424 over TCP with octet counting (RFC 6587), in TLS (RFC 5425) unless the collector is on
 * this machine. `send` never waits and never throws, so no request is ever held up by the
 * collector: messages go into a bounded in-memory buffer that a connection drains; while the
 * collector is down they wait there (reconnecting with backoff), and beyond the bound the oldest
 * are dropped, counted, and logged once per outage. A message written just before the connection
 * breaks can be lost with it (TCP syslog has no acknowledgement); the database keeps every event.
 */
export class SyslogForwarder {
  // A double-ended queue: dropping the oldest and sending the next are O(1), where Array.shift()
  // moves every waiting message, which adds up exactly when the buffer is full (the collector down).
  private readonly buffer = new Denque<Buffer>();
  private readonly totals: SyslogCounts = { sent: 0, dropped: 0, connectionFailures: 0 };
  private socket: Socket | undefined;
  private connected = false;
  private writing = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private nextDelayMs: number;
  private dropped = 0;
  private stopped = false;
  private readonly host = hostname();

  constructor(
    private readonly target: SyslogTarget,
    private readonly clock: Clock,
    private readonly logger: Logger | undefined,
    private readonly options: SyslogForwarderOptions,
  ) {
    this.nextDelayMs = options.reconnectMs ?? 200;
  }

  /** Queues the event for the collector and returns at once. */
  send(event: SecurityEvent): void {
    if (this.stopped) return;
    this.buffer.push(octetCounted(syslogMessage(event, this.clock.now(), this.host, process.pid)));
    if (this.buffer.length > this.options.bufferLines) {
      this.buffer.shift();
      this.totals.dropped += 1;
      if (this.dropped++ === 0) this.logger?.warn({ bufferLines: this.options.bufferLines }, 'syslog collector unreachable and its buffer is full: dropping the oldest security events');
    }
    this.drain();
  }

  /** How many messages wait for the collector, and how many were dropped since it was last reached. */
  status(): { buffered: number; dropped: number; connected: boolean } {
    return { buffered: this.buffer.length, dropped: this.dropped, connected: this.connected };
  }

  /** What the forwarder did since it started (sent, dropped, failed connection attempts), for /metrics. */
  counts(): Readonly<SyslogCounts> {
    return { ...this.totals };
  }

  start(): void {
    this.drain();
  }

  /**
   * Waits up to `timeoutMs` for every buffered message to be handed to a connection to the
   * collector, connecting (and reconnecting) as needed, and returns how many are still waiting.
   * A short-lived command calls this before it exits (its socket never keeps the process alive).
   */
  async flush(timeoutMs = 5_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    this.drain();
    while (!this.stopped && (this.buffer.length > 0 || this.writing) && Date.now() < deadline) await pause(20);
    return this.buffer.length;
  }

  /**
   * Gives what is buffered up to `graceMs` to reach a live collector, then closes the connection,
   * letting what was written leave this process (within the same grace) before it is torn down.
   */
  async stop(graceMs = 2_000): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.connected && (this.buffer.length > 0 || this.writing) && Date.now() < deadline) await pause(20);
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const socket = this.socket;
    if (socket && this.connected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.end(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    socket?.destroy();
  }

  private drain(): void {
    if (this.stopped) return;
    if (!this.socket && !this.reconnectTimer) this.open();
    if (!this.connected || this.writing) return;
    this.writing = true;
    const next = () => {
      if (!this.connected) return void (this.writing = false);
      const message = this.buffer.shift();
      if (!message) return void (this.writing = false);
      this.totals.sent += 1;
      // Wait for the socket to take each write before the next: memory stays bounded by the buffer, not the socket.
      if (this.socket!.write(message)) setImmediate(next);
      else this.socket!.once('drain', next);
    };
    next();
  }

  private open(): void {
    const { transport, host, port } = this.target;
    const timeoutMs = this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    // Destroying the socket closes it, so a timed-out attempt is retried like a refused one (`closed`).
    const giveUp = setTimeout(() => socket.destroy(new Error(`no connection to the syslog collector within ${timeoutMs} ms`)), timeoutMs);
    giveUp.unref();
    const onUp = () => {
      clearTimeout(giveUp);
      this.connected = true;
      this.nextDelayMs = this.options.reconnectMs ?? 200;
      if (this.dropped > 0) this.logger?.warn({ dropped: this.dropped }, 'syslog collector reached again; security events were dropped while it was down');
      this.dropped = 0;
      this.drain();
    };
    const socket =
      transport === 'tls' ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...this.options.tls }, onUp) : tcpConnect({ host, port }, onUp);
    socket.setKeepAlive(true, 30_000);
    socket.unref(); // forwarding never keeps a process alive on its own (a CLI command ends when its work does)
    socket.on('error', (error) => this.logger?.debug({ err: error }, 'syslog collector connection failed'));
    socket.on('close', () => {
      clearTimeout(giveUp);
      this.closed(socket);
    });
    this.socket = socket;
  }

  private closed(socket: Socket): void {
    if (this.socket !== socket) return;
    if (!this.connected) this.totals.connectionFailures += 1;
    this.socket = undefined;
    this.connected = false;
    this.writing = false;
    if (this.stopped) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.drain();
    }, this.nextDelayMs);
    this.reconnectTimer.unref();
    this.nextDelayMs = Math.min(this.nextDelayMs * 2, this.options.maxReconnectMs ?? 30_000);
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
