import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { AccessLogCheckpoints } from '../audit/access-log-checkpoints.js';
import { LocalBlobStore } from '../files/local-blob-store.js';
import { algorithmForConfig } from '../keys/algorithms.js';
import { writeDatabaseKey } from '../keys/database-key.js';
import { FileTenantKeyStore } from '../keys/file-tenant-key-store.js';
import { KeyRing } from '../keys/key-ring.js';
import { SigningKeys } from '../keys/signing-keys.js';
import type { TenantKeyStore } from '../keys/tenant-key-store.js';
import { ensurePrivateDirectory } from '../lib/private-path.js';
import { unwrapBackupKey } from './archive-reader.js';
import { manifestName, type BackupManifest } from './backup-manifest.js';
import { restoreBackup, type RestoreResult } from './backup-restore.js';
import { checkSentinel } from './backup-sentinel.js';
import type { BackupsDeps } from './backups-deps.js';
import { readSealed } from './sealed-object.js';
import { accessLogCheck, filesCheck, integrityCheck, type Check, type ScratchCopy } from './scratch-checks.js';

export interface VerifyResult {
  id: string;
  ok: boolean;
  checks: Check[];
  problems: string[];
}

/**
 * The scratch place: a temporary SQLite database (own random page key), tenant key directory and
 * blob folder under the data directory. Never the live tenant key directory, whatever the store:
 * a failed scratch restore empties its key directory.
 */
export function scratchConfig(config: Readonly<Config>, dir: string): Readonly<Config> {
  const tenantKeyDir = config.tenantKeyStore === 'file' && config.tenantKeyDir ? join(dir, 'tenant-keys') : null;
  // Blobs go to the scratch folder even when the deployment keeps them in S3: nothing of a verification lands in its stores.
  return { ...config, dataDir: dir, database: { kind: 'sqlite', file: join(dir, 'confide.db') }, tenantKeyDir, files: { ...config.files, store: 'local' } };
}

/**
 * Verifies backup `id` by restoring it into a scratch place and checking the copy: the archive
 * opens end to end and its tables load with the manifest's counts and checksums, the `.manifest`
 * object names this very archive, SQLite's integrity check, every tenant's access log against its
 * signed checkpoint, the sentinel, every file blob. The scratch place is removed afterwards.
 */
export async function verifyBackup(deps: BackupsDeps, id: string): Promise<VerifyResult> {
  removeStaleScratch(deps.config.dataDir, Date.now() - STALE_SCRATCH_MS);
  const dir = join(deps.config.dataDir, `${SCRATCH_PREFIX}${randomBytes(6).toString('hex')}`);
  const checks: Check[] = [];
  try {
    ensurePrivateDirectory(dir, 'backup verification folder');
    const config = scratchConfig(deps.config, dir);
    writeDatabaseKey(join(dir, 'confide.db.key'), deps.masterKey, randomBytes(32), 'wx');
    let restored: RestoreResult & { database: ScratchCopy['database'] };
    try {
      restored = await restoreBackup({ config, masterKey: deps.masterKey, store: deps.store, now: () => deps.clock.now() }, id);
    } catch (error) {
      checks.push({ name: 'archive', ok: false, detail: (error as Error).message });
      return result(id, checks);
    }
    try {
      checks.push({ name: 'archive', ok: true, detail: `opens end to end: ${restored.archive.bytes} bytes` });
      checks.push({ name: 'tables', ok: true, detail: `${restored.tables.length} tables, ${restored.tables.reduce((n, t) => n + t.rows, 0)} rows equal the manifest` });
      checks.push(await manifestObjectCheck(deps, id, restored));
      const copy = await openCopy(deps, config, restored);
      checks.push(await integrityCheck(copy), await accessLogCheck(copy));
      const sentinel = await checkSentinel(copy.database.db, copy.keyRing.systemCipher(), id, restored.manifest.sentinel.sha256);
      checks.push(sentinel ? { name: 'sentinel', ok: false, detail: sentinel } : { name: 'sentinel', ok: true });
      checks.push(await filesCheck(copy));
    } finally {
      await restored.database.close();
    }
    return result(id, checks);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SCRATCH_PREFIX = 'backup-verify-';
/** No verification takes this long; a scratch folder this old is left by a process that died (it holds a database copy and wrapped tenant keys). */
const STALE_SCRATCH_MS = 3600_000;

/** Removes scratch folders of verifications whose process died, last touched before `before` (ms). */
export function removeStaleScratch(dataDir: string, before: number): string[] {
  if (!existsSync(dataDir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dataDir)) {
    if (!name.startsWith(SCRATCH_PREFIX)) continue;
    const full = join(dataDir, name);
    const info = statSync(full, { throwIfNoEntry: false });
    if (!info?.isDirectory() || lastWritten(full, info.mtimeMs) >= before) continue;
    rmSync(full, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** The newest mtime of a folder and what is directly in it (a live verification writes its database file all along). */
function lastWritten(dir: string, own: number): number {
  return readdirSync(dir).reduce((newest, name) => Math.max(newest, statSync(join(dir, name), { throwIfNoEntry: false })?.mtimeMs ?? 0), own);
}

function result(id: string, checks: Check[]): VerifyResult {
  const problems = checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail ?? 'failed'}`);
  return { id, ok: problems.length === 0, checks, problems };
}

/** The `.manifest` object beside the archive opens with its key and names this archive's bytes and hash. */
async function manifestObjectCheck(deps: BackupsDeps, id: string, restored: RestoreResult): Promise<Check> {
  try {
    const sealed = await readSealed(deps.store, manifestName(id));
    const manifest = sealed.open<BackupManifest>(unwrapBackupKey(sealed.header, deps.masterKey), 'manifest');
    const same = manifest.archive?.sha256 === restored.archive.sha256 && manifest.archive.bytes === restored.archive.bytes;
    return same ? { name: 'manifest', ok: true } : { name: 'manifest', ok: false, detail: `the archive's sha256 differs from backups/${id}.manifest's` };
  } catch (error) {
    return { name: 'manifest', ok: false, detail: `backups/${id}.manifest does not open: ${(error as Error).message}` };
  }
}

/** The restored copy's keys, as a deployment on it would open them. */
async function openCopy(deps: BackupsDeps, config: Readonly<Config>, restored: RestoreResult & { database: ScratchCopy['database'] }): Promise<ScratchCopy> {
  const { db } = restored.database;
  const tenantKeys: TenantKeyStore | null = config.tenantKeyStore === 'file' ? (config.tenantKeyDir ? new FileTenantKeyStore(config.tenantKeyDir, deps.masterKey) : null) : deps.tenantKeys;
  const keyRing = new KeyRing(db, deps.masterKey, deps.clock, algorithmForConfig(config.dataCipher), tenantKeys);
  await keyRing.open();
  const signingKeys = new SigningKeys(db, deps.masterKey, deps.clock);
  await signingKeys.open();
  const checkpoints = new AccessLogCheckpoints(db, signingKeys, deps.clock, config.checkpoints);
  return { database: restored.database, keyRing, signingKeys, checkpoints, blobs: new LocalBlobStore(join(config.dataDir, 'files')), deleted: new Set(restored.tenants.deleted) };
}
