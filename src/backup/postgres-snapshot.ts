import { sql, type ControlledTransaction, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { primaryKeyOf, quoteIdentifier, type SnapshotColumn, type SnapshotReader } from './snapshot-reader.js';

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

/**
 * A dump's snapshot on PostgreSQL: one `REPEATABLE READ READ ONLY` transaction on a pool connection
 * of its own, so every table is read as of the same moment while the other connections serve.
 * Each table is read through a server-side cursor in primary-key order, one sort per table and
 * batches of `batchRows` per round trip (keyset pages would sort again per page, since byte order,
 * `COLLATE "C"`, is not what the primary-key index is ordered by).
 */
export class PostgresSnapshotReader implements SnapshotReader {
  private constructor(private readonly trx: ControlledTransaction<DB>) {}

  static async open(db: Kysely<DB>): Promise<PostgresSnapshotReader> {
    const trx = await db.startTransaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute();
    // The snapshot is taken at the transaction's first statement: take it now.
    await sql`select 1`.execute(trx);
    return new PostgresSnapshotReader(trx);
  }

  async migration(): Promise<string> {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name desc limit 1`.execute(this.trx);
    if (!rows[0]) throw new Error('the database has no migrations applied');
    return rows[0].name;
  }

  async columns(table: string): Promise<SnapshotColumn[]> {
    const { rows } = await sql<{ name: string; type: string; pk: number | null }>`
      select c.column_name as name, c.data_type as type, k.ordinal_position::int as pk
      from information_schema.columns c
      left join information_schema.table_constraints t
        on t.table_schema = c.table_schema and t.table_name = c.table_name and t.constraint_type = 'PRIMARY KEY'
      left join information_schema.key_column_usage k
        on k.constraint_schema = t.constraint_schema and k.constraint_name = t.constraint_name and k.column_name = c.column_name
      where c.table_schema = current_schema() and c.table_name = ${table}`.execute(this.trx);
    return rows.map((row) => ({ name: row.name, integer: INTEGER_TYPES.has(row.type), text: row.type === 'text', primaryKey: row.pk ?? 0 }));
  }

  async *rows(table: string, columns: readonly SnapshotColumn[], batchRows: number): AsyncIterable<unknown[][]> {
    const list = columns.map((column) => quoteIdentifier(column.name)).join(', ');
    const order = primaryKeyOf(table, columns)
      .map((column) => `${quoteIdentifier(column.name)}${column.text ? ' COLLATE "C"' : ''}`)
      .join(', ');
    await sql`declare confide_dump no scroll cursor for ${sql.raw(`select ${list} from ${quoteIdentifier(table)} order by ${order}`)}`.execute(this.trx);
    try {
      for (;;) {
        const { rows } = await sql<Record<string, unknown>>`fetch forward ${sql.lit(batchRows)} from confide_dump`.execute(this.trx);
        if (rows.length === 0) break;
        yield rows.map((row) => columns.map((column) => row[column.name]));
      }
    } finally {
      // After a failed fetch the transaction is aborted and this fails too: the first error is the one to tell.
      await sql`close confide_dump`.execute(this.trx).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.trx.rollback().execute(); // read only: nothing to keep
  }
}
