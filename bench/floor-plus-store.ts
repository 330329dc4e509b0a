/**
 * Floor+'s store (bench/floor-plus.ts): the schema, with the tables and foreign keys Confide's
 * create and read touch (src/db/migrations), the statements, the tenants' keys, the access-log
 * append as Confide's SQLite append makes it, and group commit as the floor's.
 */
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3-multiple-ciphers';
import { v7 as uuidv7 } from 'uuid';
import { sha256 } from './floor-crypto.js';
import { entryCanonicalJson, sealEnvelope, type Entry } from './floor-plus-promises.js';

/** Confide's default CONFIDE_MAX_COLLECTIONS_PER_TENANT. */
const MAX_COLLECTIONS = 1000;
/** Confide's session token prefix (src/identity/session-store.ts): another realm's token costs no query. */
export const TOKEN_PREFIX = 'cfs_';

/** The columns Confide's create and read read or write (users' e-mail and password, sessions' client info and the like left out). */
export const FLOOR_PLUS_SCHEMA = `
  CREATE TABLE tenants (id TEXT PRIMARY KEY, created_at TEXT NOT NULL);
  CREATE TABLE users (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, disabled_at TEXT, email_verified_at TEXT);
  CREATE TABLE memberships (tenant_id TEXT NOT NULL REFERENCES tenants (id), user_id TEXT NOT NULL REFERENCES users (id), role TEXT NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (tenant_id, user_id));
  CREATE INDEX memberships_user ON memberships (user_id);
  CREATE TABLE tenant_settings (tenant_id TEXT PRIMARY KEY REFERENCES tenants (id), require_mfa INTEGER NOT NULL, session_idle_seconds INTEGER,
    session_absolute_seconds INTEGER, updated_at TEXT NOT NULL);
  CREATE TABLE totp_factors (user_id TEXT PRIMARY KEY REFERENCES users (id), secret_enc TEXT NOT NULL, confirmed_at TEXT, created_at TEXT NOT NULL);
  CREATE TABLE webauthn_credentials (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id), created_at TEXT NOT NULL);
  CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);
  CREATE TABLE sessions (id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL REFERENCES users (id),
    tenant_id TEXT NOT NULL REFERENCES tenants (id), created_at TEXT NOT NULL, last_seen_at TEXT NOT NULL, expires_at TEXT NOT NULL,
    revoked_at TEXT, verified_at TEXT);
  CREATE INDEX sessions_user ON sessions (user_id);
  CREATE TABLE collections (tenant_id TEXT NOT NULL REFERENCES tenants (id), name TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (tenant_id, name));
  CREATE TABLE records (tenant_id TEXT NOT NULL, collection TEXT NOT NULL, id TEXT NOT NULL, data_enc TEXT NOT NULL, version INTEGER NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (tenant_id, collection, id),
    FOREIGN KEY (tenant_id, collection) REFERENCES collections (tenant_id, name));
  CREATE TABLE access_log (tenant_id TEXT NOT NULL REFERENCES tenants (id), seq INTEGER NOT NULL, at TEXT NOT NULL, actor_type TEXT NOT NULL,
    actor_id TEXT NOT NULL, action TEXT NOT NULL, resource_type TEXT NOT NULL, resource_collection TEXT, resource_id TEXT, grant_id TEXT,
    justification TEXT, ip_enc TEXT, details_enc TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (tenant_id, seq));
  CREATE TABLE access_log_heads (tenant_id TEXT PRIMARY KEY REFERENCES tenants (id), seq INTEGER NOT NULL, hash TEXT NOT NULL);
`;

/** A refusal raised by a unit before it wrote anything: only that unit fails, the rest of its batch commits. */
export class Refusal extends Error {}

export type Store = ReturnType<typeof floorPlusStore>;

