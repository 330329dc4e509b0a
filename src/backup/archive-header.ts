import type { Readable } from 'node:stream';

export const ARCHIVE_FORMAT = 'confide-backup-v1';
/** The header's length prefix is 4 bytes; a header is a few hundred bytes, so anything past this is not one. */
const MAX_HEADER_BYTES = 64 * 1024;

/** Where a backup came from: the database it was taken of and the code that took it. */
export interface BackupSource {
  dialect: 'sqlite' | 'postgres';
  migration: string;
  node: string;
  release: string;
}

/**
 * The clear header in front of an archive (and of its `.manifest` and `.verified` objects): what a
 * reader needs before it can open anything, nothing secret. Its exact bytes are the associated data
 * of what follows, so an edited header makes the body not open.
 */
export interface ArchiveHeader {
  format: typeof ARCHIVE_FORMAT;
  id: string;
  createdAt: string;
  source: BackupSource;
  /** Which master key wrapped the backup key (its public fingerprint). */
  masterKeyId: string;
  /** The backup key, wrapped by the master key with AAD `backupKeyAad(id)`. */
  wrappedBackupKey: string;
}

/** Backup ids: `YYYYMMDDTHHMMSSZ-<8 hex>`, sortable by time, safe in object names. */
export const BACKUP_ID = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;

/** What the wrapped backup key is bound to: copied into another archive's header, it does not unwrap. */
export const backupKeyAad = (id: string) => Buffer.from(`confide:backup-key:${id}`, 'utf8');

/** The header as written: a 4-byte big-endian length, then its JSON. */
export function encodeHeader(header: ArchiveHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length, 0);
  return Buffer.concat([length, json]);
}

export class ArchiveFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveFormatError';
  }
}

/** Parses a header from the start of `bytes`; returns it with its encoded bytes, or throws naming what is wrong. */
export function decodeHeader(bytes: Buffer): { header: ArchiveHeader; encoded: Buffer } | null {
  if (bytes.length < 4) return null;
  const length = bytes.readUInt32BE(0);
  if (length < 2 || length > MAX_HEADER_BYTES) throw new ArchiveFormatError('its header is not a Confide backup header');
  if (bytes.length < 4 + length) return null;
  let header: ArchiveHeader;
  try {
    header = JSON.parse(bytes.subarray(4, 4 + length).toString('utf8')) as ArchiveHeader;
  } catch {
    throw new ArchiveFormatError('its header is not valid JSON');
  }
  if (header.format !== ARCHIVE_FORMAT) throw new ArchiveFormatError('its format is not confide-backup-v1');
  if (typeof header.id !== 'string' || !BACKUP_ID.test(header.id) || typeof header.wrappedBackupKey !== 'string' || typeof header.masterKeyId !== 'string') {
    throw new ArchiveFormatError('its header lacks an id, a master key id or a wrapped key');
  }
  return { header, encoded: Buffer.from(bytes.subarray(0, 4 + length)) };
}

/**
 * Reads the header off the front of a stream and hands back the rest of the stream's bytes (an
 * async iterable beginning with whatever followed the header in the last chunk read).
 */
export async function splitHeader(source: Readable): Promise<{ header: ArchiveHeader; encoded: Buffer; rest: AsyncIterable<Buffer> }> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let buffered: Buffer = Buffer.alloc(0);
  for (;;) {
    const decoded = decodeHeader(buffered);
    if (decoded) {
      const leftover = buffered.subarray(decoded.encoded.length);
      return { ...decoded, rest: restOf(leftover, iterator) };
    }
    const next = await iterator.next();
    if (next.done) throw new ArchiveFormatError('it ends inside its header');
    buffered = Buffer.concat([buffered, next.value]);
  }
}

async function* restOf(leftover: Buffer, iterator: AsyncIterator<Buffer>): AsyncIterable<Buffer> {
  if (leftover.length > 0) yield leftover;
  for (;;) {
    const next = await iterator.next();
    if (next.done) return;
    yield next.value;
  }
}
