import type { Kysely } from 'kysely';
import type { Dialect } from '../db/database.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { AccessLogTable, DB } from '../db/schema.js';
import { preparedCommand, preparedQuery } from '../db/prepared-query.js';
import { DATABASE_RETRY_AFTER_SECONDS, databaseUnreachable } from '../db/database-unreachable.js';
import { AppError } from '../lib/app-error.js';
import { STORAGE_RETRY_AFTER_SECONDS, storageFault } from '../lib/storage-fault.js';
import type { Clock } from '../lib/time.js';
import type { Cipher } from '../keys/cipher.js';
import type { AccessEvent, AccessLogEntry } from './access-event.js';
import { entryToRow } from './access-log-rows.js';
import { entryHash, genesisHash } from './hash-chain.js';

// Every access to customer data runs these three statements: they are compiled once.
const headQuery = (db: Kysely<DB>, tenantId: string) => db.selectFrom('access_log_heads').select(['seq', 'hash']).where('tenant_id', '=', tenantId);
const readHead = preparedQuery(headQuery, 1);
const lockHead = preparedQuery((db: Kysely<DB>, tenantId: string) => headQuery(db, tenantId).forUpdate(), 1);
const moveHead = preparedQuery(
  (db: Kysely<DB>, seq: string, hash: string, tenantId: string) =>
    db.updateTable('access_log_heads').set({ seq: seq as unknown as number, hash }).where('tenant_id', '=', tenantId),
  3,
);
/** Moves the head only from where this process last left it: 0 rows changed means it is not there any more. */
const moveKnownHead = preparedCommand(
  (db: Kysely<DB>, seq: string, hash: string, tenantId: string, knownSeq: string, knownHash: string) =>
    db
      .updateTable('access_log_heads')
      .set({ seq: seq as unknown as number, hash })
      .where('tenant_id', '=', tenantId)
      .where('seq', '=', knownSeq as unknown as number)
      .where('hash', '=', knownHash),
  5,
);
const ACCESS_LOG_COLUMNS = [
  'tenant_id', 'seq', 'at', 'actor_type', 'actor_id', 'action', 'resource_type', 'resource_collection',
  'resource_id', 'grant_id', 'justification', 'ip_enc', 'details_enc', 'prev_hash', 'hash',
] as const satisfies ReadonlyArray<keyof AccessLogTable>;
const insertEntry = preparedQuery(
  (db: Kysely<DB>, ...values: string[]) =>
    db.insertInto('access_log').values(Object.fromEntries(ACCESS_LOG_COLUMNS.map((column, i) => [column, values[i]])) as unknown as AccessLogTable),
  ACCESS_LOG_COLUMNS.length,
);

/** A tenant's chain head: the seq and hash of its last entry (seq 0 and the genesis hash before the first). */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** The tenant's recorded chain head (access_log_heads), undefined when it has none (a deleted tenant). */
export async function readChainHead(db: Kysely<DB>, tenantId: string): Promise<ChainHead | undefined> {
  const [head] = await readHead(db, tenantId);
  return head ? { seq: Number(head.seq), hash: head.hash } : undefined;
}

/**
 * PostgreSQL: the entry and the head's move in one statement (a data-modifying WITH), so the head's
 * row lock is held for one round trip fewer: with one busy tenant, every append waits for that lock.
 */
const insertEntryMovingHead = preparedCommand(
  (db: Kysely<DB>, ...values: string[]) =>
    db
      .with('entry', (cte) =>
        cte
          .insertInto('access_log')
          .values(Object.fromEntries(ACCESS_LOG_COLUMNS.map((column, i) => [column, values[i]])) as unknown as AccessLogTable)
          .returning('tenant_id'),
      )
      .updateTable('access_log_heads')
      .set({ seq: values[ACCESS_LOG_COLUMNS.length] as unknown as number, hash: values[ACCESS_LOG_COLUMNS.length + 1]! })
      .where('tenant_id', '=', values[0]!),
  ACCESS_LOG_COLUMNS.length + 2,
);

/** Told of each entry written and each append that failed (the metrics); the wiring passes it in. */
export interface AccessLogMetrics {
  appended(): void;
  failed(): void;
}

const UNCOUNTED: AccessLogMetrics = { appended() {}, failed() {} };

/**
 * The append-only, hash-chained, per-tenant access log. It fails closed, as Vault's audit
 * devices do: when an entry cannot be written, the caller gets AUDIT_UNAVAILABLE and must not
 * serve or change the data.
 */
