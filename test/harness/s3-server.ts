import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver'; // typed by ./s3rver.d.ts: it ships no types

export interface S3TestServer {
  endpoint: string;
  bucket: string;
  /** Where s3rver keeps the objects (the at-rest scan reads it). */
  directory: string;
  /** The environment that points Confide at this server (the usual AWS variables). */
  env: Record<string, string>;
  /** Stops the server, keeping its objects (an S3 outage); `start` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real S3-compatible server (s3rver) on a free loopback port with its own temporary folder and
 * one bucket. Path-style addressing: `bucket.127.0.0.1` does not resolve.
 */
export async function startS3Server(bucket = 'confide-test'): Promise<S3TestServer> {
  const directory = mkdtempSync(join(tmpdir(), 'confide-s3-'));
  let port = 0;
  let server: S3rver;
  const start = async () => {
    server = new S3rver({ address: '127.0.0.1', port, directory, silent: true, configureBuckets: [{ name: bucket }] });
    port = (await server.run()).port;
  };
  await start();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    directory,
    env: {
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: endpoint,
      CONFIDE_S3_FORCE_PATH_STYLE: 'true',
    },
    stop: async () => server.close(),
    start,
    close: async () => {
      await server.close().catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
