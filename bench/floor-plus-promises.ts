/**
 * Floor+'s per-request promises (bench/floor-plus.ts), each the least code that keeps what Confide
 * keeps, with no Confide module: the headers of every answer, the rate-limit counters, the session
 * checks, input validation, the ciphertext envelope, the access-log entry's hash and the metrics.
 * Each names where Confide keeps the same promise.
 */
import { validate as validUuid } from 'uuid';
import { open, seal } from './floor-crypto.js';

/** Security headers: helmet's output for Confide's options (src/http/security-headers.ts HELMET_OPTIONS), on every answer. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none';frame-ancestors 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
  // No answer of the API may be cached (src/http/listener-plumbing.ts, onSend).
  'cache-control': 'no-store',
});

const WINDOW_MS = 60_000;

/** One limit a request counts against (src/http/rate-limits.ts `Limit`). */
export interface Limit {
  key: string;
  max: number;
}

/** What a request's limits say: over one (then `retryAfterSeconds`), and the tightest one for the `ratelimit-*` headers. */
export interface Counted {
  refused: boolean;
  limit: number;
  remaining: number;
  resetSeconds: number;
}

/**
 * Rate limits: fixed one-minute windows that start at a key's first request, counted in order and
 * stopping at the first exceeded (src/http/rate-limits.ts limitChecker; the counters are
 * @fastify/rate-limit's memory store there, a Map here).
 */
export class RateLimits {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  count(limits: readonly Limit[], now = Date.now()): Counted {
    let tightest: Counted | undefined;
    for (const { key, max } of limits) {
      let window = this.windows.get(key);
      if (!window || now >= window.resetAt) {
        window = { count: 0, resetAt: now + WINDOW_MS };
        this.windows.set(key, window);
      }
      window.count += 1;
      const counted = { refused: window.count > max, limit: max, remaining: Math.max(0, max - window.count), resetSeconds: Math.ceil((window.resetAt - now) / 1000) };
      if (counted.refused) return counted;
      if (!tightest || counted.remaining < tightest.remaining) tightest = counted;
    }
    return tightest!;
  }
}

/** The row of the session query (src/identity/session-store.ts resolveSession), in the same names. */
export interface SessionRow {
  sessionId: string;
  createdAt: string;
  requireMfa: number | null;
  tenantIdleSeconds: number | null;
  tenantAbsoluteSeconds: number | null;
  totpUser: string | null;
  hasPasskey: number;
  userId: string;
  tenantId: string;
  lastSeenAt: string;
  expiresAt: string;
  revokedAt: string | null;
  disabledAt: string | null;
  emailVerifiedAt: string | null;
  role: string;
}

/** Confide's default session lifetimes (CONFIDE_SESSION_ABSOLUTE_SECONDS, CONFIDE_SESSION_IDLE_SECONDS). */
const POLICY = { absoluteSeconds: 86_400, idleSeconds: 3_600 };
/** Roles that may read and write records (src/core/policies.ts). */
const RECORD_ROLES = new Set(['owner', 'admin', 'member']);
/** How stale last_seen_at may get before a request writes it (src/identity/session-store.ts LAST_SEEN_PRECISION_MS). */
const LAST_SEEN_PRECISION_MS = 30_000;

export type SessionVerdict = { refused: 'UNAUTHENTICATED' | 'EMAIL_NOT_VERIFIED' | 'MFA_REQUIRED' | 'FORBIDDEN' } | { refused?: undefined; touch: boolean };

/**
 * SessionStore.resolve, then requireAuthentication's checks (src/http/authenticate.ts): revoked,
 * disabled, expired, past the absolute or idle timeout (the tenant's shorter values win), e-mail
 * verified, MFA satisfied, and a role that may act on records.
 */
export function checkSession(row: SessionRow | undefined, now: Date): SessionVerdict {
  if (!row || row.revokedAt !== null || row.disabledAt !== null) return { refused: 'UNAUTHENTICATED' };
  const idleSeconds = Math.min(POLICY.idleSeconds, row.tenantIdleSeconds ?? Infinity);
  const absoluteSeconds = Math.min(POLICY.absoluteSeconds, row.tenantAbsoluteSeconds ?? Infinity);
  const lastSeen = new Date(row.lastSeenAt).getTime();
  const at = now.getTime();
  if (at >= new Date(row.expiresAt).getTime() || at >= new Date(row.createdAt).getTime() + absoluteSeconds * 1000 || at >= lastSeen + idleSeconds * 1000) {
    return { refused: 'UNAUTHENTICATED' };
  }
  if (row.emailVerifiedAt === null) return { refused: 'EMAIL_NOT_VERIFIED' };
  if (row.requireMfa && row.totpUser === null && !row.hasPasskey) return { refused: 'MFA_REQUIRED' };
  if (!RECORD_ROLES.has(row.role)) return { refused: 'FORBIDDEN' };
  return { touch: at - lastSeen > LAST_SEEN_PRECISION_MS };
}

