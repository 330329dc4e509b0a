import type { SyslogTarget } from './parsers.js';
import type { S3Settings } from './s3-settings.js';

export type TlsProfile = 'intermediate' | 'modern';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** `auto`: human-readable when stdout is a terminal, else JSON lines. */
export type LogFormat = 'json' | 'pretty' | 'auto';
/** The AEAD new values are sealed with (src/keys/algorithms.ts); values keep the one they were sealed with until re-sealed. */
export type DataCipher = 'aes-256-gcm' | 'chacha20-poly1305';

export interface ListenAddress {
  host: string;
  port: number;
}

export type DatabaseConfig =
  | { kind: 'sqlite'; file: string }
  /** `preparedStatements` (default true): each connection prepares a parameterised statement once (db/named-statements.ts). */
  | { kind: 'postgres'; url: string; preparedStatements?: boolean };

/** A master key in an HSM token, reached through its PKCS#11 library (src/keys/pkcs11-master-key.ts). */
export interface Pkcs11Settings {
  module: string;
  tokenLabel: string;
  pinFile: string;
  keyLabel: string;
}

/** Where tenants' key-encryption keys live: files under the master key, or HSM token objects (src/keys/tenant-key-store.ts). */
export type TenantKeyStoreKind = 'file' | 'pkcs11';

export type MasterKeySource =
  | { kind: 'file'; file: string }
  | { kind: 'env'; keyBase64: string }
  | ({ kind: 'pkcs11' } & Pkcs11Settings);

