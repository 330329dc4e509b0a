import { isLoopbackHost } from '../lib/loopback.js';
import ipaddr from 'ipaddr.js';

/**
 * How configuration values are parsed (the table of variables is variables.ts). Each parser
 * returns a value or throws a ConfigProblem saying what is wrong; loadConfig names the variable.
 */
export class ConfigProblem extends Error {}

export function parseInteger(min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw)) throw new ConfigProblem(`must be a whole number between ${min} and ${max}`);
    const value = Number(raw);
    if (value < min || value > max) throw new ConfigProblem(`must be between ${min} and ${max}`);
    return value;
  };
}

/** A number of days, or `off` (also `0`): null, the limit switched off. */
export function parseDaysOrOff(max: number) {
  const days = parseInteger(0, max);
  return (raw: string): number | null => {
    if (raw === 'off') return null;
    try {
      return days(raw) || null;
    } catch {
      throw new ConfigProblem(`must be off or a whole number of days between 0 and ${max}`);
    }
  };
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** A duration such as `90s`, `30m`, `6h` or `1d`, in seconds, between min and max; or `off` (null) when allowed. */
export function parseDuration(minSeconds: number, maxSeconds: number, options: { off?: boolean } = {}) {
  return (raw: string): number | null => {
    if (options.off && raw === 'off') return null;
    const unit = DURATION_UNITS[raw.slice(-1)];
    const amount = raw.slice(0, -1);
    const seconds = unit !== undefined && /^\d{1,9}$/.test(amount) ? Number(amount) * unit : NaN;
    if (!(seconds >= minSeconds && seconds <= maxSeconds)) {
      throw new ConfigProblem(`must be ${options.off ? 'off or ' : ''}a duration such as 30m, 6h or 1d, between ${minSeconds}s and ${maxSeconds / 86_400}d`);
    }
    return seconds;
  };
}

/** Where backups go: `s3://bucket/prefix` (prefix optional), or a folder (any other value; made absolute against the working directory later). */
export function parseBackupTarget(raw: string): string {
  if (raw.startsWith('s3://')) {
    const [bucket = '', ...prefix] = raw.slice('s3://'.length).split('/');
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || /\s/.test(prefix.join('/'))) throw new ConfigProblem('must be s3://bucket/prefix with a valid bucket name');
    return raw;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) throw new ConfigProblem('must be a folder or s3://bucket/prefix');
  if (raw.trim() === '') throw new ConfigProblem('must not be empty');
  return raw;
}

/** Where file blobs rest: `local`, or `s3://bucket/prefix` (prefix optional). */
export function parseBlobStore(raw: string): string {
  if (raw === 'local') return raw;
  const [bucket = '', ...prefix] = raw.startsWith('s3://') ? raw.slice('s3://'.length).split('/') : [];
  // Bucket naming rules (3–63 of a-z, 0-9, dot, hyphen); the prefix is part of object names, so their characters only.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || !/^[A-Za-z0-9._/-]*$/.test(prefix.join('/'))) {
    throw new ConfigProblem('must be local or s3://bucket/prefix with a valid bucket name');
  }
  return raw;
}

export function parseOneOf<T extends string>(choices: readonly T[]) {
  return (raw: string): T => {
    if (!(choices as readonly string[]).includes(raw)) {
      throw new ConfigProblem(`must be one of ${choices.join(', ')}`);
    }
    return raw as T;
  };
}

export function parseListenAddress(raw: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
  if (!match) throw new ConfigProblem('must look like host:port, for example 127.0.0.1:8443');
  const port = Number(match[2]);
  if (port > 65535) throw new ConfigProblem('port must be between 0 and 65535');
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

export function parseMasterKeyBase64(raw: string): string {
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32 || bytes.toString('base64') !== raw.trim()) {
    throw new ConfigProblem('must be the base64 encoding of exactly 32 bytes');
  }
  return raw.trim();
}

/** Parses a URL whose scheme is one of `protocols` (with the colon, as URL reports them). */
function parseUrl(raw: string, protocols: readonly string[], expected: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigProblem(`must be ${expected}`);
  }
  if (!protocols.includes(url.protocol)) throw new ConfigProblem(`must be ${expected}`);
  return url;
}

/** SMTP must use TLS (smtps:// or STARTTLS, which Confide then requires) unless the host is loopback. */
export function parseSmtpUrl(raw: string): string {
  const url = parseUrl(raw, ['smtp:', 'smtps:'], 'an smtp:// or smtps:// URL');
  if (url.protocol === 'smtp:' && url.searchParams.get('tls') === 'off' && !isLoopbackHost(url.hostname)) {
    throw new ConfigProblem('may turn TLS off only for a loopback host');
  }
  return raw;
}

