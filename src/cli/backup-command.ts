import type { Config } from '../config/config.js';
import { loadConfig } from '../config/load-config.js';
import { masterKeyProvider } from '../keys/master-key-provider.js';
import { BACKUP_ID } from '../backup/archive-header.js';
import type { Backups, BackupActor } from '../backup/backups.js';
import { restoreBackup } from '../backup/backup-restore.js';
import { newestBackup } from '../backup/backup-listing.js';
import { openObjectStore } from '../storage/open-object-store.js';
import { withServices } from './with-services.js';
import { hostOperator } from './host-operator.js';

const actor = (): BackupActor => `host:${hostOperator().name}`;
const print = (line: string) => process.stdout.write(`${line}\n`);

function targetOf(config: Readonly<Config>): string {
  if (!config.backup.target) throw new Error('no backup target is configured: set CONFIDE_BACKUP_TARGET to a folder or s3://bucket/prefix');
  return config.backup.target;
}

/** Runs `work` with this deployment's backups service (a target must be configured). */
async function withBackups<T>(work: (backups: Backups) => Promise<T>): Promise<T> {
  const config = loadConfig();
  targetOf(config);
  return withServices((services) => work(services.backups!), config);
}

/** `confide backup create`: one backup now, while a server may be serving on the same data. */
export async function backupCreateCommand(options: { json?: boolean }): Promise<number> {
  const { id, manifest } = await withBackups((backups) => backups.create({ actor: actor() }));
  const rows = manifest.tables.reduce((n, t) => n + t.rows, 0);
  print(options.json ? JSON.stringify({ id, manifest }) : `backup ${id}: ${manifest.tenants} tenants, ${rows} rows, ${manifest.files.count} files, ${manifest.archive!.bytes} bytes`);
  return 0;
}

/** `confide backup list`: every backup at the target, oldest first. */
export async function backupListCommand(options: { json?: boolean }): Promise<number> {
  const backups = await withBackups((b) => b.list());
  if (options.json) {
    print(JSON.stringify({ backups }));
    return 0;
  }
  if (backups.length === 0) print('no backups at the target');
  for (const b of backups) {
    const state = b.problem ? `UNREADABLE: ${b.problem}` : b.verified ? `verified ${b.verified}` : 'not verified';
    print(`${b.id}  ${b.createdAt}  ${b.bytes} bytes  ${b.tenants ?? '?'} tenants  ${state}`);
  }
  return 0;
}

/** `confide backup verify [--id ID]`: a scratch restore of the backup (default the newest) and every check. */
export async function backupVerifyCommand(options: { id?: string; json?: boolean }): Promise<number> {
  const result = await withBackups(async (backups) => {
    const id = options.id ?? (await backups.newest());
    if (!id) throw new Error('there is no backup at the target to verify');
    if (!BACKUP_ID.test(id)) throw new Error(`not a backup id: ${id}`);
    return backups.verify(id, { actor: actor() });
  });
  if (options.json) print(JSON.stringify(result));
  else for (const check of result.checks) print(`${check.ok ? 'ok    ' : 'FAILED'} ${check.name}${check.detail ? `: ${check.detail}` : ''}`);
  if (!result.ok) process.stderr.write(`confide: backup ${result.id} failed verification: ${result.problems[0]}\n`);
  else if (!options.json) print(`backup ${result.id} verifies`);
  return result.ok ? 0 : 1;
}

/**
 * `confide backup restore --latest | --id ID [--force]`: into the configured data directory and
 * database, which must be empty. It opens no services first (there is no deployment yet); once
 * restored, the deployment records `backup.restored` in its own events.
 */
export async function backupRestoreCommand(options: { id?: string; latest?: boolean; force?: boolean; json?: boolean }): Promise<number> {
  if (Boolean(options.id) === Boolean(options.latest)) throw new Error('name the backup to restore: --latest or --id ID');
  const config = loadConfig();
  const store = openObjectStore(targetOf(config), config.s3);
  const masterKey = await masterKeyProvider(config.masterKey).load({ create: false, existingDatabase: `the backups at ${store.description}` });
  let restored;
  try {
    const id = options.id ?? (await newestBackup(store, masterKey));
    if (!id) throw new Error('there is no readable backup at the target to restore');
    if (!BACKUP_ID.test(id)) throw new Error(`not a backup id: ${id}`);
    restored = await restoreBackup({ config, masterKey, store, now: () => new Date() }, id, { force: options.force ?? false });
    await restored.database.close();
  } finally {
    masterKey.close();
  }
  const { database: _closed, ...summary } = restored;
  await withServices(async (services) => services.securityEvents.record({ type: 'backup.restored', outcome: 'success', actor: { type: 'system', id: actor() }, details: { id: summary.id } }), config);
  const rows = summary.tables.reduce((n, t) => n + t.rows, 0);
  const deleted = summary.tenants.deleted.length > 0 ? `; ${summary.tenants.deleted.length} tenants deleted since (their keys are shredded): ${summary.tenants.deleted.join(', ')}` : '';
  print(options.json ? JSON.stringify({ id: summary.id, tables: summary.tables.length, rows, files: summary.files, tenants: summary.tenants }) : `restored backup ${summary.id}: ${summary.tables.length} tables, ${rows} rows, ${summary.files} files, ${summary.tenants.restored} tenants${deleted}`);
  return 0;
}