export class AccessLog {
  /** SQLite: each tenant's head as this process last wrote it (appendAfterKnownHead); one small entry per tenant. */
  private readonly knownHeads = new Map<string, ChainHead>();

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly dialect: Dialect,
    private readonly clock: Clock,
    private readonly metrics: AccessLogMetrics = UNCOUNTED,
  ) {}

  /** Starts a new tenant's chain; called in the transaction that creates the tenant. */
  async startChain(trx: Kysely<DB>, tenantId: string): Promise<void> {
    await trx.insertInto('access_log_heads').values({ tenant_id: tenantId, seq: 0, hash: genesisHash(tenantId) }).execute();
  }

  /**
   * Appends inside the caller's transaction, so a data change and its entry commit together.
   * The head row is locked for the duration, which serialises each tenant's chain across nodes.
   */
  async appendInTransaction(trx: Kysely<DB>, tenantId: string, cipher: Cipher, event: AccessEvent): Promise<AccessLogEntry> {
    try {
      const entry = this.dialect.locksRowsForUpdate ? await this.appendLocked(trx, tenantId, cipher, event) : await this.appendAfterKnownHead(trx, tenantId, cipher, event);
      this.metrics.appended();
      return entry;
    } catch (error) {
      this.metrics.failed();
      throw auditUnavailable(error);
    }
  }

  /** PostgreSQL: the head row locked for the transaction, which serialises each tenant's chain across nodes; the entry and the head's move then go in one statement. */
  private async appendLocked(trx: Kysely<DB>, tenantId: string, cipher: Cipher, event: AccessEvent): Promise<AccessLogEntry> {
    const [head] = await lockHead(trx, tenantId);
    if (!head) throw new Error('the tenant has no access-log head');
    const entry = this.nextEntry(tenantId, event, { seq: Number(head.seq), hash: head.hash });
    const row = entryToRow(tenantId, entry, cipher);
    await insertEntryMovingHead(trx, ...ACCESS_LOG_COLUMNS.map((column) => row[column]), entry.seq, entry.hash);
    return entry;
  }

  /**
   * SQLite, whose one writer at a time makes a lock needless: the head this process last wrote is
   * taken as the head, and moved only if the row still says so (seq and hash), which saves reading
   * it on every append. Anything else (another process appended, a transaction that moved it rolled
   * back, the tenant went) changes no row; the head is then read and the append made from it.
   */
  private async appendAfterKnownHead(trx: Kysely<DB>, tenantId: string, cipher: Cipher, event: AccessEvent): Promise<AccessLogEntry> {
    const known = this.knownHeads.get(tenantId);
    if (known) {
      const entry = this.nextEntry(tenantId, event, known);
      if ((await moveKnownHead(trx, entry.seq, entry.hash, tenantId, known.seq, known.hash)) === 1) return this.insert(trx, tenantId, cipher, entry);
      this.knownHeads.delete(tenantId);
    }
    const head = await readChainHead(trx, tenantId);
    if (!head) throw new Error('the tenant has no access-log head');
    return this.appendAfter(trx, tenantId, cipher, event, head);
  }

  private async appendAfter(trx: Kysely<DB>, tenantId: string, cipher: Cipher, event: AccessEvent, head: ChainHead): Promise<AccessLogEntry> {
    const entry = this.nextEntry(tenantId, event, head);
    await moveHead(trx, entry.seq, entry.hash, tenantId);
    return this.insert(trx, tenantId, cipher, entry);
  }

  private nextEntry(tenantId: string, event: AccessEvent, head: ChainHead): AccessLogEntry {
    const unhashed: Omit<AccessLogEntry, 'hash'> = { ...event, seq: head.seq + 1, at: this.clock.now().toISOString(), prevHash: head.hash };
    return { ...unhashed, hash: entryHash(tenantId, unhashed) };
  }

  /** SQLite: writes the entry (its head already moved) and remembers that head for the next append. */
  private async insert(trx: Kysely<DB>, tenantId: string, cipher: Cipher, entry: AccessLogEntry): Promise<AccessLogEntry> {
    const row = entryToRow(tenantId, entry, cipher);
    await insertEntry(trx, ...ACCESS_LOG_COLUMNS.map((column) => row[column]));
    this.knownHeads.set(tenantId, { seq: entry.seq, hash: entry.hash });
    return entry;
  }

  /**
   * Appends an entry for a read and returns once it is durable (its transaction committed),
   * so no byte of the data leaves before the access is on record.
   */
  async appendDurably(tenantId: string, cipher: Cipher, event: AccessEvent): Promise<AccessLogEntry> {
    try {
      return await this.transactions.run((trx) => this.appendInTransaction(trx, tenantId, cipher, event));
    } catch (error) {
      if (error instanceof AppError) throw error;
      this.metrics.failed(); // the entry was written but its transaction did not commit
      throw auditUnavailable(error);
    }
  }
}

/**
 * Fail closed. A database out of space or failing, or one that cannot be reached (a failover),
 * says so (`details.reason`, with `Retry-After`), so a client can tell a condition that passes
 * from one that will not; nothing else of the cause leaves. Each is still an `audit.unavailable`
 * event: the access log could not be written, which is true during a failover too.
 */
export function auditUnavailable(cause: unknown): AppError {
  const fault = storageFault(cause, 'database');
  if (fault) return new AppError('AUDIT_UNAVAILABLE', { details: fault, retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS, cause });
  if (databaseUnreachable(cause)) {
    return new AppError('AUDIT_UNAVAILABLE', { details: { reason: 'database_unavailable', component: 'database' }, retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS, cause });
  }
  return new AppError('AUDIT_UNAVAILABLE', { cause });
}
