export type TlsProfile = 'intermediate' | 'modern';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface ListenAddress {
  host: string;
  port: number;
}

export type DatabaseConfig =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; url: string };

export type MasterKeySource =
  | { kind: 'file'; file: string }
  | { kind: 'env'; keyBase64: string };

/** The whole configuration, parsed once at start and frozen. See docs/configuration.md. */
export interface Config {
  dataDir: string;
  masterKey: MasterKeySource;
  database: DatabaseConfig;
  publicListen: ListenAddress;
  adminListen: ListenAddress;
  tls: { certFile: string | null; keyFile: string | null; profile: TlsProfile };
  logLevel: LogLevel;
  http: { bodyLimitBytes: number; headersTimeoutMs: number; requestTimeoutMs: number };
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
  signInThrottle: {
    accountMaxFailures: number;
    ipMaxFailures: number;
    windowSeconds: number;
    lockSeconds: number;
  };
}
