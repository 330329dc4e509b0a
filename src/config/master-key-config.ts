import { resolve } from 'node:path';
import type { Config, Pkcs11Settings } from './config.js';
import type { VariableValues } from './variables.js';

/**
 * The master key's source (CONFIDE_KEY_PROVIDER) and where `confide keys migrate-master` may move
 * it. The PKCS#11 settings are read whatever the provider: a deployment on a key file names its
 * token before it migrates to it.
 */
export function masterKeyConfig(v: VariableValues, masterKeyFile: string, cwd: string): Pick<Config, 'masterKey' | 'masterKeyTargets'> {
  const pkcs11 = pkcs11Settings(v, cwd);
  const targets = { file: masterKeyFile, pkcs11 };
  if (v.keyProvider === 'pkcs11') return { masterKey: { kind: 'pkcs11', ...pkcs11! }, masterKeyTargets: targets };
  if (v.keyProvider === 'env') return { masterKey: { kind: 'env', keyBase64: v.masterKey! }, masterKeyTargets: targets };
  return { masterKey: { kind: 'file', file: masterKeyFile }, masterKeyTargets: targets };
}

function pkcs11Settings(v: VariableValues, cwd: string): Pkcs11Settings | null {
  if (v.pkcs11Module === undefined || v.pkcs11TokenLabel === undefined || v.pkcs11PinFile === undefined) return null;
  return { module: resolve(cwd, v.pkcs11Module), tokenLabel: v.pkcs11TokenLabel, pinFile: resolve(cwd, v.pkcs11PinFile), keyLabel: v.pkcs11KeyLabel! };
}

/**
 * Settings that cannot work together: a provider without what it needs, or a master key in the
 * environment that another provider would ignore (a key left lying in the environment is a key
 * that leaks with it, for nothing).
 */
export function masterKeyProblems(v: VariableValues): string[] {
  const problems: string[] = [];
  if (v.keyProvider === 'env' && v.masterKey === undefined) problems.push('CONFIDE_MASTER_KEY must be set when CONFIDE_KEY_PROVIDER=env');
  if (v.keyProvider !== undefined && v.keyProvider !== 'env' && v.masterKey !== undefined) {
    problems.push(`CONFIDE_MASTER_KEY must not be set when CONFIDE_KEY_PROVIDER=${v.keyProvider}: unset it`);
  }
  if (v.keyProvider === 'pkcs11') {
    if (v.pkcs11Module === undefined) problems.push('CONFIDE_PKCS11_MODULE must be set when CONFIDE_KEY_PROVIDER=pkcs11 (the path of the HSM’s PKCS#11 library)');
    if (v.pkcs11TokenLabel === undefined) problems.push('CONFIDE_PKCS11_TOKEN_LABEL must be set when CONFIDE_KEY_PROVIDER=pkcs11 (the label of the token)');
    if (v.pkcs11PinFile === undefined) problems.push('CONFIDE_PKCS11_PIN_FILE must be set when CONFIDE_KEY_PROVIDER=pkcs11 (a file, mode 0600, holding the user PIN)');
  }
  return problems;
}
