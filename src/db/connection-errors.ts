/**
 * A PostgreSQL server that cannot be reached or will not let Confide in. Its message is one line
 * naming the server (never the user or password) and the variable to fix, since the raw error of
 * `pg` ("connect ECONNREFUSED …", an AggregateError with no message at all) names neither.
 */
export class DatabaseConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseConnectionError';
  }
}

/** `host:port/database` of a postgres:// URL: what an operator needs to find the server, without credentials. */
export function postgresLocation(url: string): string {
  const parsed = new URL(url);
  const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres';
  return `${host}:${parsed.port || '5432'}/${database}`;
}

// SQLSTATEs a person can act on: https://www.postgresql.org/docs/current/errcodes-appendix.html
const HINTS: Record<string, string> = {
  '3D000': 'create it (createdb, or scripts/dev-postgres.sh start for a local one)',
  '28P01': 'check the user and password in the URL',
  '28000': 'check the user in the URL and the server’s pg_hba.conf',
};

const SOCKET_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is PostgreSQL running and listening there?)',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found (DNS lookup failed)',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset by the server',
};

function reasonOf(error: unknown): string {
  // Node tries each address of a name like `localhost` in turn and reports them together.
  if (error instanceof AggregateError && error.errors.length > 0) return reasonOf(error.errors[0]);
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && SOCKET_REASONS[code]) return SOCKET_REASONS[code];
  const text = typeof message === 'string' && message ? message : String(error);
  const hint = typeof code === 'string' ? HINTS[code] : undefined;
  return hint ? `${text}; ${hint}` : text;
}

/**
 * Translates a failure to connect into one line: "cannot connect to PostgreSQL at host:port/db
 * (CONFIDE_DATABASE_URL): reason". The password is cut from the reason too, should a server or
 * driver ever echo it.
 */
export function connectionError(error: unknown, url: string): DatabaseConnectionError {
  let reason = reasonOf(error).replace(/\s+/g, ' ').trim();
  const password = new URL(url).password;
  for (const secret of new Set([password, decodeURIComponent(password)])) {
    if (secret) reason = reason.split(secret).join('***');
  }
  return new DatabaseConnectionError(`cannot connect to PostgreSQL at ${postgresLocation(url)} (CONFIDE_DATABASE_URL): ${reason}`, { cause: error });
}
