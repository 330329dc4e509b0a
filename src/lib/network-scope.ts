import ipaddr from 'ipaddr.js';

/**
 * Who can reach a listen address: only this machine (`loopback`), a private network (`private`:
 * RFC 1918 and IPv6 unique-local fc00::/7, RFC 4193), every interface of the host including any
 * public one (`every-interface`: 0.0.0.0, ::), the internet (`public`), or unknown until a DNS
 * look-up (`name`, which a start-up check cannot trust: the name may resolve elsewhere tomorrow).
 */
export type NetworkScope = 'loopback' | 'private' | 'every-interface' | 'public' | 'name';

export function networkScope(host: string): NetworkScope {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare.toLowerCase() === 'localhost') return 'loopback';
  // ipaddr.js reads the shorthand forms the system resolver also takes as addresses ("127.1",
  // "0", hex and octal parts), so "0" is every interface here as it is to listen().
  if (!ipaddr.isValid(bare)) return 'name';
  // process() turns an IPv4-mapped IPv6 address (::ffff:10.0.0.1) into the IPv4 address it is.
  switch (ipaddr.process(bare).range()) {
    case 'loopback':
      return 'loopback';
    case 'private': // IPv4: 10/8, 172.16/12, 192.168/16
    case 'uniqueLocal': // IPv6: fc00::/7
      return 'private';
    case 'unspecified':
      return 'every-interface';
    default:
      return 'public';
  }
}
