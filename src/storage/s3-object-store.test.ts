import { ListMultipartUploadsCommand, S3ServiceException, type AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { IncompleteWrite } from './object-store.js';
import { problemOf, S3ObjectStore } from './s3-object-store.js';

const s3Error = (name: string, httpStatusCode: number) => new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode }, message: name });

describe('S3 failure kinds (src/storage/s3-object-store.ts)', () => {
  it('says full only for a bucket that takes no more data, not for one object over a size limit', () => {
    expect(problemOf(s3Error('EntityTooLarge', 400), 'EntityTooLarge')).toBe('unavailable');
    expect(problemOf(s3Error('QuotaExceeded', 403), 'QuotaExceeded')).toBe('full');
    expect(problemOf(s3Error('XMinioStorageFull', 507), 'XMinioStorageFull')).toBe('full');
    expect(problemOf(s3Error('NoSuchKey', 404), 'NoSuchKey')).toBe('missing');
    expect(problemOf(s3Error('AccessDenied', 403), 'AccessDenied')).toBe('denied');
  });
});

/** A store whose S3 client answers from `answer` (no network): what was sent, in order. */
function storeAnswering(answer: (command: object) => unknown) {
  const store = new S3ObjectStore('s3://bucket-1/deploy', { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, forcePathStyle: true }, 2);
  const sent: object[] = [];
  (store as unknown as { client: { send: (command: object) => Promise<unknown> } }).client.send = async (command: object) => {
    sent.push(command);
    return answer(command);
  };
  return { store, sent };
}

async function all(writes: AsyncIterable<IncompleteWrite>): Promise<IncompleteWrite[]> {
  const found: IncompleteWrite[] = [];
  for await (const write of writes) found.push(write);
  return found;
}

describe('incomplete multipart uploads (src/storage/s3-object-store.ts)', () => {
  it('lists them page by page under the prefix, and aborts one by its key and upload id', async () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const { store, sent } = storeAnswering((command) => {
      if (command instanceof ListMultipartUploadsCommand) {
        return command.input.KeyMarker
          ? { Uploads: [{ Key: 'deploy/files/t/c', UploadId: 'u3', Initiated: at }], IsTruncated: false }
          : { Uploads: [{ Key: 'deploy/files/t/a', UploadId: 'u1', Initiated: at }, { Key: 'deploy/files/t/b', UploadId: 'u2', Initiated: at }], IsTruncated: true, NextKeyMarker: 'deploy/files/t/b', NextUploadIdMarker: 'u2' };
      }
      return {};
    });
    const writes = await all(store.incompleteWrites('files/'));
    expect(writes.map((write) => [write.name, write.startedAt])).toEqual([['files/t/a', at], ['files/t/b', at], ['files/t/c', at]]);
    const lists = sent.filter((command): command is ListMultipartUploadsCommand => command instanceof ListMultipartUploadsCommand);
    expect(lists.map((command) => command.input)).toEqual([
      { Bucket: 'bucket-1', Prefix: 'deploy/files/', MaxUploads: 2 },
      { Bucket: 'bucket-1', Prefix: 'deploy/files/', MaxUploads: 2, KeyMarker: 'deploy/files/t/b', UploadIdMarker: 'u2' },
    ]);
    await writes[1]!.abort();
    expect((sent.at(-1) as AbortMultipartUploadCommand).input).toEqual({ Bucket: 'bucket-1', Key: 'deploy/files/t/b', UploadId: 'u2' });
    store.close();
  });

  it('yields none where the server cannot list them (s3rver: NotImplemented); any other failure is an ObjectStoreError', async () => {
    const unsupported = storeAnswering(() => {
      throw s3Error('NotImplemented', 501);
    });
    expect(await all(unsupported.store.incompleteWrites('files/'))).toEqual([]);
    const down = storeAnswering(() => {
      throw s3Error('ServiceUnavailable', 503);
    });
    await expect(all(down.store.incompleteWrites('files/'))).rejects.toMatchObject({ name: 'ObjectStoreError', kind: 'unavailable' });
    unsupported.store.close();
    down.store.close();
  });
});
