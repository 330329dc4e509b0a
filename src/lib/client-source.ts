import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The unit a client is counted as (by the sign-in throttle, the rate limits, the connection caps
 * and the monitor's rules): its IPv4 address, or the /64 network of its IPv6 address. One IPv6 host is normally given a whole /64 (RFC 4291 interface identifiers, SLAAC privacy
 * addresses, RFC 8981), so counting single IPv6 addresses would let one machine rotate through 2^64
 * of them. IPv4 is counted per address, not per /24: hosts rarely hold more than one, and a /24 is
 * often shared by thousands of unrelated users (carrier-grade NAT, universities, cloud ranges), who
 * would then be blocked together. IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
 */
export function clientSource(ip: string): string {
  // Most clients, on every request's path: no parse needed. Node's isIPv4 takes exactly the dotted
  // form it reports peers in (four decimal octets, no leading zeros, no spaces).
  if (isIPv4(ip)) return ip;
  if (!ipaddr.isValid(ip)) return ip; // not an address (a test transport): count it as given
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  const network = (address as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16));
  return `${network.join(':')}::/64`;
}

/**
 * The /48 network of an IPv6 address (`2001:db8:1::/48`), or null for IPv4 (and IPv4-mapped)
 * addresses and non-addresses. A /48 is the usual allocation of one site (RFC 6177): the looser
 * aggregate limit over it stops a holder from spreading a flood over its 65,536 /64s.
 */
export function ipv6Network48(ip: string): string | null {
  if (!ip.includes(':') || !ipaddr.isValid(ip)) return null; // every IPv6 form has a colon; IPv4 has none
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return null;
  const network = (address as ipaddr.IPv6).parts.slice(0, 3).map((part) => part.toString(16));
  return `${network.join(':')}::/48`;
}
