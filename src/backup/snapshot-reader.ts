/** A column as a dump needs it: its name, whether it holds integers, its place in the primary key (0: none). */
export interface SnapshotColumn {
  name: string;
  integer: boolean;
  primaryKey: number;
  /** Text ordering must be by bytes in both stores (PostgreSQL's default collation is the locale's). */
  text: boolean;
}

/**
 * One consistent, read-only view of a database, open until `close()`: every read sees the same
 * committed state. `rows` gives batches of value arrays (in `columns` order, ordered by primary key).
 */
export interface SnapshotReader {
  /** The newest migration applied (read inside the snapshot). */
  migration(): Promise<string>;
  columns(table: string): Promise<SnapshotColumn[]>;
  rows(table: string, columns: readonly SnapshotColumn[], batchRows: number): AsyncIterable<unknown[][]>;
  close(): Promise<void>;
}

/** The columns a dump names, in one order whatever the physical order in either store: by name. */
export function orderedColumns(columns: SnapshotColumn[]): SnapshotColumn[] {
  return [...columns].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function primaryKeyOf(table: string, columns: readonly SnapshotColumn[]): SnapshotColumn[] {
  const key = columns.filter((column) => column.primaryKey > 0).sort((a, b) => a.primaryKey - b.primaryKey);
  if (key.length === 0) throw new Error(`table ${table} has no primary key: a dump cannot order it`);
  return key;
}

/** Identifiers come from BACKUP_TABLES and the store's own catalogue; quoted all the same. */
export const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, '""')}"`;
