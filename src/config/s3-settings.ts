/**
 * How Confide reaches S3 (config.s3), from the usual AWS variables, read here so that nothing
 * outside src/config reads the environment: AWS_REGION (or AWS_DEFAULT_REGION), AWS_ENDPOINT_URL_S3
 * (or AWS_ENDPOINT_URL) for an S3-compatible server, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN; plus CONFIDE_S3_FORCE_PATH_STYLE. Without a key pair the SDK's default chain
 * applies (shared profile files, container or instance roles).
 */
export interface S3Settings {
  region?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** `https://host/bucket/key` rather than `https://bucket.host/key`: for servers without virtual-host buckets. */
  forcePathStyle: boolean;
}

export function s3Settings(env: Record<string, string | undefined>, forcePathStyle: boolean): S3Settings {
  const value = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const region = value('AWS_REGION') ?? value('AWS_DEFAULT_REGION');
  const endpoint = value('AWS_ENDPOINT_URL_S3') ?? value('AWS_ENDPOINT_URL');
  const accessKeyId = value('AWS_ACCESS_KEY_ID');
  const secretAccessKey = value('AWS_SECRET_ACCESS_KEY');
  const sessionToken = value('AWS_SESSION_TOKEN');
  return {
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } } : {}),
    forcePathStyle,
  };
}