/** The whole configuration, parsed once at start and frozen. See docs/configuration.md. */
export interface Config {
  dataDir: string;
  masterKey: MasterKeySource;
  /**
   * Where `confide keys migrate-master --to file|pkcs11` puts the master key, whatever the current
   * provider: the key file (CONFIDE_MASTER_KEY_FILE) and the token (CONFIDE_PKCS11_*, null unless
   * module, token and PIN file are all set).
   */
  masterKeyTargets: { file: string; pkcs11: Pkcs11Settings | null };
  /** Where tenants' key-encryption keys live (CONFIDE_TENANT_KEY_STORE): the directory below, or the master key's HSM token. */
  tenantKeyStore: TenantKeyStoreKind;
  /**
   * Tenants' key-encryption keys (CONFIDE_TENANT_KEY_DIR), outside the database; null: none, and
   * with the file store a tenant deletion cannot shred. With the pkcs11 store, where
   * `confide keys migrate-tenant-keys --to file` puts them.
   */
  tenantKeyDir: string | null;
  /** What new values are sealed with; a rotation re-encrypts older values under it. */
  dataCipher: DataCipher;
  database: DatabaseConfig;
  publicListen: ListenAddress;
  adminListen: ListenAddress;
  /** The admin listener: whether it may bind a public address, and the CA its clients must present a certificate from. */
  admin: { allowPublic: boolean; clientCaFile: string | null };
  /** GET /metrics on the admin listener: the bearer token that reads it (or only a client certificate; neither: 404). */
  metrics: { token: string | null };
  tls: { certFile: string | null; keyFile: string | null; profile: TlsProfile };
  logLevel: LogLevel;
  logFormat: LogFormat;
  http: {
    bodyLimitBytes: number;
    headersTimeoutMs: number;
    /** A request must have arrived whole this long after it began (src/http/body-deadline.ts) … */
    requestTimeoutMs: number;
    /** … except a streamed file upload, cut only when it brings less than 64 KiB in this long. */
    uploadStallMs: number;
    /** Connection caps of each listener (src/http/connection-caps.ts); a client is an IPv4 address or an IPv6 /64. */
    maxConnectionsPerIp: number;
    maxConnections: number;
  };
  /** A list page ends early when its JSON body would pass this many bytes (always at least one item). */
  lists: { maxBytes: number };
  /** Backups (src/backup/): the target (a folder, absolute, or s3://…; null: none), seconds between scheduled runs (null: off), seconds kept. */
  backup: { target: string | null; intervalSeconds: number | null; retentionSeconds: number };
  /** Files attached to records (src/files/): the largest one, and how many one record may carry. */
  files: { maxBytes: number; perRecord: number; store: 'local' | `s3://${string}` };
  /** How S3 targets and blob stores are reached (src/config/s3-settings.ts). */
  s3: S3Settings;
  passwords: { minLength: number };
  sessions: { absoluteSeconds: number; idleSeconds: number };
  /** Where links in e-mails point, and the WebAuthn origin. */
  publicUrl: string;
  /** The WebAuthn relying party: its id (a domain) and the origin browsers report. */
  webauthn: { rpId: string; origin: string };
  mail: {
    /** smtp:// or smtps:// URL; null writes encrypted messages to the outbox folder instead. */
    smtpUrl: string | null;
    from: string;
    retryBaseSeconds: number;
  };
  /** Caps on what a client can make exist or send (issue 6): documented in docs/configuration.md. */
  limits: {
    signUpsPerIpPerHour: number;
    sessionsPerUser: number;
    apiKeysPerTenant: number;
    collectionsPerTenant: number;
    invitationsPerTenantPerHour: number;
    pendingInvitationsPerTenant: number;
  };
  securityEvents: { retentionDays: number };
  /** When a tenant's access-log head is signed: once `entries` entries wait unsigned, or the oldest has waited `seconds`. */
  checkpoints: { entries: number; seconds: number };
  /**
   * Data key rotation (src/key-rotation/): the schedule (null: only on request), the age past which
   * an active key version is due (null: never by age; the inventory and the key-max-age rule), and
   * the re-encryption job's pace.
   */
  keyRotation: { rotationDays: number | null; maxAgeDays: number | null; reencryptBatch: number; reencryptPauseMs: number };
  /** Request-rate limits (src/http/rate-limits.ts): requests per one-minute window, per key. */
  rateLimits: {
    /** False only as a benchmark or diagnostic switch: drops the per-IP, account, API key and tenant limits. */
    enabled: boolean;
    perIp: number;
    /** Per IPv6 /48, all its /64s together: a looser aggregate than perIp. */
    perIpv6Network: number;
    perAccount: number;
    perApiKey: number;
    perTenant: number;
    signInsPerIp: number;
    passwordResetsPerIp: number;
    invitationSendsPerIp: number;
    /** Where the counters live, shared by every node; null keeps them in this process's memory. */
    redisUrl: string | null;
  };
  /** Addresses or CIDRs of proxies whose X-Forwarded-For is believed (Fastify `trustProxy`) on the public listener; empty: none. */
  trustedProxies: readonly string[];
  /** The same for the admin listener, set on its own: the proxies in front of the public listener are not trusted here. */
  adminTrustedProxies: readonly string[];
  /** Who is told when an alert opens, is acknowledged or resolves: see docs/alert-delivery.md. */
  alerts: { emails: string[]; webhook: { url: string; secret: string } | null };
  /** Where every security event is also forwarded (RFC 5424 over TCP/TLS), and how many wait while it is down. */
  syslog: { target: SyslogTarget | null; bufferLines: number };
  /** How password guessing is slowed: see SignInThrottle (src/identity/sign-in-throttle.ts). */
  signInThrottle: {
    /** Failures for one account from one source (IPv4 address or IPv6 /64) before that pair waits. */
    pairMaxFailures: number;
    /** Failures from one source, to any accounts, before that source waits (credential stuffing). */
    sourceMaxFailures: number;
    /** A run of pair or source failures is forgotten this long after its last failure and block. */
    windowSeconds: number;
    /** The first wait; each further failure doubles it, up to maxDelaySeconds. */
    firstDelaySeconds: number;
    maxDelaySeconds: number;
    /** Account-wide failures (from anywhere) after which sources not known to be good wait. */
    accountSlowAfter: number;
    /** Consecutive account-wide failures at which unknown sources are refused (NIST: at most 100). */
    accountMaxFailures: number;
    /** How long a source that signed in to an account stays known (exempt from account-wide waits). */
    knownSourceDays: number;
  };
}
