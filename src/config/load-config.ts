import { resolve } from 'node:path';
import { isLoopbackHost } from '../lib/loopback.js';
import type { Config, LogFormat, LogLevel, TlsProfile } from './config.js';
import {
  ConfigProblem,
  parseInteger,
  parseListenAddress,
  parseMasterKeyBase64,
  parseOneOf,
  parseHttpsUrl,
  parsePostgresUrl,
  parseSmtpUrl,
} from './config-variables.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const TLS_PROFILES: readonly TlsProfile[] = ['intermediate', 'modern'];
const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty', 'auto'];

/**
 * Parses the environment into a frozen Config. Every problem is collected, so an operator sees
 * all of them in one go, one line per problem, each naming its variable.
 * This is the only place in Confide that reads environment variables.
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Readonly<Config> {
  const problems: string[] = [];

  function read<T>(name: string, fallback: string | undefined, parse: (raw: string) => T): T | undefined {
    const raw = env[name];
    const value = raw === undefined || raw === '' ? fallback : raw;
    if (value === undefined) return undefined;
    try {
      return parse(value);
    } catch (error) {
      if (!(error instanceof ConfigProblem)) throw error;
      problems.push(`${name} ${error.message}`);
      return undefined;
    }
  }
  const text = (raw: string) => raw;

  const dataDir = resolve(cwd, read('CONFIDE_DATA_DIR', './confide-data', text)!);
  const masterKeyBase64 = read('CONFIDE_MASTER_KEY', undefined, parseMasterKeyBase64);
  const masterKeyFile = resolve(cwd, read('CONFIDE_MASTER_KEY_FILE', './confide-keys/master.key', text)!);
  if (masterKeyBase64 === undefined && isInside(masterKeyFile, dataDir)) {
    // Keys kept beside the data they protect would be stolen together with it.
    problems.push('CONFIDE_MASTER_KEY_FILE must not be inside CONFIDE_DATA_DIR');
  }
  const databaseUrl = read('CONFIDE_DATABASE_URL', undefined, parsePostgresUrl);
  const publicListen = read('CONFIDE_PUBLIC_LISTEN', '127.0.0.1:8443', parseListenAddress);
  const adminListen = read('CONFIDE_ADMIN_LISTEN', '127.0.0.1:9443', parseListenAddress);
  const certFile = read('CONFIDE_TLS_CERT_FILE', undefined, (raw) => resolve(cwd, raw));
  const keyFile = read('CONFIDE_TLS_KEY_FILE', undefined, (raw) => resolve(cwd, raw));
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push('CONFIDE_TLS_CERT_FILE and CONFIDE_TLS_KEY_FILE must be set together');
  }
  const profile = read('CONFIDE_TLS_PROFILE', 'intermediate', parseOneOf(TLS_PROFILES));
  const logLevel = read('CONFIDE_LOG_LEVEL', 'info', parseOneOf(LOG_LEVELS));
  const logFormat = read('CONFIDE_LOG_FORMAT', 'auto', parseOneOf(LOG_FORMATS));
  const bodyLimitBytes = read('CONFIDE_BODY_LIMIT_BYTES', '1048576', parseInteger(1024, 64 * 1024 * 1024));
  // One page of any list is bounded in bytes, so parallel large lists cannot exhaust memory or stall the event loop.
  const listMaxBytes = read('CONFIDE_LIST_MAX_BYTES', '4194304', parseInteger(1024, 256 * 1024 * 1024));
  const minLength = read('CONFIDE_PASSWORD_MIN_LENGTH', '12', parseInteger(8, 64));
  // ASVS / NIST AAL2 bounds: at most 24 h absolute and 1 h idle for customer sessions.
  const absoluteSeconds = read('CONFIDE_SESSION_ABSOLUTE_SECONDS', '86400', parseInteger(60, 86400));
  const idleSeconds = read('CONFIDE_SESSION_IDLE_SECONDS', '3600', parseInteger(60, 3600));
  // Sign-in throttling (SignInThrottle): tight per (account, source), looser per source, and per
  // account only at a high ceiling, which NIST 800-63B 3.2.2 bounds at 100 consecutive failures.
  const pairMaxFailures = read('CONFIDE_SIGNIN_MAX_FAILURES', '10', parseInteger(1, 100));
  const sourceMaxFailures = read('CONFIDE_SIGNIN_IP_MAX_FAILURES', '100', parseInteger(1, 100000));
  const windowSeconds = read('CONFIDE_SIGNIN_WINDOW_SECONDS', '900', parseInteger(1, 86400));
  const firstDelaySeconds = read('CONFIDE_SIGNIN_DELAY_SECONDS', '60', parseInteger(1, 86400));
  const maxDelaySeconds = read('CONFIDE_SIGNIN_MAX_DELAY_SECONDS', '3600', parseInteger(1, 86400));
  const accountSlowAfter = read('CONFIDE_SIGNIN_ACCOUNT_SLOW_AFTER', '20', parseInteger(1, 100));
  const accountMaxFailures = read('CONFIDE_SIGNIN_ACCOUNT_MAX_FAILURES', '100', parseInteger(1, 100));
  const knownSourceDays = read('CONFIDE_SIGNIN_KNOWN_SOURCE_DAYS', '30', parseInteger(1, 365));
  if (firstDelaySeconds !== undefined && maxDelaySeconds !== undefined && maxDelaySeconds < firstDelaySeconds) {
    problems.push('CONFIDE_SIGNIN_MAX_DELAY_SECONDS must be at least CONFIDE_SIGNIN_DELAY_SECONDS');
  }
  if (accountSlowAfter !== undefined && accountMaxFailures !== undefined && accountSlowAfter > accountMaxFailures) {
    problems.push('CONFIDE_SIGNIN_ACCOUNT_SLOW_AFTER must not exceed CONFIDE_SIGNIN_ACCOUNT_MAX_FAILURES');
  }
  if (env.CONFIDE_SIGNIN_LOCK_SECONDS !== undefined) {
    // Its fixed lock is gone: say so rather than ignore a setting the operator relies on.
    problems.push('CONFIDE_SIGNIN_LOCK_SECONDS is no longer read: set CONFIDE_SIGNIN_DELAY_SECONDS (the first wait, doubling) instead');
  }

  // Caps on growth: each answers 409 LIMIT_REACHED or 429 RATE_LIMITED when reached.
  const signUpsPerIpPerHour = read('CONFIDE_SIGNUPS_PER_IP_PER_HOUR', '10', parseInteger(1, 1_000_000));
  const sessionsPerUser = read('CONFIDE_MAX_SESSIONS_PER_USER', '50', parseInteger(1, 10_000));
  const apiKeysPerTenant = read('CONFIDE_MAX_API_KEYS_PER_TENANT', '100', parseInteger(1, 100_000));
  const collectionsPerTenant = read('CONFIDE_MAX_COLLECTIONS_PER_TENANT', '1000', parseInteger(1, 1_000_000));
  const invitationsPerTenantPerHour = read('CONFIDE_INVITATIONS_PER_HOUR', '20', parseInteger(1, 100_000));
  const pendingInvitationsPerTenant = read('CONFIDE_MAX_PENDING_INVITATIONS', '100', parseInteger(1, 100_000));
  const securityEventRetentionDays = read('CONFIDE_SECURITY_EVENT_RETENTION_DAYS', '400', parseInteger(1, 36_500));

  // A loopback listener is reached as https://localhost:PORT: browsers accept localhost (not an IP
  // address) as a WebAuthn relying party, and the self-signed certificate names it.
  const defaultPublicUrl = publicListen ? `https://${publicUrlHost(publicListen.host)}:${publicListen.port}` : undefined;
  const publicUrl = read('CONFIDE_PUBLIC_URL', defaultPublicUrl, parseHttpsUrl);
  const smtpUrl = read('CONFIDE_SMTP_URL', undefined, parseSmtpUrl);
  const rpId = read('CONFIDE_WEBAUTHN_RP_ID', publicUrl ? new URL(publicUrl).hostname.replace(/^\[|\]$/g, '') : undefined, text);
  const mailFrom = read('CONFIDE_MAIL_FROM', 'Confide <confide@localhost>', text);
  const mailRetryBaseSeconds = read('CONFIDE_MAIL_RETRY_BASE_SECONDS', '5', parseInteger(1, 3600));

  if (problems.length > 0) throw new ConfigError(problems);

  const config: Config = {
    dataDir,
    masterKey:
      masterKeyBase64 !== undefined
        ? { kind: 'env', keyBase64: masterKeyBase64 }
        : { kind: 'file', file: masterKeyFile },
    database:
      databaseUrl !== undefined
        ? { kind: 'postgres', url: databaseUrl }
        : { kind: 'sqlite', file: resolve(dataDir, 'confide.db') },
    publicListen: publicListen!,
    adminListen: adminListen!,
    tls: { certFile: certFile ?? null, keyFile: keyFile ?? null, profile: profile! },
    logLevel: logLevel!,
    logFormat: logFormat!,
    http: { bodyLimitBytes: bodyLimitBytes!, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 },
    lists: { maxBytes: listMaxBytes! },
    passwords: { minLength: minLength! },
    sessions: { absoluteSeconds: absoluteSeconds!, idleSeconds: idleSeconds! },
    publicUrl: publicUrl!,
    webauthn: { rpId: rpId!, origin: new URL(publicUrl!).origin },
    mail: { smtpUrl: smtpUrl ?? null, from: mailFrom!, retryBaseSeconds: mailRetryBaseSeconds! },
    limits: {
      signUpsPerIpPerHour: signUpsPerIpPerHour!,
      sessionsPerUser: sessionsPerUser!,
      apiKeysPerTenant: apiKeysPerTenant!,
      collectionsPerTenant: collectionsPerTenant!,
      invitationsPerTenantPerHour: invitationsPerTenantPerHour!,
      pendingInvitationsPerTenant: pendingInvitationsPerTenant!,
    },
    securityEvents: { retentionDays: securityEventRetentionDays! },
    signInThrottle: {
      pairMaxFailures: pairMaxFailures!,
      sourceMaxFailures: sourceMaxFailures!,
      windowSeconds: windowSeconds!,
      firstDelaySeconds: firstDelaySeconds!,
      maxDelaySeconds: maxDelaySeconds!,
      accountSlowAfter: accountSlowAfter!,
      accountMaxFailures: accountMaxFailures!,
      knownSourceDays: knownSourceDays!,
    },
  };
  return deepFreeze(config);
}

function publicUrlHost(host: string): string {
  if (isLoopbackHost(host)) return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

function isInside(file: string, dir: string): boolean {
  return file.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
