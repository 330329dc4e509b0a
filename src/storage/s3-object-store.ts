import { PassThrough, type Readable } from 'node:stream';
import { AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsCommand, S3Client, S3ServiceException, type ListMultipartUploadsCommandOutput } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { checkObjectName, ObjectStoreError, type IncompleteWrite, type ObjectStore, type ObjectStoreProblem, type StoredObject } from './object-store.js';
import type { S3Settings } from '../config/s3-settings.js';
import { describeS3Location, parseS3Target, type S3Location } from './s3-location.js';

export { parseS3Target, type S3Location } from './s3-location.js';

/**
 * Parts of a multipart upload: S3's least part size. At most QUEUE_SIZE of them are held at once,
 * so a put holds about 10 MiB whatever the object's size.
 */
const PART_BYTES = 5 * 1024 * 1024;
const QUEUE_SIZE = 2;

/**
 * Objects in an S3-compatible bucket under a prefix. A put is one PutObject for a small object or a
 * multipart upload for a large one (lib-storage `Upload`), so an object is visible only whole; a
 * failed put aborts its multipart upload, leaving neither object nor stray parts. Messages name the
 * bucket and prefix and the S3 error code, never a credential or a signed URL (the SDK's own error,
 * kept as `cause`, is for the log). Importing this module loads the AWS SDK: open a store through
 * `openS3ObjectStore` (open-object-store.ts), which loads it only on first use.
 */