export function parseHttpsUrl(raw: string): string {
  parseUrl(raw, ['https:'], 'an https:// URL');
  return raw.replace(/\/+$/, '');
}

export function parsePostgresUrl(raw: string): string {
  parseUrl(raw, ['postgres:', 'postgresql:'], 'a postgres:// URL');
  return raw;
}

/** A comma-separated list of e-mail addresses (spaces around commas allowed); empty items are refused. */
export function parseEmailList(raw: string): string[] {
  const addresses = raw.split(',').map((item) => item.trim());
  const bad = addresses.find((address) => !/^[^\s@,<>]+@[^\s@,<>]+\.[^\s@,<>]+$/.test(address));
  if (bad !== undefined) throw new ConfigProblem(`must be e-mail addresses separated by commas (not "${bad}")`);
  return addresses;
}

/** Alerts are posted over TLS; plain http:// only to this machine (a local relay, a test receiver). */
export function parseWebhookUrl(raw: string): string {
  const url = parseUrl(raw, ['https:', 'http:'], 'an https:// URL (http:// only for a loopback host)');
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) throw new ConfigProblem('may use http:// only for a loopback host; use https://');
  // fetch refuses user:password@ in a URL; a receiver's token belongs in the path or query.
  if (url.username || url.password) throw new ConfigProblem('must not hold a user name or password (put a token in the path or query instead)');
  return raw;
}

/** An HMAC key typed by a person: long enough that guessing it is out of reach. */
export function parseSecret(raw: string): string {
  if (raw.length < 32) throw new ConfigProblem('must be at least 32 characters (for example: openssl rand -hex 32)');
  return raw;
}

export interface SyslogTarget {
  /** `tls` (RFC 5425) everywhere; plain `tcp` only to a loopback collector. */
  transport: 'tcp' | 'tls';
  host: string;
  port: number;
}

/** `tls://host:port`, or `tcp://host:port` for a loopback host only: events must not cross a network in clear. */
export function parseSyslogUrl(raw: string): SyslogTarget {
  const url = parseUrl(raw, ['tcp:', 'tls:'], 'tls://host:port (or tcp://host:port for a loopback host)');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!host || !url.port) throw new ConfigProblem('must name a host and a port, for example tls://logs.example.com:6514');
  if (url.protocol === 'tcp:' && !isLoopbackHost(host)) throw new ConfigProblem('may use tcp:// only for a loopback host; use tls://');
  return { transport: url.protocol === 'tcp:' ? 'tcp' : 'tls', host, port: Number(url.port) };
}

/** `true` or `false`, nothing else: a typo must not quietly mean either. */
export function parseBoolean(raw: string): boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new ConfigProblem('must be true or false');
}

/** `redis://host:port` (or `rediss://` for TLS), optionally with a password: `redis://:secret@host:6379`. */
export function parseRedisUrl(raw: string): string {
  const url = parseUrl(raw, ['redis:', 'rediss:'], 'a redis:// or rediss:// URL');
  if (!url.hostname) throw new ConfigProblem('must name a host, for example redis://10.0.0.5:6379');
  return raw;
}

/**
 * Comma-separated IP addresses or CIDR ranges (`10.0.0.0/8, 192.0.2.7`). Checked here, because
 * a typo would otherwise make Fastify trust no proxy, or the wrong one, without a word.
 */
export function parseAddressList(raw: string): string[] {
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  const bad = entries.find((entry) => !isAddressOrRange(entry));
  if (bad !== undefined) throw new ConfigProblem(`must be IP addresses or CIDR ranges separated by commas (not "${bad}")`);
  return entries;
}

/** Dotted-quad IPv4 only: ipaddr.js also accepts forms such as `10.1` that nobody means as a proxy. */
function isAddressOrRange(entry: string): boolean {
  if (entry.includes('/')) return ipaddr.IPv4.isValidCIDRFourPartDecimal(entry) || ipaddr.IPv6.isValidCIDR(entry);
  return ipaddr.IPv4.isValidFourPartDecimal(entry) || ipaddr.IPv6.isValid(entry);
}

/**
 * A bearer token an operator chose (CONFIDE_METRICS_TOKEN): long enough that guessing it is out of
 * reach, and made only of the characters an `Authorization: Bearer` header carries (RFC 6750).
 */
export function parseBearerToken(raw: string): string {
  if (raw.length < 32) throw new ConfigProblem('must be at least 32 characters (for example: openssl rand -hex 32)');
  if (!/^[A-Za-z0-9_\-.~+/]+=*$/.test(raw)) throw new ConfigProblem('may hold only letters, digits and - . _ ~ + / (then = padding)');
  return raw;
}
