import type { Server, Socket } from 'node:net';
import ipaddr from 'ipaddr.js';
import { clientSource } from '../lib/client-source.js';

/** Why a connection was refused: its client already holds `perIp` connections, or the listener holds `total`. */
export type ConnectionRefusal = 'per-ip' | 'total';

export interface ConnectionCaps {
  /** Connections one client (IPv4 address, or IPv6 /64) may hold open on this listener at once. */
  perIp: number;
  /** Connections this listener holds open at once, from everyone. */
  total: number;
  /**
   * Peers (addresses or CIDRs) the per-IP cap does not apply to: a trusted reverse proxy carries
   * every client's connections from its one address, so capping it would cap the whole service.
   * The total cap still applies to them.
   */
  trustedProxies: readonly string[];
  /** Told of each refusal (the listener's metrics). */
  onRefused?: (reason: ConnectionRefusal) => void;
}

const refusals = new Map<string, number>();

/** Connections refused so far in this process, by listener and reason (for the metrics). */
export function connectionRefusals(): Array<{ listener: string; reason: ConnectionRefusal; count: number }> {
  return [...refusals].map(([key, count]) => {
    const [listener = '', reason] = key.split(' ');
    return { listener, reason: reason as ConnectionRefusal, count };
  });
}

function countRefusal(listener: string, reason: ConnectionRefusal, caps: ConnectionCaps): void {
  const key = `${listener} ${reason}`;
  refusals.set(key, (refusals.get(key) ?? 0) + 1);
  caps.onRefused?.(reason);
}

/**
 * Caps what idle, slow or simply numerous connections can hold, before they cost a TLS handshake:
 * a connection over a cap is closed at the TCP `connection` event, with no byte read or written.
 *
 * The total cap is Node's own `maxConnections`: the server closes the accepted handle before any
 * JavaScript socket exists, and says so with `drop`. The per-IP cap sits in front of the TLS
 * server's own `connection` listener (moved behind a gate here), so a refused socket never becomes
 * a TLS socket, and never reaches the client-error handler or its log line: a flood of refusals
 * must not become a flood of log lines (the counters say how many).
 *
 * Both are per listener, so a flood on the public listener leaves the admin listener's own budget
 * for the staff who must respond to it. Neither stops a volumetric flood: that is the network's
 * or a proxy's job (docs/configuration.md, "Connection caps").
 */
export function capConnections(server: Server, listener: string, caps: ConnectionCaps): void {
  server.maxConnections = caps.total;
  server.on('drop', () => countRefusal(listener, 'total', caps));

  const isTrustedProxy = trustedProxyMatcher(caps.trustedProxies);
  const open = new Map<string, number>();
  const admit = (socket: Socket): boolean => {
    const address = socket.remoteAddress;
    if (address === undefined || isTrustedProxy(address)) return true; // undefined: already gone
    const client = clientSource(address);
    const held = open.get(client) ?? 0;
    if (held >= caps.perIp) return false;
    open.set(client, held + 1);
    // The raw socket's close follows every end: the client's, a timeout's, a TLS or HTTP error's.
    socket.once('close', () => {
      const left = (open.get(client) ?? 1) - 1;
      if (left === 0) open.delete(client);
      else open.set(client, left);
    });
    return true;
  };

  const gated = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (!admit(socket)) {
      socket.destroy();
      countRefusal(listener, 'per-ip', caps);
      return;
    }
    for (const handle of gated) handle.call(server, socket);
  });
}

function trustedProxyMatcher(entries: readonly string[]): (address: string) => boolean {
  if (entries.length === 0) return () => false;
  const ranges = entries.map((entry) => (entry.includes('/') ? ipaddr.parseCIDR(entry) : hostRange(entry)));
  return (address) => {
    if (!ipaddr.isValid(address)) return false;
    // Both forms of an IPv4-mapped peer (::ffff:10.0.0.1 and 10.0.0.1), so either way of listing it matches.
    const forms = [ipaddr.parse(address), ipaddr.process(address)];
    return ranges.some(([network, bits]) => forms.some((form) => form.kind() === network.kind() && form.match(network, bits)));
  };
}

function hostRange(entry: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  const address = ipaddr.process(entry);
  return [address, address.kind() === 'ipv4' ? 32 : 128];
}
