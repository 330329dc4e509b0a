import { basename, dirname, extname, join } from 'node:path';
import type { Config, MasterKeySource } from '../config/config.js';

/** `master.key` → `master-v2.key`, `master-v2.key` → `master-v3.key`; labels likewise (`confide-master` → `confide-master-v2`). */
export function nextVersionName(name: string): string {
  const match = /^(.*)-v(\d+)$/.exec(name);
  return match ? `${match[1]}-v${Number(match[2]) + 1}` : `${name}-v2`;
}

/**
 * Where `confide keys rotate-master` puts the new master key: beside the current one, under the
 * next version's name (a new key file, a new key label on the same token). A key in
 * CONFIDE_MASTER_KEY has no place Confide could write a new one: it is refused with what to do.
 */
export function rotationTarget(source: MasterKeySource): MasterKeySource {
  if (source.kind === 'file') {
    const extension = extname(source.file);
    return { kind: 'file', file: join(dirname(source.file), `${nextVersionName(basename(source.file, extension))}${extension}`) };
  }
  if (source.kind === 'pkcs11') return { ...source, keyLabel: nextVersionName(source.keyLabel) };
  throw new Error(
    'the master key comes from CONFIDE_MASTER_KEY, where Confide cannot put a new one: run `confide keys migrate-master --to file` ' +
      '(or --to pkcs11), or give a new key in CONFIDE_MASTER_KEY after migrating back',
  );
}

/** Where `confide keys migrate-master --to` puts the master key: CONFIDE_MASTER_KEY_FILE, or the token of CONFIDE_PKCS11_*. */
export function migrationTarget(config: Readonly<Config>, to: 'file' | 'pkcs11'): MasterKeySource {
  if (config.masterKey.kind === to) {
    throw new Error(`the master key is already with the ${to} provider (CONFIDE_KEY_PROVIDER=${to}): use \`confide keys rotate-master\` for a new one`);
  }
  if (to === 'file') return { kind: 'file', file: config.masterKeyTargets.file };
  const pkcs11 = config.masterKeyTargets.pkcs11;
  if (!pkcs11) throw new Error('set CONFIDE_PKCS11_MODULE, CONFIDE_PKCS11_TOKEN_LABEL and CONFIDE_PKCS11_PIN_FILE (and CONFIDE_PKCS11_KEY_LABEL) to migrate to pkcs11');
  return { kind: 'pkcs11', ...pkcs11 };
}