/** The statements, the tenants' keys and chain heads, and group commit. */
export function floorPlusStore(db: Database.Database) {
  const statements = {
    // Session checks: the same joins as Confide's resolveSession (src/identity/session-store.ts).
    session: db.prepare(`SELECT s.id AS sessionId, s.created_at AS createdAt, ts.require_mfa AS requireMfa, ts.session_idle_seconds AS tenantIdleSeconds,
        ts.session_absolute_seconds AS tenantAbsoluteSeconds, t.user_id AS totpUser,
        EXISTS (SELECT w.id FROM webauthn_credentials w WHERE w.user_id = s.user_id) AS hasPasskey,
        s.user_id AS userId, s.tenant_id AS tenantId, s.last_seen_at AS lastSeenAt, s.expires_at AS expiresAt, s.revoked_at AS revokedAt,
        s.verified_at AS verifiedAt, u.disabled_at AS disabledAt, u.email_verified_at AS emailVerifiedAt, m.role AS role
      FROM sessions s JOIN users u ON u.id = s.user_id JOIN memberships m ON m.user_id = s.user_id AND m.tenant_id = s.tenant_id
      LEFT JOIN tenant_settings ts ON ts.tenant_id = s.tenant_id LEFT JOIN totp_factors t ON t.user_id = s.user_id AND t.confirmed_at IS NOT NULL
      WHERE s.token_hash = ?`),
    touchSession: db.prepare('UPDATE sessions SET last_seen_at = ? WHERE id = ?'),
    // FLOOR_PLUS_WITHOUT=session: the floor's lookup, no checks.
    sessionOnly: db.prepare('SELECT user_id AS userId, tenant_id AS tenantId FROM sessions WHERE token_hash = ?'),
    collection: db.prepare('SELECT 1 FROM collections WHERE tenant_id = ? AND name = ?').pluck(),
    countCollections: db.prepare('SELECT count(*) FROM collections WHERE tenant_id = ?').pluck(),
    insertCollection: db.prepare('INSERT INTO collections (tenant_id, name, created_at) VALUES (?, ?, ?)'),
    insertRecord: db.prepare('INSERT INTO records (tenant_id, collection, id, data_enc, version, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)'),
    selectRecord: db.prepare('SELECT data_enc, version, created_at, updated_at FROM records WHERE tenant_id = ? AND collection = ? AND id = ?'),
    readHead: db.prepare('SELECT seq, hash FROM access_log_heads WHERE tenant_id = ?'),
    moveHead: db.prepare('UPDATE access_log_heads SET seq = ?, hash = ? WHERE tenant_id = ?'),
    moveKnownHead: db.prepare('UPDATE access_log_heads SET seq = ?, hash = ? WHERE tenant_id = ? AND seq = ? AND hash = ?'),
    insertEntry: db.prepare(`INSERT INTO access_log (tenant_id, seq, at, actor_type, actor_id, action, resource_type, resource_collection, resource_id,
      grant_id, justification, ip_enc, details_enc, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, NULL, ?, ?)`),
  };
  /** Each tenant's data keys by version (Confide keeps its unwrapped keys in memory the same way); version 1 seals. */
  const tenantKeys = new Map<string, Map<number, Buffer>>();
  /** Each tenant's head as this process last wrote it: moved only if the row still says so (src/audit/access-log.ts appendAfterKnownHead). */
  const knownHeads = new Map<string, { seq: number; hash: string }>();

  /** The next entry after `head`, hashed over the same fields as Confide's (src/audit/access-log.ts nextEntry). */
  function nextEntry(head: { seq: number; hash: string }, event: Omit<Entry, 'seq' | 'at' | 'prevHash'>): Entry & { hash: string } {
    const entry: Entry = { ...event, seq: head.seq + 1, at: new Date().toISOString(), prevHash: head.hash };
    return { ...entry, hash: sha256(entryCanonicalJson(entry)) };
  }

  /** The log entry in Confide's shape, chained on the head row, its address sealed in an envelope; in the current transaction. */
  function appendEntry(event: Omit<Entry, 'seq' | 'at' | 'prevHash'>): void {
    const { tenantId } = event;
    const known = knownHeads.get(tenantId);
    let entry = known && nextEntry(known, event);
    // The head moves only from where this process left it; otherwise (a batch rolled back) it is read from its row.
    if (!entry || statements.moveKnownHead.run(entry.seq, entry.hash, tenantId, known!.seq, known!.hash).changes !== 1) {
      knownHeads.delete(tenantId);
      const head = statements.readHead.get(tenantId) as { seq: number; hash: string } | undefined;
      if (!head) throw new Error('the tenant has no access-log head');
      entry = nextEntry(head, event);
      statements.moveHead.run(entry.seq, entry.hash, tenantId);
    }
    const ipEnc = sealEnvelope(tenantKeys.get(tenantId)!.get(1)!, 1, entry.ip, tenantId, 'access_log', `${tenantId}/${entry.seq}`, 'ip');
    statements.insertEntry.run(tenantId, entry.seq, entry.at, entry.actorType, entry.actorId, entry.action, entry.resourceType, entry.collection, entry.resourceId, ipEnc, entry.prevHash, entry.hash);
    knownHeads.set(tenantId, { seq: entry.seq, hash: entry.hash });
  }

  /** The collection row the record's foreign key needs, within the tenant's limit (src/records/record-repository.ts ensureCollection). */
  function ensureCollection(tenantId: string, name: string, now: string): void {
    if (statements.collection.get(tenantId, name)) return;
    if ((statements.countCollections.get(tenantId) as number) >= MAX_COLLECTIONS) throw new Refusal('LIMIT_REACHED');
    statements.insertCollection.run(tenantId, name, now);
  }

  return { db, statements, tenantKeys, appendEntry, ensureCollection, commit: groupCommit(db), setUpTenant: () => setUpTenant(db, tenantKeys) };
}

