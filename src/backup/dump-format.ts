import { createHash, type Hash } from 'node:crypto';
import { canonicalJson } from '../lib/canonical-json.js';
import { DumpError } from './dump-error.js';

/**
 * The lines a database dump is made of (docs/backups.md, "Dump format"): what the backup archive
 * carries as its dump frames, one JSON value each. They are backend-neutral: the same data dumped
 * from SQLite or PostgreSQL gives the same lines, so the same per-table checksums, and loads into
 * either dialect.
 */

/** A column value: text, a safe integer, null, bytes, or an integer past 2^53 as its decimal digits. */
export type DumpValue = string | number | null | { b64: string } | { int: string };

/** First line: where the dump came from. `migration` is the newest migration applied there. */
export interface SchemaLine {
  t: 'schema';
  dialect: 'sqlite' | 'postgres';
  migration: string;
}

/** Opens a table: its columns, in the order every `row` line of it gives values. */
export interface TableLine {
  t: 'table';
  table: string;
  columns: string[];
}

export interface RowLine {
  t: 'row';
  v: DumpValue[];
}

/** Closes a table: its row count and the sha256 of its row lines (see `TableChecksum`). */
export interface EndLine {
  t: 'end';
  table: string;
  rows: number;
  sha256: string;
}

export type DumpLine = SchemaLine | TableLine | RowLine | EndLine;

/** What a table's dump (or load) came to: the manifest's `tables` entries. */
export interface TableSummary {
  table: string;
  rows: number;
  sha256: string;
}

/** The one spelling of a row line: its checksum is taken over these bytes. */
export function rowLineJson(values: readonly DumpValue[]): string {
  return canonicalJson({ t: 'row', v: values });
}

/**
 * sha256 over each row line's canonical JSON followed by "\n", in primary-key order (byte order
 * for text in both dialects): the same rows give the same digest whichever store they left.
 */
export class TableChecksum {
  private readonly hash: Hash = createHash('sha256');
  rows = 0;

  add(values: readonly DumpValue[]): void {
    this.hash.update(rowLineJson(values));
    this.hash.update('\n');
    this.rows += 1;
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/**
 * One column value as the drivers give it, made backend-neutral. `integer` says the column is an
 * integer type: PostgreSQL hands int8 (`bigint`) back as a string, SQLite (in safe-integer mode)
 * as a bigint; both become a number when exact, else `{int}`.
 */
export function encodeValue(value: unknown, integer: boolean): DumpValue {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return { b64: Buffer.from(value).toString('base64') };
  if (typeof value === 'bigint' || (integer && typeof value === 'string')) return encodeInteger(BigInt(value));
  if (typeof value === 'number') {
    // A REAL would not survive the text round trip exactly the same in both stores: none exists today.
    if (!Number.isSafeInteger(value)) throw new DumpError('a non-integer number is not a dumpable value');
    return value;
  }
  if (typeof value === 'boolean') return value ? 1 : 0; // the schema keeps booleans as 0/1 integers
  if (typeof value === 'string') return value;
  throw new DumpError(`a ${typeof value} is not a dumpable value`);
}

function encodeInteger(value: bigint): DumpValue {
  const asNumber = Number(value);
  return Number.isSafeInteger(asNumber) ? asNumber : { int: value.toString() };
}

/** A dump value as the driver of `dialect` takes it for an INSERT. */
export function decodeValue(value: DumpValue, dialect: 'sqlite' | 'postgres'): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'number') return value;
  if ('b64' in value) return Buffer.from(value.b64, 'base64');
  if ('int' in value) {
    if (!/^-?\d+$/.test(value.int)) throw new DumpError('an {int} value is not an integer');
    // pg sends a bigint parameter as text; better-sqlite3 binds a JS bigint as a 64-bit integer.
    return dialect === 'postgres' ? value.int : BigInt(value.int);
  }
  throw new DumpError('an unknown value encoding');
}
