import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Config, DatabaseConfig } from '../config/config.js';
import type { DB } from '../db/schema.js';
import { postgresLocation } from '../db/connection-errors.js';
import { newId } from '../lib/ids.js';
import { writePrivateFile } from '../lib/private-path.js';

export const DEPLOYMENT_MARKER_FILE = 'deployment.json';
const MARKER_FORMAT = 'confide-deployment-v1';

/**
 * A data directory that belongs to another deployment (another database), or whose marker cannot
 * be read. Refused like any configuration problem (exit 78): reading that directory's outbox or
 * certificate with this database's keys would only fail later, less clearly, and writing into it
 * would mix two deployments' files.
 */
export class DeploymentMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeploymentMismatchError';
  }
}

interface Marker {
  format: string;
  deploymentId: string;
  database: string;
}

/**
 * The database as a person would name it, never with a password: PostgreSQL's host, port and
 * database name (the user, the password and the options are left out).
 */
export function describeDatabase(database: DatabaseConfig): string {
  if (database.kind === 'sqlite') return `SQLite ${database.file}`;
  const schema = /search_path=([^\s,]+)/.exec(new URL(database.url).searchParams.get('options') ?? '')?.[1];
  return `PostgreSQL ${postgresLocation(database.url)}${schema ? `, schema ${schema}` : ''}`;
}

/** This deployment's id, kept in the database: created on first start, the same ever after. */
export async function deploymentId(db: Kysely<DB>): Promise<string> {
  const recorded = await db.selectFrom('system_meta').select('value').where('key', '=', 'deployment_id').executeTakeFirst();
  if (recorded) return recorded.value;
  // Several nodes may start at once on one PostgreSQL: the first insert wins, all read it back.
  await db
    .insertInto('system_meta')
    .values({ key: 'deployment_id', value: newId() })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  return deploymentId(db);
}

function readMarker(file: string): Marker | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DeploymentMismatchError(`cannot read the deployment marker ${file}: ${(error as Error).message}`);
  }
  try {
    const marker = JSON.parse(text) as Partial<Marker>;
    if (marker.format === MARKER_FORMAT && typeof marker.deploymentId === 'string' && typeof marker.database === 'string') return marker as Marker;
  } catch {
    // reported below, as for a marker of the wrong shape
  }
  throw new DeploymentMismatchError(
    `the deployment marker ${file} is damaged; if this data directory belongs to this database, delete the file and start again`,
  );
}

const advice = 'give each deployment its own CONFIDE_DATA_DIR';

/**
 * Called before a new database is created: a data directory that already belongs to a deployment
 * is refused at once, so a refused start leaves no new database behind (on SQLite it would be a
 * file in the other deployment's directory).
 */
export function refuseClaimedDataDirectory(config: Readonly<Config>): void {
  const file = join(config.dataDir, DEPLOYMENT_MARKER_FILE);
  const marker = readMarker(file);
  if (!marker) return;
  throw new DeploymentMismatchError(
    `data directory ${config.dataDir} belongs to deployment ${marker.deploymentId} (${marker.database}), ` +
      `and ${describeDatabase(config.database)} holds no Confide database yet; ${advice} (the directory's owner is named in ${file})`,
  );
}

/**
 * Ties the data directory to this deployment. A data directory holds the certificate and the
 * outbox (and, on SQLite, the database itself), all sealed with one deployment's keys; two
 * deployments sharing one (a PostgreSQL run started from the folder of a SQLite run) would write
 * mail the other cannot read. The first start writes the deployment's id into the directory
 * (`deployment.json`, 0600); every later start and every command refuses a directory whose
 * marker names another deployment, naming both. Returns this deployment's id.
 */
export async function claimDataDirectory(config: Readonly<Config>, db: Kysely<DB>): Promise<string> {
  const id = await deploymentId(db);
  const file = join(config.dataDir, DEPLOYMENT_MARKER_FILE);
  const ours: Marker = { format: MARKER_FORMAT, deploymentId: id, database: describeDatabase(config.database) };
  let marker = readMarker(file);
  if (!marker) {
    try {
      writePrivateFile(file, `${JSON.stringify(ours)}\n`, 'wx');
      return id;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      marker = readMarker(file); // another process on this directory wrote it first
    }
  }
  if (marker && marker.deploymentId !== id) {
    throw new DeploymentMismatchError(
      `data directory ${config.dataDir} belongs to deployment ${marker.deploymentId} (${marker.database}), not to this one, ` +
        `deployment ${id} (${ours.database}); ${advice}`,
    );
  }
  return id;
}
