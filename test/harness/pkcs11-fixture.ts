import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { acquireModule, pkcs11js } from '../../src/keys/pkcs11-module.js';
import type { SoftHsmToken } from './softhsm.js';

/** The run's SoftHSM2 token (test/harness/global-setup.ts). Fails, never skips, without softhsm2: CI installs it (.ci/run). */
export function softHsmToken(): SoftHsmToken {
  const token = inject('softHsm');
  if (!token) throw new Error('SoftHSM2 is not installed: run `apt-get install softhsm2` (the PKCS#11 tests need a token)');
  return token;
}

/** A key label no other test uses: every test makes its own master key on the shared token. */
export const freshKeyLabel = () => `confide-test-${randomBytes(4).toString('hex')}`;

/** The variables that put Confide's master key on the token, with the PIN in a 0600 file under `dir`. */
export function pkcs11Env(dir: string, keyLabel: string, pin = softHsmToken().pin): Record<string, string> {
  const token = softHsmToken();
  const pinFile = join(dir, `pin-${randomBytes(3).toString('hex')}`);
  writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
  return {
    SOFTHSM2_CONF: token.conf,
    CONFIDE_MASTER_KEY: '',
    CONFIDE_KEY_PROVIDER: 'pkcs11',
    CONFIDE_PKCS11_MODULE: token.module,
    CONFIDE_PKCS11_TOKEN_LABEL: token.tokenLabel,
    CONFIDE_PKCS11_PIN_FILE: pinFile,
    CONFIDE_PKCS11_KEY_LABEL: keyLabel,
  };
}

/**
 * Runs `work` on a logged-in session of the test token, through the same process-wide module
 * registry Confide uses (a second C_Initialize in one process is refused).
 */
export function onToken<T>(work: (library: ReturnType<typeof acquireModule>['library'], session: Buffer, P: ReturnType<typeof pkcs11js>) => T): T {
  const token = softHsmToken();
  process.env.SOFTHSM2_CONF = token.conf;
  const P = pkcs11js();
  const module = acquireModule(token.module);
  const { library } = module;
  try {
    const slot = library.C_GetSlotList(true).find((candidate) => library.C_GetTokenInfo(candidate).label.replace(/[\s\0]+$/, '') === token.tokenLabel);
    if (!slot) throw new Error(`no token ${token.tokenLabel}`);
    const session = library.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
    try {
      try {
        library.C_Login(session, P.CKU_USER, token.pin);
      } catch (error) {
        if ((error as { code?: number }).code !== P.CKR_USER_ALREADY_LOGGED_IN) throw error;
      }
      return work(library, session, P);
    } finally {
      library.C_CloseSession(session);
    }
  } finally {
    module.release();
  }
}

/** The token's secret keys labelled `keyLabel` (handles valid inside onToken only). */
export function findTokenKeys(library: ReturnType<typeof acquireModule>['library'], session: Buffer, P: ReturnType<typeof pkcs11js>, keyLabel: string): Buffer[] {
  library.C_FindObjectsInit(session, [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_LABEL, value: keyLabel },
  ]);
  try {
    return library.C_FindObjects(session, 10);
  } finally {
    library.C_FindObjectsFinal(session);
  }
}

/** Deletes the master key from the token, as an operator does once nothing needs it. */
export function destroyTokenKey(keyLabel: string): void {
  onToken((library, session, P) => {
    const found = findTokenKeys(library, session, P, keyLabel);
    if (found.length !== 1) throw new Error(`expected one key labelled ${keyLabel}, found ${found.length}`);
    library.C_DestroyObject(session, found[0]!);
  });
}
