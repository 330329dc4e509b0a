import type { Config, TenantKeyStoreKind } from '../config/config.js';
import { FileTenantKeyStore } from './file-tenant-key-store.js';
import { MasterKeyError } from './master-key-provider.js';
import type { MasterKey } from './master-key.js';
import { Pkcs11KeyError } from './pkcs11-problems.js';
import { Pkcs11TenantKeyStore } from './pkcs11-tenant-key-store.js';
import type { TenantKeyStore } from './tenant-key-store.js';

/**
 * The tenant key store `kind` names (by default the configured one, CONFIDE_TENANT_KEY_STORE):
 * the HSM token of the master key, or CONFIDE_TENANT_KEY_DIR; null for the file store without a
 * directory (tenants' keys then stay under the master key, and a deletion cannot shred).
 */
export function openTenantKeyStore(
  config: Pick<Config, 'masterKey' | 'tenantKeyDir' | 'tenantKeyStore'>,
  masterKey: MasterKey,
  kind: TenantKeyStoreKind = config.tenantKeyStore,
): TenantKeyStore | null {
  if (kind === 'file') return config.tenantKeyDir ? new FileTenantKeyStore(config.tenantKeyDir, masterKey) : null;
  // loadConfig refuses the pkcs11 store with another provider; a migration target is checked by its command.
  if (config.masterKey.kind !== 'pkcs11') throw new MasterKeyError('the pkcs11 tenant key store needs CONFIDE_KEY_PROVIDER=pkcs11: tenant keys live on the master key’s HSM token');
  try {
    return Pkcs11TenantKeyStore.open(config.masterKey);
  } catch (error) {
    throw error instanceof Pkcs11KeyError ? new MasterKeyError(error.message) : error;
  }
}
