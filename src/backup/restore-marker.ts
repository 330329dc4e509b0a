import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { syncToDisk } from '../keys/durable-file.js';
import { writePrivateFile } from '../lib/private-path.js';

/**
 * `restore-in-progress.json` in the data directory: written before a restore touches anything,
 * removed once it has finished or emptied the place again. Left behind, it means a restore was
 * killed part-way: the database may be half loaded, so nothing may open it as a deployment.
 */
export const RESTORE_MARKER_FILE = 'restore-in-progress.json';

const markerOf = (config: Readonly<Config>) => join(config.dataDir, RESTORE_MARKER_FILE);

/** A data directory a restore did not finish: one line, exit 1. */
export class UnfinishedRestoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnfinishedRestoreError';
  }
}

export function writeRestoreMarker(config: Readonly<Config>, id: string, startedAt: Date): void {
  writePrivateFile(markerOf(config), `${JSON.stringify({ id, startedAt: startedAt.toISOString() })}\n`, 'w');
  syncToDisk(markerOf(config));
  syncToDisk(config.dataDir);
}

export function clearRestoreMarker(config: Readonly<Config>): void {
  rmSync(markerOf(config), { force: true });
  syncToDisk(config.dataDir);
}

/** Every start and command that opens the deployment refuses a data directory whose restore did not finish. */
export function refuseUnfinishedRestore(config: Readonly<Config>): void {
  const file = markerOf(config);
  if (!existsSync(file)) return;
  let id = 'unknown';
  try {
    id = (JSON.parse(readFileSync(file, 'utf8')) as { id?: string }).id ?? id;
  } catch {
    // a marker cut short by the crash: still a restore that did not finish
  }
  throw new UnfinishedRestoreError(
    `a restore of backup ${id} into ${config.dataDir} did not finish (${file} is there): its database may be half loaded; run \`confide backup restore --id ${id} --force\` again`,
  );
}
