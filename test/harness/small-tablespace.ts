import { chownSync, existsSync, statSync } from 'node:fs';
import pg from 'pg';
import { postgresBaseUrl } from './dialects.js';
import { mountSmallFilesystem, type SmallFilesystem } from './small-filesystem.js';

/**
 * A PostgreSQL tablespace on a small tmpfs, to put one test's schema on a disk that fills up.
 * The server's write-ahead log stays on its own disk, so a full tablespace refuses the writes that
 * must extend a table's file (SQLSTATE 53100) and the server carries on (no PANIC), as a full data
 * volume under a separate WAL volume does in production.
 */
export interface SmallTablespace {
  readonly name: string;
  /** The filesystem under it: fill() and free() it. */
  readonly fs: SmallFilesystem;
  /** Moves every table of `schema` (with its TOAST table) and every index into the tablespace. */
  moveSchema(schema: string): Promise<void>;
  /**
   * Drops the tablespace, then unmounts: drop the schema first, since PostgreSQL drops only an
   * empty tablespace. Safe to call twice.
   */
  drop(): Promise<void>;
}

async function onServer<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresBaseUrl() });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/**
 * Why this run cannot make a tablespace on a small filesystem, or undefined when it can: CREATE
 * TABLESPACE needs a superuser, and its directory must be on this machine (a server given by
 * CONFIDE_TEST_DATABASE_URL may be elsewhere). Mounting itself is checked by cannotMount().
 */
export async function cannotMakeSmallTablespace(): Promise<string | undefined> {
  return onServer(async (client) => {
    const { rows } = await client.query<{ superuser: boolean }>('SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user');
    if (!rows[0]?.superuser) return 'the test connection to PostgreSQL is not a superuser (CREATE TABLESPACE needs one)';
    const { rows: [setting] } = await client.query<{ dir: string }>("SELECT current_setting('data_directory') AS dir");
    if (!setting || !existsSync(setting.dir)) return 'the PostgreSQL server is not on this machine (its data directory is not here)';
    return undefined;
  });
}

/** Mounts a tmpfs of `sizeBytes`, owned by the server's user (as PostgreSQL requires), and makes a tablespace on it. */
export async function createSmallTablespace(name: string, sizeBytes: number): Promise<SmallTablespace> {
  const owner = await onServer(async (client) => {
    const { rows: [setting] } = await client.query<{ dir: string }>("SELECT current_setting('data_directory') AS dir");
    return statSync(setting!.dir);
  });
  const fs = mountSmallFilesystem(sizeBytes);
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    try {
      // DROP TABLESPACE waits for a checkpoint itself when dropped tables' files linger until one.
      await onServer((client) => client.query(`DROP TABLESPACE IF EXISTS ${client.escapeIdentifier(name)}`));
    } finally {
      fs.unmount();
    }
  };
  try {
    chownSync(fs.path, owner.uid, owner.gid);
    await onServer((client) => client.query(`CREATE TABLESPACE ${client.escapeIdentifier(name)} LOCATION ${client.escapeLiteral(fs.path)}`));
  } catch (error) {
    await drop().catch(() => undefined);
    throw error;
  }
  return {
    name,
    fs,
    drop,
    moveSchema: (schema) =>
      onServer(async (client) => {
        const { rows } = await client.query<{ name: string; kind: string }>(
          `SELECT c.relname AS name, c.relkind AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind IN ('r', 'i') ORDER BY c.relkind DESC`,
          [schema],
        );
        for (const relation of rows) {
          const kind = relation.kind === 'r' ? 'TABLE' : 'INDEX';
          await client.query(`ALTER ${kind} ${client.escapeIdentifier(schema)}.${client.escapeIdentifier(relation.name)} SET TABLESPACE ${client.escapeIdentifier(name)}`);
        }
      }),
  };
}
