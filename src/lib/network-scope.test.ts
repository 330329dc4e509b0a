import { describe, expect, it } from 'vitest';
import { networkScope } from './network-scope.js';

describe('networkScope', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['127.1', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['localhost', 'loopback'],
    ['LOCALHOST', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.1.20', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::9', 'private'],
    ['::ffff:10.1.2.3', 'private'],
    ['0.0.0.0', 'every-interface'],
    ['0', 'every-interface'],
    ['::', 'every-interface'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
    ['172.15.255.255', 'public'],
    ['192.169.0.1', 'public'],
    ['11.0.0.1', 'public'],
    ['100.64.0.1', 'public'],
    ['169.254.1.1', 'public'],
    ['fe80::1', 'public'],
    ['2001:4860:4860::8888', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['admin.internal', 'name'],
    ['example.com', 'name'],
  ])('%s is %s', (host, scope) => {
    expect(networkScope(host)).toBe(scope);
  });
});
