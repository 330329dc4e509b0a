import { dirname } from 'node:path';
import { isLoopbackHost } from '../lib/loopback.js';
import type { DataCipher, ListenAddress, LogFormat, LogLevel, MasterKeySource, TenantKeyStoreKind, TlsProfile } from './config.js';
import {
  parseHttpsUrl,
  parseInteger,
  parseListenAddress,
  parseMasterKeyBase64,
  parseOneOf,
  parseBoolean,
  parsePostgresUrl,
  parseSmtpUrl,
  parseBearerToken,
  parseEmailList,
  parseWebhookUrl,
  parseSecret,
  parseSyslogUrl,
  parseRedisUrl,
  parseAddressList,
  parseDaysOrOff,
  parseDuration,
  parseBackupTarget,
  parseBlobStore,
} from './parsers.js';

/**
 * Every environment variable Confide reads, as data: its name, its default, how it is parsed and
 * what it means. loadConfig reads exactly these, in this order; `confide serve --help` prints them;
 * a test keeps docs/configuration.md naming the same variables with the same defaults.
 *
 * A default is a literal, or computed from variables read before it (`derived`), in which case
 * `shownDefault` says in words what it is.
 */
export interface Variable<T = unknown> {
  name: `CONFIDE_${string}`;
  meaning: string;
  parse: (raw: string) => T;
  default?: string;
  derived?: (earlier: ReadonlyMap<string, unknown>) => string | undefined;
  shownDefault?: string;
}

const variable = <T>(spec: Variable<T>): Variable<T> => spec;
const text = (raw: string) => raw;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const TLS_PROFILES: readonly TlsProfile[] = ['intermediate', 'modern'];
const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty', 'auto'];
const RATE_LIMIT_SWITCH = ['on', 'off'] as const;
// Only AEADs with a 256-bit key: anything else (aes-128-gcm, des, a typo) stops the start, never falls back.
const DATA_CIPHERS: readonly DataCipher[] = ['aes-256-gcm', 'chacha20-poly1305'];
const KEY_PROVIDERS: readonly MasterKeySource['kind'][] = ['file', 'env', 'pkcs11'];
const TENANT_KEY_STORES: readonly TenantKeyStoreKind[] = ['file', 'pkcs11'];

/** A loopback listener is reached as https://localhost:PORT: browsers accept localhost (not an IP) as a WebAuthn relying party. */
function defaultPublicUrl(earlier: ReadonlyMap<string, unknown>): string | undefined {
  const listen = earlier.get('CONFIDE_PUBLIC_LISTEN') as ListenAddress | undefined;
  if (!listen) return undefined;
  const host = isLoopbackHost(listen.host) ? 'localhost' : listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return `https://${host}:${listen.port}`;
}

