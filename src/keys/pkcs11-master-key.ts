import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Pkcs11Settings } from '../config/config.js';
import { DecryptionError } from '../lib/aes-gcm.js';
import { checkPrivateFile } from '../lib/private-path.js';
import { formatWrapped, parseWrapped, type MasterKey } from './master-key.js';
import type * as Pkcs11js from 'pkcs11js';
import { acquireModule, pkcs11js, type Pkcs11Library } from './pkcs11-module.js';
import { pkcs11Problem, Pkcs11KeyError } from './pkcs11-problems.js';

type Handle = Buffer;
const IV_BYTES = 12; // the same 96-bit random nonce as src/lib/aes-gcm.ts, chosen here, not by the token
const TAG_BYTES = 16;
const FINGERPRINT_INPUT = Buffer.from('confide:master-key-id', 'utf8');

/**
 * The master key in an HSM token, over PKCS#11: an AES-256 key that is sensitive and never
 * extractable, found by its label in the token found by its label (slot numbers and object handles
 * change between starts). Keys are wrapped and unwrapped inside the token with CKM_AES_GCM, Confide's
 * 12-byte random IV, the slot's AAD and a 128-bit tag, so the wrapped form is the same
 * `w1.A256GCM.<iv ‖ ciphertext ‖ tag>` as a key file's; RFC 5649 key wrap has no AAD, and the AAD is
 * what stops a wrapped key copied to another slot from unwrapping. Calls are synchronous, on one
 * logged-in session (tens of µs each; async calls would need a session per concurrent call).
 */
export function openPkcs11MasterKey(settings: Pkcs11Settings, create: boolean): MasterKey {
  const { library, session, close } = openTokenSession(settings);
  try {
    const key = findKey(library, session, settings.keyLabel) ?? (create ? generateKey(library, session, settings.keyLabel) : undefined);
    if (!key) {
      throw new Pkcs11KeyError(
        `there is no key labelled "${settings.keyLabel}" (CONFIDE_PKCS11_KEY_LABEL) on the PKCS#11 token "${settings.tokenLabel}": ` +
          'restore it, or name the key the database was set up with',
      );
    }
    refuseExportable(library, session, key, settings);
    return tokenMasterKey(library, session, key, settings, close);
  } catch (error) {
    close();
    throw error instanceof Pkcs11KeyError ? error : pkcs11Problem(error, settings, 'session');
  }
}

/**
 * A logged-in session of the token CONFIDE_PKCS11_* names, with its own lifetime: for the tenant
 * key store (src/keys/pkcs11-tenant-key-store.ts), which closes it when it closes. Problems are the
 * same one-line Pkcs11KeyError as the master key's.
 */
export function openTokenSession(settings: Pkcs11Settings): { library: Pkcs11Library; session: Handle; close: () => void } {
  const pin = readPin(settings.pinFile);
  let module: ReturnType<typeof acquireModule>;
  try {
    module = acquireModule(settings.module);
  } catch (error) {
    throw pkcs11Problem(error, settings, 'module');
  }
  const { library, release } = module;
  let session: Handle;
  try {
    session = openSession(library, settings, pin);
  } catch (error) {
    release();
    throw error instanceof Pkcs11KeyError ? error : pkcs11Problem(error, settings, 'session');
  }
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    closeQuietly(() => library.C_CloseSession(session));
    release();
  };
  return { library, session, close };
}

function readPin(pinFile: string): string {
  if (!existsSync(pinFile)) throw new Pkcs11KeyError(`the PKCS#11 PIN file ${pinFile} (CONFIDE_PKCS11_PIN_FILE) does not exist`);
  checkPrivateFile(pinFile, 'PKCS#11 PIN file (CONFIDE_PKCS11_PIN_FILE)');
  // A trailing newline from `echo 1234 > pin` is not part of the PIN.
  return readFileSync(pinFile, 'utf8').replace(/\r?\n$/, '');
}

function openSession(library: Pkcs11Library, settings: Pkcs11Settings, pin: string): Handle {
  const P = pkcs11js();
  const slot = findSlot(library, settings.tokenLabel);
  const session = library.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
  try {
    library.C_Login(session, P.CKU_USER, pin);
  } catch (error) {
    // Login is per token per process: the other master key of a rotation has logged in already.
    if ((error as { code?: number }).code !== P.CKR_USER_ALREADY_LOGGED_IN) {
      closeQuietly(() => library.C_CloseSession(session));
      throw error;
    }
  }
  return session;
}

/** Token labels are padded to 32 bytes, with blanks by the standard and NULs by some tools. */
const labelOf = (raw: string) => raw.replace(/[\s\0]+$/, '');

function findSlot(library: Pkcs11Library, tokenLabel: string): Handle {
  const P = pkcs11js();
  const labels: string[] = [];
  for (const slot of library.C_GetSlotList(true)) {
    const info = library.C_GetTokenInfo(slot);
    const label = labelOf(info.label);
    if (label === tokenLabel && info.flags & P.CKF_TOKEN_INITIALIZED) return slot;
    if (label) labels.push(`"${label}"`);
  }
  throw new Pkcs11KeyError(`there is no PKCS#11 token labelled "${tokenLabel}" (CONFIDE_PKCS11_TOKEN_LABEL); tokens present: ${labels.join(', ') || 'none'}`);
}

function findKey(library: Pkcs11Library, session: Handle, keyLabel: string): Handle | undefined {
  const P = pkcs11js();
  library.C_FindObjectsInit(session, [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
    { type: P.CKA_LABEL, value: keyLabel },
  ]);
  try {
    const found = library.C_FindObjects(session, 2);
    if (found.length > 1) throw new Pkcs11KeyError(`more than one AES key is labelled "${keyLabel}" (CONFIDE_PKCS11_KEY_LABEL) on the PKCS#11 token: labels must be unique`);
    return found[0];
  } finally {
    library.C_FindObjectsFinal(session);
  }
}

