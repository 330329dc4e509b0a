import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway SoftHSM2 token for the PKCS#11 tests: its own configuration and token folder, removed with the run. */
export interface SoftHsmToken {
  /** SOFTHSM2_CONF for Confide (in-process, and the `confide` processes a test starts). */
  conf: string;
  module: string;
  tokenLabel: string;
  pin: string;
}

const MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so'];

/** Debian's softhsm2 (`apt-get install softhsm2`), or CONFIDE_TEST_PKCS11_MODULE; undefined when neither is there. */
export function findSoftHsm(): { module: string; util: string } | undefined {
  const util = spawnSync('sh', ['-c', 'command -v softhsm2-util'], { encoding: 'utf8' });
  const module = process.env.CONFIDE_TEST_PKCS11_MODULE ?? MODULES.find((path) => existsSync(path));
  return util.status === 0 && module ? { module, util: util.stdout.trim() } : undefined;
}

/** Makes the token (≈ 20 ms): a random PIN, a private folder. */
export function createSoftHsmToken(found: { module: string; util: string }): SoftHsmToken & { remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'confide-softhsm-'));
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 });
  const tokenLabel = 'confide-test';
  const pin = randomBytes(6).toString('hex');
  const made = spawnSync(found.util, ['--init-token', '--free', '--label', tokenLabel, '--pin', pin, '--so-pin', randomBytes(6).toString('hex')], {
    env: { ...process.env, SOFTHSM2_CONF: conf },
    encoding: 'utf8',
  });
  if (made.status !== 0) throw new Error(`softhsm2-util could not create a token: ${made.stderr || made.stdout}`);
  return { conf, module: found.module, tokenLabel, pin, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
