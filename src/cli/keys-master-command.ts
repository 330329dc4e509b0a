import type { Config, MasterKeySource } from '../config/config.js';
import { ConfigError, loadConfig } from '../config/load-config.js';
import { findExistingDatabase } from '../db/existing-database.js';
import { MissingDatabaseError } from '../db/missing-database-error.js';
import { checkRecordedMasterKey } from '../keys/master-key-change-checks.js';
import { masterKeyProvider } from '../keys/master-key-provider.js';
import { migrationTarget, rotationTarget } from '../keys/master-key-targets.js';
import type { MasterKey } from '../keys/master-key.js';
import { finishSqliteRekey, rekeySqlite } from '../keys/sqlite-rekey.js';
import { hostOperator } from './host-operator.js';
import { withServices } from './with-services.js';

type ChangeEvent = 'keys.master.rotated' | 'keys.master.migrated';

interface MasterKeyChange {
  from: { provider: string; id: string };
  to: { provider: string; id: string; source: string };
  keys: number;
  /** What the operator sets before starting Confide again. */
  settings: Record<string, string>;
}

export async function rotateMasterCommand(options: { json?: boolean }): Promise<number> {
  const config = loadConfig();
  const change = await changeMasterKey(config, rotationTarget(config.masterKey), 'keys.master.rotated');
  report(options.json, change, config, 'rotated');
  return 0;
}

export async function migrateMasterCommand(options: { to: string; json?: boolean }): Promise<number> {
  if (options.to !== 'file' && options.to !== 'pkcs11') throw new Error(`--to must be file or pkcs11, not "${options.to}"`);
  const config = loadConfig();
  if (options.to === 'file' && config.tenantKeyStore === 'pkcs11') {
    // The tenants' keys would be left on a token the next start no longer opens (CONFIDE_TENANT_KEY_STORE=pkcs11 needs a pkcs11 master key).
    throw new ConfigError(['the tenants’ keys are on the token (CONFIDE_TENANT_KEY_STORE=pkcs11): move them first, with confide keys migrate-tenant-keys --to file']);
  }
  const change = await changeMasterKey(config, migrationTarget(config, options.to), 'keys.master.migrated');
  report(options.json, change, config, 'migrated');
  return 0;
}

/**
 * Moves the deployment to a new master key: the next key is made (or found, when a stopped
 * change is run again) before anything is touched; on SQLite the pages are re-keyed and the new
 * page key staged (src/keys/sqlite-rekey.ts); then every wrapped key is re-wrapped in one
 * transaction, which is the moment the change happens; the staged page key is moved into place.
 */
async function changeMasterKey(config: Readonly<Config>, target: MasterKeySource, event: ChangeEvent): Promise<MasterKeyChange> {
  const existing = await findExistingDatabase(config.database);
  if (!existing.exists) throw new MissingDatabaseError(`no Confide database at ${existing.description}: there is no master key to change`);
  const next = await masterKeyProvider(target).load({ create: true });
  try {
    if (config.database.kind === 'sqlite') {
      const current = await masterKeyProvider(config.masterKey).load({ create: false, existingDatabase: existing.description });
      try {
        await rekeySqlite(config.database.file, current, next);
      } finally {
        current.close();
      }
    }
    const change = await rewrapAll(config, next, event);
    if (config.database.kind === 'sqlite') finishSqliteRekey(config.database.file);
    return { ...change, settings: settingsFor(target, config) };
  } finally {
    next.close();
  }
}

/**
 * The tenants' key files live outside the database: each first gets a wrapping under the next
 * master key beside the current one, so whichever master key a crash leaves in force opens them;
 * the one transaction then re-wraps the key ring and the signing keys and records the next key;
 * only after it commits are the old wrappings of the tenant key files dropped.
 */
function rewrapAll(config: Readonly<Config>, next: MasterKey, event: ChangeEvent): Promise<Omit<MasterKeyChange, 'settings'>> {
  return withServices(async ({ db, transactions, keyRing, signingKeys, tenantKeys, masterKey, securityEvents }) => {
    const recorded = await db.selectFrom('system_meta').select('value').where('key', '=', 'master_key_id').executeTakeFirst();
    checkRecordedMasterKey(recorded?.value, masterKey, next);
    const tenantKeyFiles = tenantKeys?.rewrapAll(masterKey, next) ?? 0;
    // A node still running on PostgreSQL (on the old key) either commits a key before this does, or
    // is refused one after: KeyRing.rewrapUnder takes the master key id's row lock first (docs/keys.md).
    const inDatabase = await transactions.run(async (trx) => (await keyRing.rewrapUnder(trx, next)) + (await signingKeys.rewrapUnder(trx, next)));
    // Tenant key files a running node made between the first pass and the commit get their wrapping too.
    tenantKeys?.rewrapAll(masterKey, next);
    tenantKeys?.keepOnly(next.id);
    const keys = inDatabase + tenantKeyFiles;
    const from = { provider: masterKey.kind, id: masterKey.id };
    const to = { provider: next.kind, id: next.id };
    securityEvents.record({ type: event, outcome: 'success', actor: { type: 'system', id: `host:${hostOperator().name}` }, details: { from, to, keys } });
    return { from, to: { ...to, source: next.description }, keys };
  }, config);
}

/**
 * The variables that name the new key. The tenant key directory is named too: its default sits
 * beside the key file, so it would move (or vanish, on a token) with the master key otherwise.
 */
function settingsFor(target: MasterKeySource, config: Readonly<Config>): Record<string, string> {
  const tenantKeys: Record<string, string> = config.tenantKeyDir ? { CONFIDE_TENANT_KEY_DIR: config.tenantKeyDir } : {};
  return { ...providerSettings(target), ...tenantKeys };
}

function providerSettings(target: MasterKeySource): Record<string, string> {
  if (target.kind === 'file') return { CONFIDE_KEY_PROVIDER: 'file', CONFIDE_MASTER_KEY_FILE: target.file };
  if (target.kind === 'pkcs11') {
    return {
      CONFIDE_KEY_PROVIDER: 'pkcs11',
      CONFIDE_PKCS11_MODULE: target.module,
      CONFIDE_PKCS11_TOKEN_LABEL: target.tokenLabel,
      CONFIDE_PKCS11_PIN_FILE: target.pinFile,
      CONFIDE_PKCS11_KEY_LABEL: target.keyLabel,
    };
  }
  return { CONFIDE_KEY_PROVIDER: 'env' };
}

function report(json: boolean | undefined, change: MasterKeyChange, config: Readonly<Config>, done: 'rotated' | 'migrated'): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(change)}\n`);
    return;
  }
  const old = config.masterKey.kind === 'file' ? `the old key file ${config.masterKey.file}` : config.masterKey.kind === 'pkcs11' ? `the old token key "${config.masterKey.keyLabel}"` : 'CONFIDE_MASTER_KEY';
  process.stdout.write(
    [
      `master key ${done}: ${change.keys} keys re-wrapped under ${change.to.source} (${change.to.id}), was ${change.from.provider} ${change.from.id}`,
      `start Confide with: ${Object.entries(change.settings).map(([name, value]) => `${name}=${value}`).join(' ')}`,
      `${old} is no longer needed: remove it once Confide has started with the new settings`,
    ].join('\n') + '\n',
  );
}
