import { isLoopbackHost } from '../lib/loopback.js';

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

/** `true` or `false`, nothing else: a typo must not quietly mean either. */
export function parseBoolean(raw: string): boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new ConfigProblem('must be true or false');
}