/** Collection names and record ids as the records routes' schemas allow them (src/records/routes.ts). */
const COLLECTION_NAME = /^[a-z][a-z0-9_]{0,62}$/;
export const validCollection = (name: string) => COLLECTION_NAME.test(name);
export const validId = (id: string) => validUuid(id);

/** Confide's MAX_JSON_DEPTH (src/http/http-limits.ts). */
const MAX_JSON_DEPTH = 64;

/** A body the record routes take: a JSON object, no deeper than 64 levels, no number JSON cannot hold (src/http/json-body-parser.ts bodyProblem). */
export function validBody(body: unknown): body is Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  const nodes: unknown[] = [body];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop();
    const depth = depths.pop()!;
    if (typeof node === 'number' && !Number.isFinite(node)) return false;
    if (node === null || typeof node !== 'object') continue;
    if (depth > MAX_JSON_DEPTH) return false;
    for (const child of Object.values(node)) {
      nodes.push(child);
      depths.push(depth + 1);
    }
  }
  return true;
}

/** The AAD of a value (src/keys/cipher.ts additionalData). */
const aad = (owner: string, table: string, rowId: string, field: string) => `confide:v1:${owner}:${table}:${rowId}:${field}`;

/** Seals into Confide's text envelope `c1.A256GCM.<keyVersion>.<base64url(nonce ‖ ciphertext ‖ tag)>` (src/keys/envelope-format.ts). */
export function sealEnvelope(key: Buffer, keyVersion: number, plaintext: string, owner: string, table: string, rowId: string, field: string): string {
  return `c1.A256GCM.${keyVersion}.${seal(key, Buffer.from(plaintext, 'utf8'), aad(owner, table, rowId, field)).toString('base64url')}`;
}

/** Opens an envelope with the key of the version it names (src/keys/cipher.ts decrypt). */
export function openEnvelope(keys: ReadonlyMap<number, Buffer>, envelope: string, owner: string, table: string, rowId: string, field: string): string {
  const parts = envelope.split('.');
  if (parts.length !== 4 || parts[0] !== 'c1' || parts[1] !== 'A256GCM') throw new Error('not a Confide ciphertext');
  const key = keys.get(Number(parts[2]));
  if (!key) throw new Error(`no key version ${parts[2]}`);
  return open(key, Buffer.from(parts[3]!, 'base64url'), aad(owner, table, rowId, field)).toString('utf8');
}

/** An access-log entry with every column of Confide's (src/db/schema.ts AccessLogTable); grant, justification and details are a staff member's or a list's. */
export interface Entry {
  tenantId: string;
  seq: number;
  at: string;
  actorType: 'member';
  actorId: string;
  action: 'create' | 'read';
  resourceType: 'record';
  collection: string;
  resourceId: string;
  ip: string;
  prevHash: string;
}

const json = JSON.stringify;

/** The entry's RFC 8785 canonical JSON, hashed over the same fields as Confide's (src/audit/hash-chain.ts entryCanonicalJson). */
export function entryCanonicalJson(e: Entry): string {
  return (
    `{"action":${json(e.action)},"actor":{"id":${json(e.actorId)},"type":${json(e.actorType)}},"at":${json(e.at)}` +
    `,"details":null,"grantId":null,"ip":${json(e.ip)},"justification":null,"prevHash":${json(e.prevHash)}` +
    `,"resource":{"collection":${json(e.collection)},"id":${json(e.resourceId)},"type":${json(e.resourceType)}}` +
    `,"seq":${json(e.seq)},"tenantId":${json(e.tenantId)}}`
  );
}

/** Confide's latency buckets in seconds (src/metrics/request-metrics.ts LATENCY_BUCKETS). */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Metrics: answers counted by method, route pattern and status, a duration histogram by method
 * and route, errors by code (src/metrics/request-metrics.ts, prom-client there, plain Maps here).
 */
export class Metrics {
  readonly requests = new Map<string, number>();
  readonly durations = new Map<string, { buckets: number[]; sum: number; count: number }>();
  readonly errors = new Map<string, number>();

  requestCompleted(method: string, route: string, status: number, seconds: number): void {
    const counter = `${method} ${route} ${status}`;
    this.requests.set(counter, (this.requests.get(counter) ?? 0) + 1);
    const series = `${method} ${route}`;
    let histogram = this.durations.get(series);
    if (!histogram) this.durations.set(series, (histogram = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < BUCKETS.length; i += 1) if (seconds <= BUCKETS[i]!) histogram.buckets[i]! += 1;
    histogram.sum += seconds;
    histogram.count += 1;
  }

  errorAnswered(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }
}
