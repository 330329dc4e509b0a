import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { networkScope } from '../lib/network-scope.js';

const PRIVATE_RANGES = 'loopback (127.0.0.0/8, ::1, localhost) or private (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7)';
const OVERRIDE = 'or set CONFIDE_ADMIN_ALLOW_PUBLIC=true to bind it anyway';

/**
 * The admin listener carries staff sign-in and, under grants, customer data: by default it may only
 * be reachable from this machine or a private network (behind a VPN or a bastion), never from the
 * internet. A host name is refused too, as what it resolves to is not known at start and may change.
 */
export function adminListenProblem(host: string, allowPublic: boolean): string | undefined {
  if (allowPublic) return undefined;
  switch (networkScope(host)) {
    case 'every-interface':
      return `CONFIDE_ADMIN_LISTEN ${host} means every interface, public ones included: give a ${PRIVATE_RANGES} address, ${OVERRIDE}`;
    case 'public':
      return `CONFIDE_ADMIN_LISTEN ${host} is neither loopback nor private: give a ${PRIVATE_RANGES} address, ${OVERRIDE}`;
    case 'name':
      return `CONFIDE_ADMIN_LISTEN ${host} is a host name, which cannot be checked: give a ${PRIVATE_RANGES} address, ${OVERRIDE}`;
    default:
      return undefined;
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * The client CA file must hold at least one certificate that parses: a missing, unreadable or
 * empty file would otherwise surface only as every staff handshake failing, far from its cause.
 */
export function clientCaProblem(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? 'error'})`;
    return `CONFIDE_ADMIN_CLIENT_CA ${file} ${why}: it must be a PEM file holding the CA certificate(s) client certificates must chain to`;
  }
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return `CONFIDE_ADMIN_CLIENT_CA ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return `CONFIDE_ADMIN_CLIENT_CA ${file}: certificate ${index + 1} of ${blocks.length} cannot be parsed`;
    }
  }
  return undefined;
}
