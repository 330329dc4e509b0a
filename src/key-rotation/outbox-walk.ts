import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { writePrivateFile } from '../lib/private-path.js';
import type { Cipher } from '../keys/cipher.js';
import { ENVELOPE_FORMAT } from '../keys/envelope-format.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';

/**
 * The registry's one `kind: 'file'` entry, the mail outbox folder (src/mail/outbox-file.ts): each
 * file a plain header and, on its last line, one value sealed under the system key. Re-sealing
 * rewrites that line only, through a temporary file and a rename, so a crash leaves the old file
 * or the new one, never half of either. The folder is this node's own (under its data directory).
 */
const SUFFIX = '.eml.enc';

function outboxFiles(dir: string, after: string | null): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(SUFFIX) && (after === null || name > after))
    .sort();
}

/** Re-seals up to `limit` files after `after` (name order); returns how many were read and the last name. */
export function resealOutboxBatch(dir: string, cipher: Cipher, after: string | null, limit: number): { read: number; last: string | null } {
  const names = outboxFiles(dir, after).slice(0, limit);
  for (const name of names) {
    const file = join(dir, name);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const sealed = lines[lines.length - 1]!;
    if (!sealed.startsWith(`${ENVELOPE_FORMAT}.`) || cipher.isCurrent(sealed)) continue;
    const location = ENCRYPTED_FIELDS.outboxEml.location({ id: lines[1]! });
    lines[lines.length - 1] = cipher.encrypt(cipher.decrypt(sealed, location), location);
    writePrivateFile(`${file}.tmp`, `${lines.join('\n')}\n`);
    renameSync(`${file}.tmp`, file);
  }
  return { read: names.length, last: names[names.length - 1] ?? null };
}

export function countOutboxFiles(dir: string): number {
  return outboxFiles(dir, null).length;
}

/** Outbox files sealed under a key version other than `version`. */
export function countOutboxOutsideVersion(dir: string, version: number): number {
  return outboxFiles(dir, null).filter((name) => {
    const sealed = readFileSync(join(dir, name), 'utf8').trimEnd().split('\n').pop() ?? '';
    return sealed.split('.')[2] !== String(version);
  }).length;
}

/** The outbox files' values by the algorithm and key version their envelope names (the crypto inventory counts them with the columns). */
export function outboxEnvelopes(dir: string): Array<{ algorithm: string; version: number }> {
  return outboxFiles(dir, null).map((name) => {
    const [, algorithm = '', version = ''] = (readFileSync(join(dir, name), 'utf8').trimEnd().split('\n').pop() ?? '').split('.');
    return { algorithm, version: Number(version) };
  });
}
