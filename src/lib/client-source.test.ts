import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { clientSource, ipv6Network48 } from './client-source.js';

describe('clientSource: what one client counts as', () => {
  it('is the IPv4 address itself, as ipaddr.js would print it, for every address (the no-parse path agrees with the parser)', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(clientSource(ip)).toBe(ipaddr.process(ip).toString());
      }),
    );
  });

  it('parses what is not a canonical IPv4 address: IPv4-mapped IPv6 counts as its IPv4 address, IPv6 as its /64', () => {
    expect(clientSource('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientSource('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(clientSource('2001:DB8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(clientSource('not-an-address')).toBe('not-an-address');
  });

  it('gives every IPv6 address of one /64 the same source, and different /64s different ones', () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        const address = ipaddr.process(ip);
        if (address.kind() === 'ipv4') return; // IPv4-mapped: counted as IPv4 above
        const parts = (address as ipaddr.IPv6).parts;
        const sibling = new ipaddr.IPv6([...parts.slice(0, 4), 1, 2, 3, 4]).toString();
        expect(clientSource(ip)).toBe(clientSource(sibling));
        const neighbour = new ipaddr.IPv6([...parts.slice(0, 3), (parts[3]! + 1) & 0xffff, 0, 0, 0, 1]).toString();
        expect(clientSource(ip)).not.toBe(clientSource(neighbour));
      }),
    );
  });
});

describe('ipv6Network48: the site an IPv6 client belongs to', () => {
  it('is the /48 of an IPv6 address, the same for all its /64s', () => {
    expect(ipv6Network48('2001:db8:77:1::1')).toBe('2001:db8:77::/48');
    expect(ipv6Network48('2001:db8:77:ffff::9')).toBe('2001:db8:77::/48');
    expect(ipv6Network48('2001:db8:78::1')).toBe('2001:db8:78::/48');
  });

  it('is null for IPv4, IPv4-mapped IPv6 (counted as IPv4) and anything that is not an address', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(ipv6Network48(ip)).toBeNull();
      }),
    );
    expect(ipv6Network48('::ffff:192.0.2.7')).toBeNull();
    expect(ipv6Network48('not:an:address')).toBeNull();
    expect(ipv6Network48('')).toBeNull();
  });
});

describe('clientSource on IPv4 forms Node never reports', () => {
  it('parses them rather than trusting the text: leading zeros, signs, exponents and spaces are not canonical', () => {
    for (const odd of ['010.1.1.1', '1.2.3.04', '+1.2.3.4', '1e2.1.1.1', ' 1.2.3.4', '1.2.3.256', '1.2.3']) {
      expect(clientSource(odd)).toBe(ipaddr.isValid(odd) ? ipaddr.process(odd).toString() : odd);
    }
  });
});