export const VARIABLES = {
  dataDir: variable({ name: 'CONFIDE_DATA_DIR', default: './confide-data', parse: text, meaning: 'embedded database, generated certificate and mail outbox (mode 0700)' }),
  masterKeyFile: variable({ name: 'CONFIDE_MASTER_KEY_FILE', default: './confide-keys/master.key', parse: text, meaning: 'the master key file (mode 0600), never inside the data directory' }),
  masterKey: variable({ name: 'CONFIDE_MASTER_KEY', parse: parseMasterKeyBase64, meaning: 'the master key itself, base64 of 32 bytes (instead of the file)' }),
  keyProvider: variable({
    name: 'CONFIDE_KEY_PROVIDER',
    derived: (earlier) => (earlier.has('CONFIDE_MASTER_KEY') ? 'env' : 'file'),
    shownDefault: 'env when CONFIDE_MASTER_KEY is set, else file',
    parse: parseOneOf(KEY_PROVIDERS),
    meaning: 'where the master key lives: file (CONFIDE_MASTER_KEY_FILE), env (CONFIDE_MASTER_KEY) or pkcs11 (an HSM token)',
  }),
  pkcs11Module: variable({ name: 'CONFIDE_PKCS11_MODULE', parse: text, meaning: 'the PKCS#11 library of the HSM (for SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)' }),
  pkcs11TokenLabel: variable({ name: 'CONFIDE_PKCS11_TOKEN_LABEL', parse: text, meaning: 'the label of the HSM token that holds the master key' }),
  pkcs11PinFile: variable({ name: 'CONFIDE_PKCS11_PIN_FILE', parse: text, meaning: "a file (mode 0600) holding the token's user PIN" }),
  pkcs11KeyLabel: variable({ name: 'CONFIDE_PKCS11_KEY_LABEL', default: 'confide-master', parse: text, meaning: 'the label of the master key (AES-256, not extractable) in the token' }),
  tenantKeyStore: variable({
    name: 'CONFIDE_TENANT_KEY_STORE',
    default: 'file',
    parse: parseOneOf(TENANT_KEY_STORES),
    meaning: "where tenants' key-encryption keys live: file (CONFIDE_TENANT_KEY_DIR) or pkcs11 (token objects on the master key's HSM token; needs CONFIDE_KEY_PROVIDER=pkcs11)",
  }),
  tenantKeyDir: variable({
    name: 'CONFIDE_TENANT_KEY_DIR',
    // Beside the master key file (outside the data directory); an environment or HSM master key has no directory to sit beside.
    derived: (earlier) => (earlier.get('CONFIDE_KEY_PROVIDER') === 'file' ? `${dirname(earlier.get('CONFIDE_MASTER_KEY_FILE') as string)}/tenants` : undefined),
    shownDefault: 'the tenants folder beside CONFIDE_MASTER_KEY_FILE with the file provider, else none',
    parse: text,
    meaning: "directory (mode 0700) of tenants' key-encryption keys, outside the data directory and shared by every node: deleting a tenant destroys its key there (crypto-shredding); unset: tenant keys are wrapped by the master key and a deletion cannot shred",
  }),
  dataCipher: variable({ name: 'CONFIDE_DATA_CIPHER', default: 'aes-256-gcm', parse: parseOneOf(DATA_CIPHERS), meaning: 'aes-256-gcm or chacha20-poly1305: what new values are sealed with; a key rotation re-encrypts older values under it' }),
  databaseUrl: variable({ name: 'CONFIDE_DATABASE_URL', parse: parsePostgresUrl, meaning: 'postgres://… to use PostgreSQL; unset: embedded SQLite in the data directory' }),
  databasePreparedStatements: variable({
    name: 'CONFIDE_DATABASE_PREPARED_STATEMENTS',
    default: 'true',
    parse: parseBoolean,
    meaning: 'PostgreSQL: each connection prepares a parameterised statement once and runs it by name; false for a pooler that moves connections between clients per transaction (PgBouncer in transaction mode before 1.21)',
  }),
  publicListen: variable({ name: 'CONFIDE_PUBLIC_LISTEN', default: '127.0.0.1:8443', parse: parseListenAddress, meaning: 'host:port of the public HTTPS listener' }),
  adminListen: variable({ name: 'CONFIDE_ADMIN_LISTEN', default: '127.0.0.1:9443', parse: parseListenAddress, meaning: 'host:port of the admin listener (staff and operations): loopback or private only' }),
  adminAllowPublic: variable({ name: 'CONFIDE_ADMIN_ALLOW_PUBLIC', default: 'false', parse: parseBoolean, meaning: 'true lets the admin listener bind an address that is neither loopback nor private' }),
  adminClientCa: variable({ name: 'CONFIDE_ADMIN_CLIENT_CA', parse: text, meaning: 'PEM file of the CA whose client certificates the admin listener requires (mutual TLS)' }),
  metricsToken: variable({ name: 'CONFIDE_METRICS_TOKEN', parse: parseBearerToken, meaning: 'bearer token Prometheus presents for GET /metrics on the admin listener (at least 32 characters)' }),
  tlsCertFile: variable({ name: 'CONFIDE_TLS_CERT_FILE', parse: text, meaning: 'PEM certificate chain (with CONFIDE_TLS_KEY_FILE); unset: self-signed' }),
  tlsKeyFile: variable({ name: 'CONFIDE_TLS_KEY_FILE', parse: text, meaning: 'PEM private key (with CONFIDE_TLS_CERT_FILE)' }),
  tlsProfile: variable({ name: 'CONFIDE_TLS_PROFILE', default: 'intermediate', parse: parseOneOf(TLS_PROFILES), meaning: 'intermediate (TLS 1.2 + 1.3) or modern (TLS 1.3 only)' }),
  logLevel: variable({ name: 'CONFIDE_LOG_LEVEL', default: 'info', parse: parseOneOf(LOG_LEVELS), meaning: 'fatal, error, warn, info, debug, trace or silent' }),
  logFormat: variable({ name: 'CONFIDE_LOG_FORMAT', default: 'auto', parse: parseOneOf(LOG_FORMATS), meaning: 'json, pretty (one readable line per entry) or auto (pretty on a terminal)' }),
  publicUrl: variable({ name: 'CONFIDE_PUBLIC_URL', derived: defaultPublicUrl, shownDefault: 'https://localhost:PORT', parse: parseHttpsUrl, meaning: 'https:// address people reach Confide at: e-mail links, WebAuthn origin' }),
  webauthnRpId: variable({
    name: 'CONFIDE_WEBAUTHN_RP_ID',
    derived: (earlier) => {
      const url = earlier.get('CONFIDE_PUBLIC_URL') as string | undefined;
      return url ? new URL(url).hostname.replace(/^\[|\]$/g, '') : undefined;
    },
    shownDefault: 'host of CONFIDE_PUBLIC_URL',
    parse: text,
    meaning: 'WebAuthn relying-party id (a domain)',
  }),
  smtpUrl: variable({ name: 'CONFIDE_SMTP_URL', parse: parseSmtpUrl, meaning: 'smtps:// or smtp:// (STARTTLS) server; unset: encrypted outbox folder' }),
  mailFrom: variable({ name: 'CONFIDE_MAIL_FROM', default: 'Confide <confide@localhost>', parse: text, meaning: 'the From: of every message' }),
  mailRetryBaseSeconds: variable({ name: 'CONFIDE_MAIL_RETRY_BASE_SECONDS', default: '5', parse: parseInteger(1, 3600), meaning: 'first retry delay for undelivered mail, doubling up to 15 minutes' }),
  bodyLimitBytes: variable({ name: 'CONFIDE_BODY_LIMIT_BYTES', default: '1048576', parse: parseInteger(1024, 64 * 1024 * 1024), meaning: 'largest request body (413 beyond)' }),
  // Per listener. 100 per IP: a browser opens at most 6 connections to a host and an API client's
  // pool a few dozen, so an office behind one NAT address still fits. 10,000 in total: idle TLS
  // connections cost some tens of KiB each, so this bounds them to a few hundred MiB, far below
  // the file-descriptor limit Node raises itself to.
  maxConnectionsPerIp: variable({ name: 'CONFIDE_MAX_CONNECTIONS_PER_IP', default: '100', parse: parseInteger(1, 1_000_000), meaning: 'open connections per client IP (IPv6: per /64) on each listener' }),
  maxConnections: variable({ name: 'CONFIDE_MAX_CONNECTIONS', default: '10000', parse: parseInteger(1, 1_000_000), meaning: 'open connections in total on each listener' }),
  // One page of any list is bounded in bytes, so parallel large lists cannot exhaust memory or stall the event loop.
  // Files attached to records (src/files/): streamed, so the cap bounds disk use, not memory.
  fileMaxBytes: variable({ name: 'CONFIDE_FILE_MAX_BYTES', default: '104857600', parse: parseInteger(1, 64 * 1024 ** 3), meaning: 'largest file attached to a record, in bytes' }),
  filesPerRecord: variable({ name: 'CONFIDE_FILES_PER_RECORD', default: '20', parse: parseInteger(1, 1000), meaning: 'files attached to one record' }),
  requestTimeoutSeconds: variable({ name: 'CONFIDE_REQUEST_TIMEOUT_SECONDS', default: '30', parse: parseInteger(1, 600), meaning: 'a request (headers and body) must arrive whole within this many seconds, or 408 and the connection is closed; file uploads are governed by CONFIDE_UPLOAD_STALL_SECONDS instead' }),
  uploadStallSeconds: variable({ name: 'CONFIDE_UPLOAD_STALL_SECONDS', default: '30', parse: parseInteger(1, 3600), meaning: 'a streamed file upload that brings less than 64 KiB in this many seconds is cut (408, connection closed, nothing stored); it has no total time limit' }),
  blobStore: variable({ name: 'CONFIDE_BLOB_STORE', default: 'local', parse: parseBlobStore, meaning: 'where the sealed bytes of files rest: local (the data directory) or s3://bucket/prefix (with the AWS_* variables)' }),
  s3ForcePathStyle: variable({ name: 'CONFIDE_S3_FORCE_PATH_STYLE', default: 'false', parse: parseBoolean, meaning: 'true: address S3 buckets in the path (https://host/bucket/key), for S3-compatible servers without virtual-host buckets' }),
  listMaxBytes: variable({ name: 'CONFIDE_LIST_MAX_BYTES', default: '4194304', parse: parseInteger(1024, 256 * 1024 * 1024), meaning: 'largest JSON body of one list page' }),
  passwordMinLength: variable({ name: 'CONFIDE_PASSWORD_MIN_LENGTH', default: '12', parse: parseInteger(8, 64), meaning: 'minimum password length (8-64)' }),
  // ASVS / NIST AAL2 bounds: at most 24 h absolute and 1 h idle for customer sessions.
  sessionAbsoluteSeconds: variable({ name: 'CONFIDE_SESSION_ABSOLUTE_SECONDS', default: '86400', parse: parseInteger(60, 86400), meaning: 'absolute session lifetime (60-86400)' }),
  sessionIdleSeconds: variable({ name: 'CONFIDE_SESSION_IDLE_SECONDS', default: '3600', parse: parseInteger(60, 3600), meaning: 'a session ends after this long unused (60-3600)' }),
  // Sign-in throttling (SignInThrottle): tight per (account, source), looser per source, and per
  // account only at a high ceiling, which NIST 800-63B 3.2.2 bounds at 100 consecutive failures.
  signInPairMaxFailures: variable({ name: 'CONFIDE_SIGNIN_MAX_FAILURES', default: '10', parse: parseInteger(1, 100), meaning: 'failed sign-ins per account and source before that pair waits' }),
  signInSourceMaxFailures: variable({ name: 'CONFIDE_SIGNIN_IP_MAX_FAILURES', default: '100', parse: parseInteger(1, 100000), meaning: 'failed sign-ins per source, any account, before the source waits' }),
  signInWindowSeconds: variable({ name: 'CONFIDE_SIGNIN_WINDOW_SECONDS', default: '900', parse: parseInteger(1, 86400), meaning: 'a run of failures is forgotten this long after the last' }),
  signInFirstDelaySeconds: variable({ name: 'CONFIDE_SIGNIN_DELAY_SECONDS', default: '60', parse: parseInteger(1, 86400), meaning: 'first wait once a limit is reached, doubling with each failure' }),
  signInMaxDelaySeconds: variable({ name: 'CONFIDE_SIGNIN_MAX_DELAY_SECONDS', default: '3600', parse: parseInteger(1, 86400), meaning: 'longest wait' }),
  signInAccountSlowAfter: variable({ name: 'CONFIDE_SIGNIN_ACCOUNT_SLOW_AFTER', default: '20', parse: parseInteger(1, 100), meaning: 'account-wide failures after which unknown sources wait' }),
  signInAccountMaxFailures: variable({ name: 'CONFIDE_SIGNIN_ACCOUNT_MAX_FAILURES', default: '100', parse: parseInteger(1, 100), meaning: 'account-wide failures at which unknown sources are refused' }),
  signInKnownSourceDays: variable({ name: 'CONFIDE_SIGNIN_KNOWN_SOURCE_DAYS', default: '30', parse: parseInteger(1, 365), meaning: 'how long a source that signed in stays known for the account' }),
  // Request-rate limits (src/http/rate-limits.ts): one-minute windows, answered 429 RATE_LIMITED.
  rateLimits: variable({ name: 'CONFIDE_RATE_LIMITS', default: 'on', parse: parseOneOf(RATE_LIMIT_SWITCH), meaning: 'off removes the per-IP, account, API key and tenant limits: a benchmark and diagnostic switch, never for production' }),
  rateLimitPerIp: variable({ name: 'CONFIDE_RATE_LIMIT_PER_IP', default: '6000', parse: parseInteger(1, 1_000_000_000), meaning: 'requests per minute from one client address (IPv6: one /64), each listener' }),
  rateLimitPerIpv6Network: variable({ name: 'CONFIDE_RATE_LIMIT_PER_IPV6_NETWORK', default: '24000', parse: parseInteger(1, 1_000_000_000), meaning: 'requests per minute from one IPv6 /48 (one site), all its /64s together, each listener' }),
  rateLimitPerAccount: variable({ name: 'CONFIDE_RATE_LIMIT_PER_ACCOUNT', default: '3000', parse: parseInteger(1, 1_000_000_000), meaning: 'requests per minute from one signed-in user or staff member' }),
  rateLimitPerApiKey: variable({ name: 'CONFIDE_RATE_LIMIT_PER_API_KEY', default: '6000', parse: parseInteger(1, 1_000_000_000), meaning: 'requests per minute with one API key' }),
  rateLimitPerTenant: variable({ name: 'CONFIDE_RATE_LIMIT_PER_TENANT', default: '12000', parse: parseInteger(1, 1_000_000_000), meaning: 'requests per minute for one tenant, all its users and keys together' }),
  signInsPerIpPerMinute: variable({ name: 'CONFIDE_SIGNINS_PER_IP_PER_MINUTE', default: '30', parse: parseInteger(1, 1_000_000_000), meaning: 'sign-in requests (each step, customers and staff) per minute from one client address' }),
  passwordResetsPerIpPerMinute: variable({ name: 'CONFIDE_PASSWORD_RESETS_PER_IP_PER_MINUTE', default: '5', parse: parseInteger(1, 1_000_000_000), meaning: 'password-reset requests per minute from one client address' }),
  invitationSendsPerIpPerMinute: variable({ name: 'CONFIDE_INVITATION_SENDS_PER_IP_PER_MINUTE', default: '30', parse: parseInteger(1, 1_000_000_000), meaning: 'invitations sent per minute from one client address' }),
  redisUrl: variable({ name: 'CONFIDE_REDIS_URL', parse: parseRedisUrl, meaning: 'redis://host:port keeping the rate-limit counters, shared by every node; unset: in memory, per node' }),
  trustedProxies: variable({ name: 'CONFIDE_TRUSTED_PROXIES', parse: parseAddressList, meaning: 'comma-separated addresses or CIDRs of proxies whose X-Forwarded-For gives the client address on the public listener' }),
  adminTrustedProxies: variable({ name: 'CONFIDE_ADMIN_TRUSTED_PROXIES', parse: parseAddressList, meaning: 'the same for the admin listener (its clients are staff, often not behind the public proxies); unset: none' }),
  // Caps on growth: each answers 409 LIMIT_REACHED or 429 RATE_LIMITED when reached.
  signUpsPerIpPerHour: variable({ name: 'CONFIDE_SIGNUPS_PER_IP_PER_HOUR', default: '10', parse: parseInteger(1, 1_000_000), meaning: 'sign-ups per client address per hour' }),
  sessionsPerUser: variable({ name: 'CONFIDE_MAX_SESSIONS_PER_USER', default: '50', parse: parseInteger(1, 10_000), meaning: 'live sessions per user; beyond it the oldest ends' }),
  apiKeysPerTenant: variable({ name: 'CONFIDE_MAX_API_KEYS_PER_TENANT', default: '100', parse: parseInteger(1, 100_000), meaning: 'live API keys per tenant' }),
  collectionsPerTenant: variable({ name: 'CONFIDE_MAX_COLLECTIONS_PER_TENANT', default: '1000', parse: parseInteger(1, 1_000_000), meaning: 'collections per tenant' }),
  invitationsPerTenantPerHour: variable({ name: 'CONFIDE_INVITATIONS_PER_HOUR', default: '20', parse: parseInteger(1, 100_000), meaning: 'invitations one tenant may send per hour' }),
  pendingInvitationsPerTenant: variable({ name: 'CONFIDE_MAX_PENDING_INVITATIONS', default: '100', parse: parseInteger(1, 100_000), meaning: 'invitations of one tenant waiting to be accepted' }),
  // Signed access-log checkpoints (src/audit/access-log-checkpoints.ts): a tenant's head is signed once either bound is reached.
  checkpointEntries: variable({ name: 'CONFIDE_CHECKPOINT_ENTRIES', default: '1000', parse: parseInteger(1, 1_000_000), meaning: 'a tenant’s access-log head is signed once this many entries wait unsigned' }),
  checkpointSeconds: variable({ name: 'CONFIDE_CHECKPOINT_SECONDS', default: '300', parse: parseInteger(1, 86_400), meaning: 'a tenant’s access-log head is signed once its oldest unsigned entry is this old' }),
  // Data key rotation and re-encryption (src/key-rotation/).
  keyRotationDays: variable({ name: 'CONFIDE_KEY_ROTATION_DAYS', parse: parseInteger(1, 36_500), meaning: 'rotate a tenant’s data key once its active version is this many days old (unset: only on request)' }),
  keyMaxAgeDays: variable({ name: 'CONFIDE_KEY_MAX_AGE_DAYS', default: '365', parse: parseDaysOrOff(36_500), meaning: 'a data key whose active version is older than this many days is due for rotation: shown by confide keys status and GET /v1/tenant/keys, alerted by the key-max-age rule (off or 0: never due by age)' }),
  reencryptBatch: variable({ name: 'CONFIDE_REENCRYPT_BATCH', default: '500', parse: parseInteger(1, 100_000), meaning: 'values the re-encryption job re-seals per transaction (one checkpoint each)' }),
  reencryptPauseMs: variable({ name: 'CONFIDE_REENCRYPT_PAUSE_MS', default: '10', parse: parseInteger(0, 60_000), meaning: 'least pause between re-encryption batches (also 4× each batch’s time), so serving goes on; 0: none' }),
  // Backups (src/backup/): encrypted archives of the whole deployment, made and verified on a schedule.
  backupTarget: variable({ name: 'CONFIDE_BACKUP_TARGET', parse: parseBackupTarget, meaning: 'where backups are written: a folder, or s3://bucket/prefix (with the AWS_* variables); unset: no backups' }),
  backupInterval: variable({ name: 'CONFIDE_BACKUP_INTERVAL', default: '24h', parse: parseDuration(60, 30 * 86_400, { off: true }), meaning: 'how often a backup is made and verified while serving (a duration such as 30m, 6h, 1d; off: only by confide backup create)' }),
  backupRetention: variable({ name: 'CONFIDE_BACKUP_RETENTION', default: '30d', parse: parseDuration(3600, 3650 * 86_400), meaning: 'backups older than this are deleted from the target (the newest verified one is always kept)' }),
  securityEventRetentionDays: variable({ name: 'CONFIDE_SECURITY_EVENT_RETENTION_DAYS', default: '400', parse: parseInteger(1, 36_500), meaning: 'security events older than this are deleted' }),
  // Alert delivery (src/monitoring/alert-delivery.ts) and syslog forwarding (src/security-events/syslog-forwarder.ts).
  alertEmails: variable({ name: 'CONFIDE_ALERT_EMAILS', parse: parseEmailList, meaning: 'comma-separated addresses every alert change is e-mailed to' }),
  alertWebhookUrl: variable({ name: 'CONFIDE_ALERT_WEBHOOK_URL', parse: parseWebhookUrl, meaning: 'https:// address every alert change is POSTed to, signed (http:// only for loopback)' }),
  alertWebhookSecret: variable({ name: 'CONFIDE_ALERT_WEBHOOK_SECRET', parse: parseSecret, meaning: 'HMAC-SHA-256 key of the webhook signature (at least 32 characters)' }),
  syslogUrl: variable({ name: 'CONFIDE_SYSLOG_URL', parse: parseSyslogUrl, meaning: 'tls://host:port of a syslog collector every security event is forwarded to (tcp:// only for loopback)' }),
  syslogBufferLines: variable({ name: 'CONFIDE_SYSLOG_BUFFER_LINES', default: '10000', parse: parseInteger(1, 1_000_000), meaning: 'events kept while the collector is unreachable; the oldest are dropped beyond' }),
} as const;

export type VariableKey = keyof typeof VARIABLES;
/** What each variable parsed to, or undefined when unset with no default (or refused). */
export type VariableValues = { [K in VariableKey]: ReturnType<(typeof VARIABLES)[K]['parse']> | undefined };
