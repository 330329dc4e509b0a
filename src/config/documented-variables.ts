/**
 * Every variable loadConfig reads, its default and a one-line meaning: what `confide serve --help`
 * prints. docs/configuration.md has the full text; a test keeps the three naming the same
 * variables with the same defaults (src/config/documented-variables.test.ts). Plain data, so
 * `--help` stays fast.
 */
export interface DocumentedVariable {
  name: string;
  /** As loadConfig applies it; '' when there is none (the variable is optional). */
  default: string;
  meaning: string;
}

export const DOCUMENTED_VARIABLES: readonly DocumentedVariable[] = [
  { name: 'CONFIDE_DATA_DIR', default: './confide-data', meaning: 'embedded database, generated certificate and mail outbox (mode 0700)' },
  { name: 'CONFIDE_MASTER_KEY_FILE', default: './confide-keys/master.key', meaning: 'the master key file (mode 0600), never inside the data directory' },
  { name: 'CONFIDE_MASTER_KEY', default: '', meaning: 'the master key itself, base64 of 32 bytes (instead of the file)' },
  { name: 'CONFIDE_DATABASE_URL', default: '', meaning: 'postgres://… to use PostgreSQL; unset: embedded SQLite in the data directory' },
  { name: 'CONFIDE_PUBLIC_LISTEN', default: '127.0.0.1:8443', meaning: 'host:port of the public HTTPS listener' },
  { name: 'CONFIDE_ADMIN_LISTEN', default: '127.0.0.1:9443', meaning: 'host:port of the admin listener (validated, not yet used)' },
  { name: 'CONFIDE_TLS_CERT_FILE', default: '', meaning: 'PEM certificate chain (with CONFIDE_TLS_KEY_FILE); unset: self-signed' },
  { name: 'CONFIDE_TLS_KEY_FILE', default: '', meaning: 'PEM private key (with CONFIDE_TLS_CERT_FILE)' },
  { name: 'CONFIDE_TLS_PROFILE', default: 'intermediate', meaning: 'intermediate (TLS 1.2 + 1.3) or modern (TLS 1.3 only)' },
  { name: 'CONFIDE_LOG_LEVEL', default: 'info', meaning: 'fatal, error, warn, info, debug, trace or silent' },
  { name: 'CONFIDE_LOG_FORMAT', default: 'auto', meaning: 'json, pretty (one readable line per entry) or auto (pretty on a terminal)' },
  { name: 'CONFIDE_PUBLIC_URL', default: 'https://localhost:PORT', meaning: 'https:// address people reach Confide at: e-mail links, WebAuthn origin' },
  { name: 'CONFIDE_WEBAUTHN_RP_ID', default: 'host of CONFIDE_PUBLIC_URL', meaning: 'WebAuthn relying-party id (a domain)' },
  { name: 'CONFIDE_SMTP_URL', default: '', meaning: 'smtps:// or smtp:// (STARTTLS) server; unset: encrypted outbox folder' },
  { name: 'CONFIDE_MAIL_FROM', default: 'Confide <confide@localhost>', meaning: 'the From: of every message' },
  { name: 'CONFIDE_MAIL_RETRY_BASE_SECONDS', default: '5', meaning: 'first retry delay for undelivered mail, doubling up to 15 minutes' },
  { name: 'CONFIDE_BODY_LIMIT_BYTES', default: '1048576', meaning: 'largest request body (413 beyond)' },
  { name: 'CONFIDE_LIST_MAX_BYTES', default: '4194304', meaning: 'largest JSON body of one list page' },
  { name: 'CONFIDE_PASSWORD_MIN_LENGTH', default: '12', meaning: 'minimum password length (8-64)' },
  { name: 'CONFIDE_SESSION_ABSOLUTE_SECONDS', default: '86400', meaning: 'absolute session lifetime (60-86400)' },
  { name: 'CONFIDE_SESSION_IDLE_SECONDS', default: '3600', meaning: 'a session ends after this long unused (60-3600)' },
  { name: 'CONFIDE_SIGNIN_MAX_FAILURES', default: '10', meaning: 'failed sign-ins per account and source before that pair waits' },
  { name: 'CONFIDE_SIGNIN_IP_MAX_FAILURES', default: '100', meaning: 'failed sign-ins per source, any account, before the source waits' },
  { name: 'CONFIDE_SIGNIN_WINDOW_SECONDS', default: '900', meaning: 'a run of failures is forgotten this long after the last' },
  { name: 'CONFIDE_SIGNIN_DELAY_SECONDS', default: '60', meaning: 'first wait once a limit is reached, doubling with each failure' },
  { name: 'CONFIDE_SIGNIN_MAX_DELAY_SECONDS', default: '3600', meaning: 'longest wait' },
  { name: 'CONFIDE_SIGNIN_ACCOUNT_SLOW_AFTER', default: '20', meaning: 'account-wide failures after which unknown sources wait' },
  { name: 'CONFIDE_SIGNIN_ACCOUNT_MAX_FAILURES', default: '100', meaning: 'account-wide failures at which unknown sources are refused' },
  { name: 'CONFIDE_SIGNIN_KNOWN_SOURCE_DAYS', default: '30', meaning: 'how long a source that signed in stays known for the account' },
  { name: 'CONFIDE_SIGNUPS_PER_IP_PER_HOUR', default: '10', meaning: 'sign-ups per client address per hour' },
  { name: 'CONFIDE_MAX_SESSIONS_PER_USER', default: '50', meaning: 'live sessions per user; beyond it the oldest ends' },
  { name: 'CONFIDE_MAX_API_KEYS_PER_TENANT', default: '100', meaning: 'live API keys per tenant' },
  { name: 'CONFIDE_MAX_COLLECTIONS_PER_TENANT', default: '1000', meaning: 'collections per tenant' },
  { name: 'CONFIDE_INVITATIONS_PER_HOUR', default: '20', meaning: 'invitations one tenant may send per hour' },
  { name: 'CONFIDE_MAX_PENDING_INVITATIONS', default: '100', meaning: 'invitations of one tenant waiting to be accepted' },
  { name: 'CONFIDE_SECURITY_EVENT_RETENTION_DAYS', default: '400', meaning: 'security events older than this are deleted' },
];

/** The list as `confide serve --help` shows it: name, default, meaning, in aligned columns. */
export function describeVariables(variables: readonly DocumentedVariable[] = DOCUMENTED_VARIABLES): string {
  const nameWidth = Math.max(...variables.map((variable) => variable.name.length));
  return variables
    .map((variable) => {
      const fallback = variable.default === '' ? '' : ` (default: ${variable.default})`;
      return `  ${variable.name.padEnd(nameWidth)}  ${variable.meaning}${fallback}`;
    })
    .join('\n');
}
