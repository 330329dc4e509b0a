import { CompiledQuery, type Kysely } from 'kysely';
import type { DB } from '../src/db/schema.js';

/**
 * Rows of one table collected and written many to a statement: what makes the seed fast. What the
 * rows hold (ciphertexts, hashes, column names) comes from Confide's own row mappers; this only
 * batches them. SQLite only (`?` placeholders): the seed builds an embedded database.
 */
export class BatchInsert<Row extends object> {
  private rows: Row[] = [];
  private columns: string[] | undefined;
  /** How many rows one statement carries: under SQLite's 32,766 bound variables for the widest table (15 columns). */
  static readonly ROWS = 500;

  constructor(private readonly table: keyof DB) {}

  async add(trx: Kysely<DB>, row: Row): Promise<void> {
    this.rows.push(row);
    if (this.rows.length >= BatchInsert.ROWS) await this.flush(trx);
  }

  /** Writes what is collected; called before the transaction commits. */
  async flush(trx: Kysely<DB>): Promise<void> {
    if (this.rows.length === 0) return;
    const rows = this.rows;
    this.rows = [];
    const columns = (this.columns ??= Object.keys(rows[0]!));
    const tuple = `(${columns.map(() => '?').join(',')})`;
    const sql = `insert into "${this.table}" (${columns.map((c) => `"${c}"`).join(',')}) values ${Array.from(rows, () => tuple).join(',')}`;
    const parameters = rows.flatMap((row) => columns.map((column) => (row as Record<string, unknown>)[column] ?? null));
    await trx.executeQuery(CompiledQuery.raw(sql, parameters));
  }
}