/**
 * A new master key, generated inside the token: AES-256, kept on the token, readable only after
 * login, never revealed (SENSITIVE) nor exported (EXTRACTABLE false, so NEVER_EXTRACTABLE stays true).
 */
function generateKey(library: Pkcs11Library, session: Handle, keyLabel: string): Handle {
  const P = pkcs11js();
  return library.C_GenerateKey(session, { mechanism: P.CKM_AES_KEY_GEN }, [
    ...tokenAesKeyTemplate(keyLabel, randomBytes(8)),
    { type: P.CKA_SIGN, value: true }, // the CMAC fingerprint (id)
  ]);
}

/** A key an operator made in the token must be as closed as one Confide makes: else it could leave the HSM. */
function refuseExportable(library: Pkcs11Library, session: Handle, key: Handle, settings: Pkcs11Settings): void {
  const P = pkcs11js();
  const [sensitive, extractable] = library.C_GetAttributeValue(session, key, [{ type: P.CKA_SENSITIVE }, { type: P.CKA_EXTRACTABLE }]);
  if (isTrue(sensitive?.value) && !isTrue(extractable?.value)) return;
  throw new Pkcs11KeyError(
    `the key "${settings.keyLabel}" (CONFIDE_PKCS11_KEY_LABEL) on the PKCS#11 token "${settings.tokenLabel}" can leave the token ` +
      '(CKA_SENSITIVE must be true and CKA_EXTRACTABLE false): generate a new one, or let Confide make it',
  );
}

const isTrue = (value: unknown) => Buffer.isBuffer(value) && value.length > 0 && value[0] !== 0;

function gcm(iv: Buffer, aad: Buffer) {
  const P = pkcs11js();
  return { mechanism: P.CKM_AES_GCM, parameter: { type: P.CK_PARAMS_AES_GCM, iv, ivBits: IV_BYTES * 8, aad, tagBits: TAG_BYTES * 8 } };
}

// The token reports a ciphertext that does not authenticate in its own way (SoftHSM: CKR_GENERAL_ERROR).
const NOT_AUTHENTIC = new Set(['CKR_GENERAL_ERROR', 'CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE']);

/**
 * Wrapping and unwrapping under an AES key in the token (CKM_AES_GCM, Confide's IV, the caller's
 * AAD): the master key's, and each TKEK's in the HSM tenant key store, in the same `w1.` form.
 */
export function tokenGcmWrapper(library: Pkcs11Library, session: Handle, key: Handle): Pick<MasterKey, 'wrap' | 'unwrap'> {
  return {
    wrap(plain, aad) {
      const iv = randomBytes(IV_BYTES);
      library.C_EncryptInit(session, gcm(iv, aad), key);
      return formatWrapped(Buffer.concat([iv, library.C_Encrypt(session, plain, Buffer.alloc(plain.length + TAG_BYTES))]));
    },
    unwrap(wrapped, aad) {
      const sealed = parseWrapped(wrapped);
      if (sealed.length < IV_BYTES + TAG_BYTES) throw new DecryptionError();
      library.C_DecryptInit(session, gcm(sealed.subarray(0, IV_BYTES), aad), key);
      try {
        return library.C_Decrypt(session, sealed.subarray(IV_BYTES), Buffer.alloc(sealed.length));
      } catch (error) {
        if (NOT_AUTHENTIC.has((error as Error).message)) throw new DecryptionError();
        throw error;
      }
    },
  };
}

/** `closeSession` ends the session and releases the library (openTokenSession's close). */
function tokenMasterKey(library: Pkcs11Library, session: Handle, key: Handle, settings: Pkcs11Settings, closeSession: () => void): MasterKey {
  const P = pkcs11js();
  library.C_SignInit(session, { mechanism: P.CKM_AES_CMAC }, key);
  const id = library.C_Sign(session, FINGERPRINT_INPUT, Buffer.alloc(16)).toString('hex').slice(0, 16);
  let closed = false;
  return {
    kind: 'pkcs11',
    description: `PKCS#11 key "${settings.keyLabel}" on token "${settings.tokenLabel}"`,
    id,
    ...tokenGcmWrapper(library, session, key),
    legacyBytes: () => null,
    close() {
      if (closed) return;
      closed = true;
      // Closing the token's last session logs it out; the library is finalised with its last user.
      closeSession();
    },
  };
}

function closeQuietly(close: () => void): void {
  try {
    close();
  } catch {
    // Already gone (the token was removed, the library finalised): nothing left to release.
  }
}

/**
 * The attributes of an AES-256 key Confide generates inside a token (the master key, tenants' key-
 * encryption keys): kept on the token, readable only after login, never revealed (SENSITIVE) nor
 * exported (EXTRACTABLE false, so NEVER_EXTRACTABLE stays true), unchangeable, for GCM only.
 */
export function tokenAesKeyTemplate(label: string, id: Buffer): Pkcs11js.Template {
  const P = pkcs11js();
  return [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
    { type: P.CKA_VALUE_LEN, value: 32 },
    { type: P.CKA_LABEL, value: label },
    { type: P.CKA_ID, value: id },
    { type: P.CKA_TOKEN, value: true },
    { type: P.CKA_PRIVATE, value: true },
    { type: P.CKA_SENSITIVE, value: true },
    { type: P.CKA_EXTRACTABLE, value: false },
    { type: P.CKA_MODIFIABLE, value: false },
    { type: P.CKA_ENCRYPT, value: true },
    { type: P.CKA_DECRYPT, value: true },
  ];
}