/**
 * Group commit as the floor's and Confide's: what arrives within two turns of the event loop commits
 * together, one fsync each. As in Confide's (src/db/transaction-runner.ts GroupCommit), each unit of a batch of
 * several runs in its own savepoint, so a unit that fails rolls back alone and the others commit.
 */
function groupCommit(db: Database.Database): (run: () => void) => Promise<void> {
  let pending: Array<{ run: () => void; resolve: () => void; reject: (error: unknown) => void }> = [];
  const flush = () => {
    const batch = pending;
    pending = [];
    const refused = new Set<number>();
    const alone = batch.length === 1;
    try {
      db.exec('BEGIN IMMEDIATE');
      batch.forEach((unit, i) => {
        if (!alone) db.exec('SAVEPOINT unit');
        try {
          unit.run();
          if (!alone) db.exec('RELEASE unit');
        } catch (error) {
          if (alone && !(error instanceof Refusal)) throw error;
          if (!alone) db.exec('ROLLBACK TO unit; RELEASE unit');
          refused.add(i);
          unit.reject(error);
        }
      });
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      batch.forEach((unit, i) => refused.has(i) || unit.reject(error));
      return;
    }
    batch.forEach((unit, i) => refused.has(i) || unit.resolve());
  };
  return (run) =>
    new Promise((resolve, reject) => {
      pending.push({ run, resolve, reject });
      if (pending.length === 1) setImmediate(() => setImmediate(flush));
    });
}

/** A tenant with a verified owner and a session, its chain started (Confide's sign-up, verification and sign-in, in one go). */
function setUpTenant(db: Database.Database, tenantKeys: Map<string, Map<number, Buffer>>): { token: string; tenantId: string; userId: string } {
  const [tenantId, userId, sessionId] = [uuidv7(), uuidv7(), uuidv7()];
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const now = new Date();
  const at = now.toISOString();
  tenantKeys.set(tenantId, new Map([[1, randomBytes(32)]]));
  db.transaction(() => {
    db.prepare('INSERT INTO tenants (id, created_at) VALUES (?, ?)').run(tenantId, at);
    db.prepare('INSERT INTO users (id, created_at, email_verified_at) VALUES (?, ?, ?)').run(userId, at, at);
    db.prepare(`INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)`).run(tenantId, userId, at);
    db.prepare('INSERT INTO access_log_heads (tenant_id, seq, hash) VALUES (?, 0, ?)').run(tenantId, sha256(`confide-access-log-genesis:${tenantId}`));
    db
      .prepare('INSERT INTO sessions (id, token_hash, user_id, tenant_id, created_at, last_seen_at, expires_at, verified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(sessionId, sha256(token), userId, tenantId, at, at, new Date(now.getTime() + 86_400_000).toISOString(), at);
  })();
  return { token, tenantId, userId };
}
