/**
 * Where an S3 object store sits, parsed without the AWS SDK: a store's description and a bad
 * target's error are known at open, while the SDK itself loads only on first use.
 */

/** A bucket and a key prefix (`''` or ending in `/`), from `s3://bucket/prefix`. */
export interface S3Location {
  bucket: string;
  prefix: string;
}

export function parseS3Target(target: string): S3Location {
  const [bucket = '', ...rest] = target.startsWith('s3://') ? target.slice('s3://'.length).split('/') : [];
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new Error('an S3 target must be s3://bucket/prefix');
  const prefix = rest.filter((part) => part !== '').join('/');
  return { bucket, prefix: prefix === '' ? '' : `${prefix}/` };
}

/** The store's `description`: `s3://bucket/prefix/`, never a credential or an endpoint. */
export function describeS3Location(location: S3Location): string {
  return `s3://${location.bucket}/${location.prefix}`;
}
