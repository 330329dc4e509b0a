import type { Config, TenantKeyStoreKind } from '../config/config.js';
import { ConfigError, loadConfig } from '../config/load-config.js';
import { openEncryptedSqlite } from '../db/open-encrypted-sqlite.js';
import { findExistingDatabase } from '../db/existing-database.js';
import { MissingDatabaseError } from '../db/missing-database-error.js';
import { masterKeyProvider } from '../keys/master-key-provider.js';
import { migrateTenantKeys, type TenantKeyMigration } from '../keys/migrate-tenant-keys.js';
import { openTenantKeyStore } from '../keys/open-tenant-key-store.js';
import { openWithPageKey } from '../keys/open-with-page-key.js';
import { hostOperator } from './host-operator.js';
import { withServices } from './with-services.js';

interface Report extends TenantKeyMigration {
  from: TenantKeyStoreKind;
  to: TenantKeyStoreKind;
  /** Where the keys are now, in words (never a key). */
  target: string;
  /** What the operator sets before starting Confide again. */
  settings: Record<string, string>;
}

/** `confide keys migrate-tenant-keys --to pkcs11|file`: src/keys/migrate-tenant-keys.ts does the work. */
export async function migrateTenantKeysCommand(options: { to: string; json?: boolean }): Promise<number> {
  if (options.to !== 'file' && options.to !== 'pkcs11') throw new Error(`--to must be file or pkcs11, not "${options.to}"`);
  const config = loadConfig();
  const to: TenantKeyStoreKind = options.to;
  refuseImpossible(config, to);
  const existing = await findExistingDatabase(config.database);
  if (!existing.exists) throw new MissingDatabaseError(`no Confide database at ${existing.description}: there are no tenant keys to move`);
  if (config.database.kind === 'sqlite') await refuseOpenElsewhere(config, config.database.file, existing.description);
  const report = await withServices(async ({ db, transactions, masterKey, tenantKeys, securityEvents }) => {
    const target = openTenantKeyStore(config, masterKey, to)!;
    try {
      const moved = await migrateTenantKeys(db, transactions, config.database.kind === 'postgres', tenantKeys!, target);
      const details = { from: config.tenantKeyStore, to, tenants: moved.tenants, keys: moved.keys, tombstones: moved.tombstones };
      securityEvents.record({ type: 'keys.tenantKeys.migrated', outcome: 'success', actor: { type: 'system', id: `host:${hostOperator().name}` }, details });
      return { ...details, target: target.description, settings: settingsFor(config, to) };
    } finally {
      target.close();
    }
  }, config);
  print(options.json, report);
  return 0;
}

/** Refused before anything is opened: each one line, exit 78. */
function refuseImpossible(config: Readonly<Config>, to: TenantKeyStoreKind): void {
  if (config.tenantKeyStore === to) {
    throw new ConfigError([`the tenant keys are in the ${to} store already (CONFIDE_TENANT_KEY_STORE=${to}): name the store they are in now, and --to the other`]);
  }
  if (to === 'pkcs11' && config.masterKey.kind !== 'pkcs11') {
    throw new ConfigError(['--to pkcs11 needs CONFIDE_KEY_PROVIDER=pkcs11: tenant keys go to the master key’s HSM token (move the master key first: confide keys migrate-master --to pkcs11)']);
  }
  if (to === 'file' && !config.tenantKeyDir) throw new ConfigError(['--to file needs CONFIDE_TENANT_KEY_DIR: the directory (outside the data directory) the tenant keys go to']);
  if (config.tenantKeyStore === 'file' && !config.tenantKeyDir) {
    throw new ConfigError([
      'there is no tenant key store to move from (CONFIDE_TENANT_KEY_DIR is unset, tenants’ keys are under the master key): set CONFIDE_TENANT_KEY_STORE=pkcs11 and start Confide, which moves them into the token itself',
    ]);
  }
}

/**
 * A running `confide serve` would go on wrapping new data keys under the store being emptied. On
 * SQLite that is caught: leaving WAL mode needs the only connection. (On PostgreSQL every node
 * must be stopped by hand: docs/operations.md.)
 */
async function refuseOpenElsewhere(config: Readonly<Config>, databaseFile: string, description: string): Promise<void> {
  const masterKey = await masterKeyProvider(config.masterKey).load({ create: false, existingDatabase: description });
  try {
    const handle = await openWithPageKey(databaseFile, masterKey, false, async (pageKey) => openEncryptedSqlite(databaseFile, pageKey));
    try {
      handle.pragma('busy_timeout=1000');
      let mode: unknown;
      try {
        mode = handle.pragma('journal_mode=DELETE', { simple: true });
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
      }
      if (mode !== 'delete') throw new Error(`the database ${databaseFile} is open in another process: stop \`confide serve\` (and every other confide command) first, then run this again`);
      handle.pragma('journal_mode=WAL');
    } finally {
      handle.close();
    }
  } finally {
    masterKey.close();
  }
}

function settingsFor(config: Readonly<Config>, to: TenantKeyStoreKind): Record<string, string> {
  return to === 'pkcs11' ? { CONFIDE_TENANT_KEY_STORE: 'pkcs11' } : { CONFIDE_TENANT_KEY_STORE: 'file', CONFIDE_TENANT_KEY_DIR: config.tenantKeyDir! };
}

function print(json: boolean | undefined, report: Report): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  process.stdout.write(
    [
      `tenant keys migrated from the ${report.from} store to ${report.target}: ${report.tenants} tenants, ${report.keys} keys re-wrapped, ${report.tombstones} deleted tenants' tombstones carried over`,
      `start Confide with: ${Object.entries(report.settings).map(([name, value]) => `${name}=${value}`).join(' ')}`,
      'the old tenant keys are destroyed: database backups made before now can no longer be read for any tenant; make a new backup',
    ].join('\n') + '\n',
  );
}
