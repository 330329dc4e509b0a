import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config.js';

const KEY = Buffer.alloc(32, 7).toString('base64');
const TOKEN = { CONFIDE_PKCS11_MODULE: '/usr/lib/softhsm/libsofthsm2.so', CONFIDE_PKCS11_TOKEN_LABEL: 'confide', CONFIDE_PKCS11_PIN_FILE: 'secrets/pin' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env, '/srv');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('CONFIDE_KEY_PROVIDER', () => {
  it('keeps today’s choice when unset: the environment key when CONFIDE_MASTER_KEY is set, else the key file', () => {
    expect(loadConfig({}, '/srv').masterKey).toEqual({ kind: 'file', file: '/srv/confide-keys/master.key' });
    expect(loadConfig({ CONFIDE_MASTER_KEY: KEY }, '/srv').masterKey).toEqual({ kind: 'env', keyBase64: KEY });
  });

  it('pkcs11 reads the token settings (paths resolved, the key label defaulted); they are also the migration target of a file deployment', () => {
    const settings = { module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'confide', pinFile: '/srv/secrets/pin', keyLabel: 'confide-master' };
    expect(loadConfig({ CONFIDE_KEY_PROVIDER: 'pkcs11', ...TOKEN }, '/srv').masterKey).toEqual({ kind: 'pkcs11', ...settings });
    const onFile = loadConfig({ ...TOKEN, CONFIDE_PKCS11_KEY_LABEL: 'hsm-key' }, '/srv');
    expect(onFile.masterKey.kind).toBe('file');
    expect(onFile.masterKeyTargets).toEqual({ file: '/srv/confide-keys/master.key', pkcs11: { ...settings, keyLabel: 'hsm-key' } });
    expect(loadConfig({}, '/srv').masterKeyTargets.pkcs11).toBeNull();
  });

  it('refuses, one line each naming the variable: an unknown provider, pkcs11 without its settings, env without a key, a key in the environment another provider would ignore', () => {
    expect(problems({ CONFIDE_KEY_PROVIDER: 'vault' })).toEqual(['CONFIDE_KEY_PROVIDER must be one of file, env, pkcs11']);
    const missing = problems({ CONFIDE_KEY_PROVIDER: 'pkcs11' });
    expect(missing).toHaveLength(3);
    expect(missing.map((line) => line.split(' ')[0])).toEqual(['CONFIDE_PKCS11_MODULE', 'CONFIDE_PKCS11_TOKEN_LABEL', 'CONFIDE_PKCS11_PIN_FILE']);
    expect(problems({ CONFIDE_KEY_PROVIDER: 'env' })).toEqual(['CONFIDE_MASTER_KEY must be set when CONFIDE_KEY_PROVIDER=env']);
    expect(problems({ CONFIDE_KEY_PROVIDER: 'pkcs11', ...TOKEN, CONFIDE_MASTER_KEY: KEY })).toEqual(['CONFIDE_MASTER_KEY must not be set when CONFIDE_KEY_PROVIDER=pkcs11: unset it']);
    expect(problems({ CONFIDE_KEY_PROVIDER: 'file', CONFIDE_MASTER_KEY: KEY })).toHaveLength(1);
  });
});
