import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load-config.js';
import { migrationTarget, nextVersionName, rotationTarget } from './master-key-targets.js';

describe('where a master key change puts the new key', () => {
  it('names the next version beside the current one', () => {
    expect(nextVersionName('master')).toBe('master-v2');
    expect(nextVersionName('master-v2')).toBe('master-v3');
    expect(nextVersionName('confide-master-v19')).toBe('confide-master-v20');
    expect(rotationTarget({ kind: 'file', file: '/etc/confide/master.key' })).toEqual({ kind: 'file', file: '/etc/confide/master-v2.key' });
    expect(rotationTarget({ kind: 'file', file: '/etc/confide/key' })).toEqual({ kind: 'file', file: '/etc/confide/key-v2' });
    const token = { kind: 'pkcs11' as const, module: '/m.so', tokenLabel: 't', pinFile: '/p', keyLabel: 'confide-master' };
    expect(rotationTarget(token)).toEqual({ ...token, keyLabel: 'confide-master-v2' });
  });

  it('refuses what it cannot do, saying what to do instead', () => {
    expect(() => rotationTarget({ kind: 'env', keyBase64: 'x' })).toThrow(/migrate-master --to file/);
    const onFile = loadConfig({}, '/srv');
    expect(() => migrationTarget(onFile, 'file')).toThrow(/rotate-master/);
    expect(() => migrationTarget(onFile, 'pkcs11')).toThrow(/CONFIDE_PKCS11_MODULE/);
  });
});
