import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createApp } from '../../src/app/create-app.js';
import { runCli } from '../harness/run-cli.js';

describe('start-up, keys and configuration', () => {
  const roots: string[] = [];
  const freshRoot = () => {
    const root = mkdtempSync(join(tmpdir(), 'confide-start-'));
    roots.push(root);
    return root;
  };
  afterEach(() => {
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  it('creates the master key file with mode 0600, apart from the data, and a self-signed certificate', async () => {
    const root = freshRoot();
    const app = await createApp(loadConfig({ CONFIDE_LOG_LEVEL: 'silent' }, root), { createIfMissing: true });
    await app.close();
    const keyFile = join(root, 'confide-keys', 'master.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64')).toHaveLength(32);
    expect(statSync(join(root, 'confide-data', 'tls', 'self-signed-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'confide-data')).mode & 0o777).toBe(0o700);
    expect(app.selfSignedCertificate).toBe(true);

    // A second start reuses both.
    const again = await createApp(loadConfig({ CONFIDE_LOG_LEVEL: 'silent' }, root), { createIfMissing: true });
    await again.close();
  });

  it('refuses a master key file that others can read', async () => {
    const root = freshRoot();
    const app = await createApp(loadConfig({ CONFIDE_LOG_LEVEL: 'silent' }, root), { createIfMissing: true });
    await app.close();
    chmodSync(join(root, 'confide-keys', 'master.key'), 0o644);
    await expect(createApp(loadConfig({ CONFIDE_LOG_LEVEL: 'silent' }, root), { createIfMissing: true })).rejects.toThrow(/chmod 600/);
  });

  it('refuses to open the data with another master key, with one clear line', async () => {
    const root = freshRoot();
    const env = { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'), CONFIDE_LOG_LEVEL: 'silent' };
    const app = await createApp(loadConfig(env, root), { createIfMissing: true });
    await app.close();
    const wrong = runCli(['audit', 'verify'], { ...env, CONFIDE_MASTER_KEY: randomBytes(32).toString('base64') });
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toContain('master key');
    expect(wrong.stderr).not.toContain(env.CONFIDE_MASTER_KEY);
  });

  it('stops on invalid configuration with one line per problem, each naming its variable', () => {
    const result = runCli(['serve'], { CONFIDE_TLS_PROFILE: 'legacy', CONFIDE_PUBLIC_LISTEN: 'everywhere', CONFIDE_MASTER_KEY: 'abc' });
    expect(result.status).not.toBe(0);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.some((line) => line.includes('CONFIDE_TLS_PROFILE'))).toBe(true);
    expect(lines.some((line) => line.includes('CONFIDE_PUBLIC_LISTEN'))).toBe(true);
    expect(lines.some((line) => line.includes('CONFIDE_MASTER_KEY'))).toBe(true);
  });

  it('has --help for every command', () => {
    for (const args of [['--help'], ['serve', '--help'], ['audit', 'verify', '--help']]) {
      const result = runCli(args, {});
      expect(result.status, args.join(' ')).toBe(0);
      expect(result.stdout).toContain('Usage: confide');
    }
  });
});
