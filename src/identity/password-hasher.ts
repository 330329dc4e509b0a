import { hash, verify, type Options } from '@node-rs/argon2';
import { normalisePassword } from './password-policy.js';

/** OWASP's argon2id parameters (ASVS 11.4.2): 19 MiB of memory, 2 passes, 1 lane. */
const ARGON2ID_ALGORITHM = 2; // Algorithm.Argon2id (a const enum, which isolated modules cannot import)
const ARGON2ID: Options = { algorithm: ARGON2ID_ALGORITHM, memoryCost: 19456, timeCost: 2, parallelism: 1 };

export function hashPassword(password: string): Promise<string> {
  return hash(normalisePassword(password), ARGON2ID);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, normalisePassword(password));
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the same work as a real check when the account does not exist, so response time
 * does not tell an attacker which e-mail addresses have accounts.
 */
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword('confide-no-such-account-placeholder');
  await verifyPassword(await dummyHash, password);
}
