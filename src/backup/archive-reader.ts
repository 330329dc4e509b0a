import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import { DecryptionError } from '../lib/aes-gcm.js';
import { openStream, StreamIntegrityError } from '../lib/stream-aead.js';
import type { MasterKey } from '../keys/master-key.js';
import type { ObjectStore } from '../storage/object-store.js';
import { FRAME, FrameError, decodeFrames, type Frame } from './archive-frames.js';
import { ArchiveFormatError, backupKeyAad, splitHeader, type ArchiveHeader } from './archive-header.js';
import { archiveName, type BackupManifest } from './backup-manifest.js';
import type { DumpLine } from './dump-format.js';

/** An archive that does not open as it should: damaged, cut, edited, or for another master key. Its message names the backup. */
export class BackupArchiveError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackupArchiveError';
  }
}

/** What an archive's body is handed to, in order: its dump lines (as one iterable), then each blob. */
export interface ArchiveConsumer {
  /** Takes the dump lines; must consume the iterable to its end. */
  dump(lines: AsyncIterable<DumpLine>): Promise<void>;
  /** One blob: its sealed bytes, which must be consumed to their end. */
  blob(ref: { tenantId: string; storageId: string }, bytes: AsyncIterable<Buffer>): Promise<void>;
}

/** The backup key, unwrapped by the configured master key; a clear error when that is another master key. */
export function unwrapBackupKey(header: ArchiveHeader, masterKey: MasterKey): Buffer {
  if (header.masterKeyId !== masterKey.id) {
    throw new BackupArchiveError(`backup ${header.id} was made under master key ${header.masterKeyId}; the configured ${masterKey.description} is ${masterKey.id}: configure the master key the backup was made with`);
  }
  try {
    return masterKey.unwrap(header.wrappedBackupKey, backupKeyAad(header.id));
  } catch (error) {
    throw new BackupArchiveError(`backup ${header.id}: its backup key does not unwrap with the configured master key (its header was edited, or it was made elsewhere)`, { cause: error });
  }
}

/**
 * Reads `backups/<id>.cbk` end to end: the header (checked against `id`), the backup key, the body
 * through openStream and the frame decoder, handing dump lines and blobs to `consumer` as they
 * authenticate. Returns the header, the manifest (the last frame) and the sha256 and size of the
 * whole object. Any damage ends in a BackupArchiveError naming the backup and what is wrong.
 */
export async function readArchive(store: ObjectStore, masterKey: MasterKey, id: string, consumer: ArchiveConsumer): Promise<{ header: ArchiveHeader; manifest: BackupManifest; sha256: string; bytes: number }> {
  const digest = createHash('sha256');
  let bytes = 0;
  const raw = store.get(archiveName(id));
  const counted = Readable.from(
    (async function* () {
      for await (const chunk of raw) {
        digest.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    })(),
  );
  try {
    const { header, encoded, rest } = await splitHeader(counted);
    if (header.id !== id) throw new BackupArchiveError(`backup ${id}: its header names another backup (${header.id})`);
    const key = unwrapBackupKey(header, masterKey);
    const frames = pipeline(Readable.from(rest), openStream(key, encoded), decodeFrames(), () => undefined);
    const manifest = await consumeFrames(frames[Symbol.asyncIterator]() as AsyncIterator<Frame>, consumer);
    key.fill(0);
    if (manifest.id !== id) throw new BackupArchiveError(`backup ${id}: its manifest names another backup`);
    return { header, manifest, sha256: digest.digest('hex'), bytes };
  } catch (error) {
    raw.destroy(); // a consumer that gave up (a load that refused) leaves the rest unread
    throw describeFailure(id, error);
  }
}

/** Frames in the only order a writer makes them: dump lines, blobs, the manifest, nothing after. */
async function consumeFrames(frames: AsyncIterator<Frame>, consumer: ArchiveConsumer): Promise<BackupManifest> {
  let held: Frame | undefined;
  const next = async (): Promise<Frame | undefined> => {
    if (held) {
      const frame = held;
      held = undefined;
      return frame;
    }
    const step = await frames.next();
    return step.done ? undefined : step.value;
  };
  await consumer.dump(
    (async function* () {
      for (let frame = await next(); frame; frame = await next()) {
        if (frame.type !== FRAME.dumpLine) {
          held = frame;
          return;
        }
        yield JSON.parse(frame.payload.toString('utf8')) as DumpLine;
      }
    })(),
  );
  for (let frame = await next(); frame; frame = await next()) {
    if (frame.type === FRAME.manifest) {
      if (await next()) throw new FrameError('frames follow its manifest');
      return JSON.parse(frame.payload.toString('utf8')) as BackupManifest;
    }
    if (frame.type !== FRAME.fileStart) throw new FrameError(`a frame of type ${frame.type} where a file or the manifest belongs`);
    const ref = JSON.parse(frame.payload.toString('utf8')) as { tenantId: string; storageId: string };
    await consumer.blob(
      ref,
      (async function* () {
        for (let part = await next(); ; part = await next()) {
          if (!part) throw new FrameError('it ends inside a file');
          if (part.type === FRAME.fileEnd) return;
          if (part.type !== FRAME.fileBytes) throw new FrameError('a file is interrupted by another frame');
          yield part.payload;
        }
      })(),
    );
  }
  throw new FrameError('it has no manifest (it was cut short)');
}

function describeFailure(id: string, error: unknown): unknown {
  if (error instanceof BackupArchiveError) return error;
  const message = (error as Error | undefined)?.message ?? String(error);
  if (error instanceof StreamIntegrityError) return new BackupArchiveError(`backup ${id} is damaged: ${message.replace('the stream', 'the archive')}`, { cause: error });
  if (error instanceof ArchiveFormatError || error instanceof FrameError) return new BackupArchiveError(`backup ${id} is damaged: ${message}`, { cause: error });
  if (error instanceof DecryptionError) return new BackupArchiveError(`backup ${id} does not open: ${message}`, { cause: error });
  return error;
}
