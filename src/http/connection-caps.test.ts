import { EventEmitter } from 'node:events';
import { Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { capConnections, connectionRefusals, type ConnectionRefusal } from './connection-caps.js';

/**
 * Who counts as one client, without real sockets (test/integration/connection-caps.test.ts has
 * those): a loopback host cannot connect from other IPv6 /64s or from IPv4-mapped addresses, so
 * the `connection` event is emitted here with stand-in sockets carrying the peer address.
 */

interface StandIn {
  socket: Socket;
  destroyed: () => boolean;
  close: () => void;
}

function standIn(remoteAddress: string): StandIn {
  const events = new EventEmitter();
  let destroyed = false;
  const socket = Object.assign(events, { remoteAddress, destroy: () => ((destroyed = true), socket) }) as unknown as Socket;
  return { socket, destroyed: () => destroyed, close: () => events.emit('close') };
}

function cappedServer(perIp: number, trustedProxies: string[] = []) {
  const server = new Server();
  const handed: Socket[] = [];
  server.on('connection', (socket: Socket) => handed.push(socket)); // stands for the TLS server's own listener
  const refused: ConnectionRefusal[] = [];
  capConnections(server, 'unit', { perIp, total: 1_000, trustedProxies, onRefused: (reason) => refused.push(reason) });
  const connect = (address: string): StandIn => {
    const connection = standIn(address);
    server.emit('connection', connection.socket);
    return connection;
  };
  return { server, handed, refused, connect };
}

describe('connection caps: who is one client', () => {
  it('counts every address of one IPv6 /64 as one client, and another /64 apart', () => {
    const { connect, refused } = cappedServer(2);
    expect(connect('2001:db8:1:2::1').destroyed()).toBe(false);
    expect(connect('2001:db8:1:2:ffff::9').destroyed()).toBe(false);
    expect(connect('2001:db8:1:2:abcd::7').destroyed()).toBe(true); // same /64: the third
    expect(connect('2001:db8:1:3::1').destroyed()).toBe(false); // the next /64
    expect(refused).toEqual(['per-ip']);
  });

  it('counts an IPv4-mapped IPv6 peer as the IPv4 address it carries', () => {
    const { connect } = cappedServer(1);
    expect(connect('192.0.2.7').destroyed()).toBe(false);
    expect(connect('::ffff:192.0.2.7').destroyed()).toBe(true);
  });

  it('hands an admitted socket to the listeners that were there before, and a refused one to none', () => {
    const { connect, handed } = cappedServer(1);
    const first = connect('192.0.2.8');
    connect('192.0.2.8');
    expect(handed).toEqual([first.socket]);
  });

  it('gives a slot back when its connection closes', () => {
    const { connect } = cappedServer(1);
    const first = connect('192.0.2.9');
    expect(connect('192.0.2.9').destroyed()).toBe(true);
    first.close();
    expect(connect('192.0.2.9').destroyed()).toBe(false);
  });

  it('exempts trusted proxies, listed as addresses or CIDRs, in either IPv4 form, and no one else', () => {
    const { connect } = cappedServer(1, ['10.0.0.5', '10.1.0.0/16', '2001:db8:9::/48']);
    for (const proxy of ['10.0.0.5', '::ffff:10.0.0.5', '10.1.200.3', '2001:db8:9:1::5']) {
      expect([connect(proxy), connect(proxy), connect(proxy)].map((connection) => connection.destroyed())).toEqual([false, false, false]);
    }
    expect([connect('10.0.0.6'), connect('10.0.0.6')].map((connection) => connection.destroyed())).toEqual([false, true]);
    expect([connect('2001:db8:8::1'), connect('2001:db8:8::2')].map((connection) => connection.destroyed())).toEqual([false, true]);
  });

  it('counts refusals by listener and reason, for the metrics', () => {
    const before = connectionRefusals().find((entry) => entry.listener === 'unit' && entry.reason === 'per-ip')?.count ?? 0;
    const { connect } = cappedServer(1);
    connect('192.0.2.10');
    connect('192.0.2.10');
    connect('192.0.2.10');
    expect(connectionRefusals().find((entry) => entry.listener === 'unit' && entry.reason === 'per-ip')?.count).toBe(before + 2);
  });

  it('sets the total cap as the server\'s own maxConnections', () => {
    const server = new Server();
    capConnections(server, 'unit', { perIp: 1, total: 42, trustedProxies: [] });
    expect(server.maxConnections).toBe(42);
  });
});
