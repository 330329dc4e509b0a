import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';

/** Files written before outbox files named their deployment: id and sealed message only. */
export const OUTBOX_FORMAT_V1 = 'confide-outbox-v1';
/** The current format: adds the id of the deployment whose system key sealed the message. */
export const OUTBOX_FORMAT = 'confide-outbox-v2';

/** An outbox file this deployment cannot read; the message says why, in words an operator can act on. */
export class OutboxFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboxFileError';
  }
}

/**
 * One outbox file: a plain header (format, message id, deployment id) and the `.eml` sealed under
 * the system key. The header stays readable so that a file from another deployment is named as
 * such, rather than failing as undecryptable.
 */
export function sealOutboxFile(id: string, deploymentId: string, eml: string, cipher: Cipher): string {
  return `${OUTBOX_FORMAT}\n${id}\ndeployment ${deploymentId}\n${cipher.encrypt(eml, ENCRYPTED_FIELDS.outboxEml.location({ id }))}\n`;
}

/**
 * Opens an outbox file in either format. Given `deploymentId`, a file that names another
 * deployment is refused by name before any decryption is tried.
 */
export function readOutboxFile(content: string, cipher: Cipher, deploymentId?: string): { id: string; eml: string; deploymentId?: string } {
  const lines = content.trim().split('\n');
  let id: string | undefined;
  let sealed: string | undefined;
  let writer: string | undefined;
  if (lines[0] === OUTBOX_FORMAT && lines.length === 4 && lines[2]?.startsWith('deployment ')) {
    [, id, , sealed] = lines;
    writer = lines[2].slice('deployment '.length);
  } else if (lines[0] === OUTBOX_FORMAT_V1 && lines.length === 3) {
    [, id, sealed] = lines;
  }
  if (!id || !sealed) throw new OutboxFileError('not a Confide outbox file');
  if (deploymentId !== undefined && writer !== undefined && writer !== deploymentId) {
    throw new OutboxFileError(`written by another deployment (${writer}), not by this one (${deploymentId}); its keys are elsewhere`);
  }
  let eml: string;
  try {
    eml = cipher.decrypt(sealed, ENCRYPTED_FIELDS.outboxEml.location({ id }));
  } catch {
    throw new OutboxFileError(
      writer === undefined
        ? 'cannot be decrypted with this deployment’s keys: damaged, or written by another deployment (it predates outbox files naming their deployment)'
        : 'damaged: it names this deployment but cannot be decrypted',
    );
  }
  return { id, eml, ...(writer === undefined ? {} : { deploymentId: writer }) };
}
