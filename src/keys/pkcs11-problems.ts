import type { Pkcs11Settings } from '../config/config.js';

/** A PKCS#11 master key that cannot be used: one line for the operator, naming the variable to fix. */
export class Pkcs11KeyError extends Error {}

/**
 * Turns what pkcs11js throws into that line. Its Pkcs11Error carries the CKR_ name as its message
 * (SoftHSM says CKR_GENERAL_ERROR for a missing or unreadable configuration, and nothing more).
 */
export function pkcs11Problem(error: unknown, settings: Pkcs11Settings, stage: 'module' | 'session'): Pkcs11KeyError {
  const code = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  if (stage === 'module') {
    // load() fails with the dynamic loader's message (no such file, not a PKCS#11 library).
    return new Pkcs11KeyError(`the PKCS#11 module ${settings.module} (CONFIDE_PKCS11_MODULE) cannot be loaded: ${code}`);
  }
  if (code === 'CKR_PIN_INCORRECT' || code === 'CKR_PIN_LEN_RANGE') {
    return new Pkcs11KeyError(`the PIN in ${settings.pinFile} (CONFIDE_PKCS11_PIN_FILE) is wrong for the PKCS#11 token "${settings.tokenLabel}" (${code})`);
  }
  if (code === 'CKR_PIN_LOCKED' || code === 'CKR_PIN_EXPIRED') {
    return new Pkcs11KeyError(`the user PIN of the PKCS#11 token "${settings.tokenLabel}" is locked or expired (${code}): the token's security officer must reset it`);
  }
  return new Pkcs11KeyError(
    `the PKCS#11 token "${settings.tokenLabel}" (CONFIDE_PKCS11_TOKEN_LABEL) of ${settings.module} cannot be used: ${code}`,
  );
}