export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  private readonly client: S3Client;
  private readonly location: S3Location;

  /** `listPageSize`: keys per ListObjectsV2 page (S3's largest: 1000); smaller in tests of pagination. */
  constructor(target: string, settings: S3Settings, private readonly listPageSize = 1000) {
    this.location = parseS3Target(target);
    this.description = describeS3Location(this.location);
    this.client = new S3Client({
      ...(settings.region ? { region: settings.region } : {}),
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      // A copy: the SDK annotates the object it is given, and the configuration is frozen.
      ...(settings.credentials ? { credentials: { ...settings.credentials } } : {}),
      forcePathStyle: settings.forcePathStyle,
      // Confide's objects are authenticated by their own AEAD; the SDK's newer default (a CRC
      // trailer on every upload) is refused by many S3-compatible servers, so only where required.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
    });
  }

  async put(name: string, source: Readable): Promise<void> {
    const key = this.key(name);
    let sourceError: unknown;
    source.once('error', (error) => (sourceError ??= error));
    const upload = new Upload({ client: this.client, params: { Bucket: this.location.bucket, Key: key, Body: source }, partSize: PART_BYTES, queueSize: QUEUE_SIZE, leavePartsOnError: false });
    try {
      await upload.done();
    } catch (error) {
      // Upload aborted its multipart upload; a single PutObject never started or failed whole.
      throw sourceError ?? this.failure(error, `writing ${name}`);
    }
  }

  get(name: string): Readable {
    const out = new PassThrough();
    const command = new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(name) });
    // A reader that goes away before the answer (a client gone mid-download) cancels the request;
    // one that went away by the time it came leaves the body unread, and an unread body keeps its
    // socket checked out of the SDK's pool for good: every later S3 call would wait for a socket.
    const abort = new AbortController();
    out.once('close', () => abort.abort());
    this.client.send(command, { abortSignal: abort.signal }).then(
      (answer) => {
        const body = answer.Body as Readable;
        if (out.destroyed) return void body.destroy();
        body.once('error', (error) => out.destroy(this.failure(error, `reading ${name}`) as Error));
        out.once('close', () => body.destroy());
        body.pipe(out);
      },
      (error: unknown) => out.destroy(this.failure(error, `reading ${name}`) as Error),
    );
    return out;
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const found: StoredObject[] = [];
    for await (const page of this.pages(prefix)) found.push(...page);
    return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async *pages(prefix: string): AsyncIterable<StoredObject[]> {
    const Prefix = this.location.prefix + prefix;
    // ListObjects (v1) paged by Marker, the last key seen: every S3-compatible server implements
    // it alike (s3rver's v2 continuation tokens need DES, which OpenSSL 3 no longer offers).
    for (let after: string | undefined, more = true; more; ) {
      const page = await this.client.send(new ListObjectsCommand({ Bucket: this.location.bucket, Prefix, MaxKeys: this.listPageSize, ...(after ? { Marker: after } : {}) })).catch((error: unknown) => {
        throw this.failure(error, `listing ${prefix || 'objects'}`);
      });
      const objects = page.Contents ?? [];
      yield objects.flatMap((object) => (object.Key ? [{ name: object.Key.slice(this.location.prefix.length), bytes: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date(0) }] : []));
      after = objects.at(-1)?.Key;
      more = page.IsTruncated === true && after !== undefined;
    }
  }

  /**
   * Multipart uploads under `prefix` never completed nor aborted: `leavePartsOnError: false` aborts
   * a failed one only while the process lives, so a crash mid-upload leaves its parts, billed and
   * out of sight. A server without ListMultipartUploads (s3rver) yields none: the bucket's
   * lifecycle rule AbortIncompleteMultipartUpload (docs/operations.md) is the other guard.
   */
  async *incompleteWrites(prefix: string): AsyncIterable<IncompleteWrite> {
    const Bucket = this.location.bucket;
    for (let keyAfter: string | undefined, idAfter: string | undefined, more = true; more; ) {
      let page: ListMultipartUploadsCommandOutput;
      try {
        page = await this.client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: this.location.prefix + prefix, MaxUploads: this.listPageSize, ...(keyAfter ? { KeyMarker: keyAfter, UploadIdMarker: idAfter } : {}) }));
      } catch (error) {
        if (error instanceof S3ServiceException && error.name === 'NotImplemented') return;
        throw this.failure(error, `listing incomplete uploads under ${prefix || 'the prefix'}`);
      }
      for (const upload of page.Uploads ?? []) {
        const { Key, UploadId } = upload;
        if (!Key || !UploadId) continue;
        const name = Key.slice(this.location.prefix.length);
        const abort = () => this.abortUpload(Key, UploadId, name);
        yield { name, startedAt: upload.Initiated ?? new Date(0), abort };
      }
      keyAfter = page.NextKeyMarker;
      idAfter = page.NextUploadIdMarker;
      more = page.IsTruncated === true && keyAfter !== undefined;
    }
  }

  private async abortUpload(Key: string, UploadId: string, name: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.location.bucket, Key, UploadId }));
    } catch (error) {
      const failure = this.failure(error, `aborting the upload of ${name}`);
      if (!(failure instanceof ObjectStoreError && failure.kind === 'missing')) throw failure;
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(name) }));
    } catch (error) {
      const failure = this.failure(error, `removing ${name}`);
      if (!(failure instanceof ObjectStoreError && failure.kind === 'missing')) throw failure;
    }
  }

  /** Closes the client's sockets (tests and the CLI, which end the process otherwise). */
  close(): void {
    this.client.destroy();
  }

  private key(name: string): string {
    return this.location.prefix + checkObjectName(name);
  }

  /** An SDK or network error as an ObjectStoreError of its kind: the S3 code, never the SDK's message (it may carry a URL). */
  private failure(error: unknown, what: string): unknown {
    if (error instanceof ObjectStoreError) return error;
    const code = codeOf(error);
    const kind = problemOf(error, code);
    return new ObjectStoreError(kind, `${this.description}: ${what}: ${MESSAGES[kind]} (${code})`, { cause: error });
  }
}

const MESSAGES: Record<ObjectStoreProblem, string> = {
  missing: 'no such object',
  full: 'the bucket refused more data',
  denied: 'access denied',
  unavailable: 'the S3 service is not usable',
};

function codeOf(error: unknown): string {
  if (error instanceof S3ServiceException) return error.name;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return code;
  const name = (error as Error | undefined)?.name;
  return typeof name === 'string' && /^[A-Za-z]{1,60}$/.test(name) ? name : 'Error';
}

/**
 * The kind of an S3 failure. `full` only for a bucket or server that takes no more data (a quota,
 * a full disk); `EntityTooLarge` is one object over a size limit, which says nothing of the space
 * left, so it is `unavailable` (the file size limit, CONFIDE_FILE_MAX_BYTES, refuses a file first).
 */
export function problemOf(error: unknown, code: string): ObjectStoreProblem {
  const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
  if (code === 'NoSuchKey' || code === 'NotFound' || (status === 404 && code !== 'NoSuchBucket')) return 'missing';
  if (code === 'QuotaExceeded' || code === 'XMinioStorageFull' || status === 507) return 'full';
  if (code === 'AccessDenied' || code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || status === 403) return 'denied';
  return 'unavailable';
}
