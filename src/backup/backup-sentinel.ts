import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';

const PREFIX = 'backup.sentinel.';
/** Sentinels kept besides the newest: a run that overlaps another (a CLI create during the schedule) still finds its own. */
const KEPT = 5;
const keyOf = (backupId: string) => `${PREFIX}${backupId}`;
// Bound like any value sealed by the system key: to its table, row and field.
const locationOf = (backupId: string) => ({ table: 'system_meta', rowId: keyOf(backupId), field: 'value' });

/**
 * Writes `system_meta.backup.sentinel.<backupId>` = the system cipher's seal of `{backupId, nonce}`
 * just before the snapshot, and returns the sha256 of that plaintext for the manifest. A
 * verification that opens the sentinel in its restored copy and finds the same hash knows the copy
 * is this backup's, taken after this moment, and that the system key in it opens what the system
 * key sealed. One key per backup: two runs at once (a CLI create while the schedule runs) never
 * overwrite each other's.
 *
 * It is not in the encrypted-fields registry: it is written before every backup under the current
 * system key, and old ones are removed (`pruneSentinels`), so re-encryption has nothing to carry forward.
 */
export async function writeSentinel(db: Kysely<DB>, systemCipher: Cipher, backupId: string): Promise<string> {
  const plaintext = JSON.stringify({ backupId, nonce: randomBytes(16).toString('hex') });
  const value = systemCipher.encrypt(plaintext, locationOf(backupId));
  await db.insertInto('system_meta').values({ key: keyOf(backupId), value }).execute();
  return sha256(plaintext);
}

/**
 * Called once backup `backupId`'s snapshot is taken (its sentinel is in it): removes all but the
 * newest few sentinels (ids sort by time), never this backup's, and the single key of earlier versions.
 */
export async function pruneSentinels(db: Kysely<DB>, backupId: string): Promise<void> {
  const keys = (await db.selectFrom('system_meta').select('key').where('key', 'like', `${PREFIX}%`).orderBy('key', 'desc').execute()).map((row) => row.key);
  const old = [...keys.slice(KEPT).filter((key) => key !== keyOf(backupId)), 'backup.sentinel'];
  await db.deleteFrom('system_meta').where('key', 'in', old).execute();
}

/** Opens backup `backupId`'s sentinel in a restored copy: null when it matches `expected`, else what is wrong. */
export async function checkSentinel(db: Kysely<DB>, systemCipher: Cipher, backupId: string, expected: string): Promise<string | null> {
  const row = await db.selectFrom('system_meta').select('value').where('key', '=', keyOf(backupId)).executeTakeFirst();
  if (!row) return 'the sentinel is missing from the restored copy';
  let plaintext: string;
  try {
    plaintext = systemCipher.decrypt(row.value, locationOf(backupId));
  } catch {
    return 'the sentinel does not open with the restored system key';
  }
  if (sha256(plaintext) !== expected) return 'the sentinel differs from the manifest’s';
  if ((JSON.parse(plaintext) as { backupId?: string }).backupId !== backupId) return 'the sentinel names another backup';
  return null;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
