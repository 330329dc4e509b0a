import { resolve } from 'node:path';
import { adminListenProblem, clientCaProblem } from './admin-listener-problems.js';
import type { Config } from './config.js';
import { ConfigProblem } from './parsers.js';
import { masterKeyConfig, masterKeyProblems } from './master-key-config.js';
import { s3Settings } from './s3-settings.js';
import { VARIABLES, type Variable, type VariableKey, type VariableValues } from './variables.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Variables that are gone: set, they stop the start with what to set instead, rather than being silently ignored. */
const REMOVED: Record<string, string> = {
  CONFIDE_SIGNIN_LOCK_SECONDS: 'is no longer read: set CONFIDE_SIGNIN_DELAY_SECONDS (the first wait, doubling) instead',
};

/**
 * Reads every variable of the table (src/config/variables.ts) in order: the value, or its default
 * (a literal, or derived from those read before it), parsed; each refusal becomes one problem
 * line naming the variable.
 */
function readVariables(env: Env, problems: string[]): VariableValues {
  const read = new Map<string, unknown>();
  const values = {} as Record<VariableKey, unknown>;
  for (const [key, spec] of Object.entries(VARIABLES) as Array<[VariableKey, Variable]>) {
    const raw = env[spec.name];
    const value = raw === undefined || raw === '' ? (spec.derived ? spec.derived(read) : spec.default) : raw;
    if (value === undefined) continue;
    try {
      values[key] = spec.parse(value);
      read.set(spec.name, values[key]);
    } catch (error) {
      if (!(error instanceof ConfigProblem)) throw error;
      problems.push(`${spec.name} ${error.message}`);
    }
  }
  return values as VariableValues;
}

/**
 * Parses the environment into a frozen Config. Every problem is collected, so an operator sees
 * all of them in one go, one line per problem, each naming its variable.
 * This is the only place in Confide that reads environment variables.
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Readonly<Config> {
  const problems: string[] = [];
  const v = readVariables(env, problems);
  for (const [name, why] of Object.entries(REMOVED)) if (env[name] !== undefined) problems.push(`${name} ${why}`);

  const dataDir = resolve(cwd, v.dataDir!);
  const masterKeyFile = resolve(cwd, v.masterKeyFile!);
  problems.push(...inconsistencies(v, dataDir, masterKeyFile, cwd), ...masterKeyProblems(v));

  if (problems.length > 0) throw new ConfigError(problems);

  const config: Config = {
    dataDir,
    ...masterKeyConfig(v, masterKeyFile, cwd), tenantKeyStore: v.tenantKeyStore!, tenantKeyDir: v.tenantKeyDir === undefined ? null : resolve(cwd, v.tenantKeyDir),
    dataCipher: v.dataCipher!,
    database:
      v.databaseUrl !== undefined
        ? { kind: 'postgres', url: v.databaseUrl, preparedStatements: v.databasePreparedStatements! }
        : { kind: 'sqlite', file: resolve(dataDir, 'confide.db') },
    publicListen: v.publicListen!,
    adminListen: v.adminListen!,
    admin: { allowPublic: v.adminAllowPublic!, clientCaFile: v.adminClientCa === undefined ? null : resolve(cwd, v.adminClientCa) },
    metrics: { token: v.metricsToken ?? null },
    tls: {
      certFile: v.tlsCertFile === undefined ? null : resolve(cwd, v.tlsCertFile),
      keyFile: v.tlsKeyFile === undefined ? null : resolve(cwd, v.tlsKeyFile),
      profile: v.tlsProfile!,
    },
    logLevel: v.logLevel!, logFormat: v.logFormat!,
    http: { bodyLimitBytes: v.bodyLimitBytes!, headersTimeoutMs: 10_000, requestTimeoutMs: v.requestTimeoutSeconds! * 1000, uploadStallMs: v.uploadStallSeconds! * 1000, maxConnectionsPerIp: v.maxConnectionsPerIp!, maxConnections: v.maxConnections! },
    backup: backupConfig(v, cwd), lists: { maxBytes: v.listMaxBytes! }, files: { maxBytes: v.fileMaxBytes!, perRecord: v.filesPerRecord!, store: v.blobStore as Config['files']['store'] },
    s3: s3Settings(env, v.s3ForcePathStyle!),
    passwords: { minLength: v.passwordMinLength! },
    sessions: { absoluteSeconds: v.sessionAbsoluteSeconds!, idleSeconds: v.sessionIdleSeconds! },
    publicUrl: v.publicUrl!,
    webauthn: { rpId: v.webauthnRpId!, origin: new URL(v.publicUrl!).origin },
    mail: { smtpUrl: v.smtpUrl ?? null, from: v.mailFrom!, retryBaseSeconds: v.mailRetryBaseSeconds! },
    limits: {
      signUpsPerIpPerHour: v.signUpsPerIpPerHour!,
      sessionsPerUser: v.sessionsPerUser!,
      apiKeysPerTenant: v.apiKeysPerTenant!,
      collectionsPerTenant: v.collectionsPerTenant!,
      invitationsPerTenantPerHour: v.invitationsPerTenantPerHour!,
      pendingInvitationsPerTenant: v.pendingInvitationsPerTenant!,
    },
    securityEvents: { retentionDays: v.securityEventRetentionDays! },
    checkpoints: { entries: v.checkpointEntries!, seconds: v.checkpointSeconds! },
    keyRotation: { rotationDays: v.keyRotationDays ?? null, maxAgeDays: v.keyMaxAgeDays ?? null, reencryptBatch: v.reencryptBatch!, reencryptPauseMs: v.reencryptPauseMs! },
    rateLimits: rateLimitsOf(v), trustedProxies: v.trustedProxies ?? [], adminTrustedProxies: v.adminTrustedProxies ?? [],
    ...deliveryConfig(v),
    signInThrottle: {
      pairMaxFailures: v.signInPairMaxFailures!,
      sourceMaxFailures: v.signInSourceMaxFailures!,
      windowSeconds: v.signInWindowSeconds!,
      firstDelaySeconds: v.signInFirstDelaySeconds!,
      maxDelaySeconds: v.signInMaxDelaySeconds!,
      accountSlowAfter: v.signInAccountSlowAfter!,
      accountMaxFailures: v.signInAccountMaxFailures!,
      knownSourceDays: v.signInKnownSourceDays!,
    },
  };
  return deepFreeze(config);
}

/** Backups: a folder target is made absolute against the working directory, as the data directory is. */
function backupConfig(v: VariableValues, cwd: string): Config['backup'] {
  const target = v.backupTarget === undefined ? null : v.backupTarget.startsWith('s3://') ? v.backupTarget : resolve(cwd, v.backupTarget);
  return { target, intervalSeconds: v.backupInterval ?? null, retentionSeconds: v.backupRetention! };
}

/** What leaves the host: alert e-mail and webhook, syslog forwarding (inconsistencies() has refused a webhook URL without its secret). */
function deliveryConfig(v: VariableValues): Pick<Config, 'alerts' | 'syslog'> {
  const webhook = v.alertWebhookUrl !== undefined && v.alertWebhookSecret !== undefined ? { url: v.alertWebhookUrl, secret: v.alertWebhookSecret } : null;
  return { alerts: { emails: v.alertEmails ?? [], webhook }, syslog: { target: v.syslogUrl ?? null, bufferLines: v.syslogBufferLines! } };
}

function rateLimitsOf(v: VariableValues): Config['rateLimits'] {
  return {
    enabled: v.rateLimits! === 'on',
    perIp: v.rateLimitPerIp!,
    perIpv6Network: v.rateLimitPerIpv6Network!,
    perAccount: v.rateLimitPerAccount!,
    perApiKey: v.rateLimitPerApiKey!,
    perTenant: v.rateLimitPerTenant!,
    signInsPerIp: v.signInsPerIpPerMinute!,
    passwordResetsPerIp: v.passwordResetsPerIpPerMinute!,
    invitationSendsPerIp: v.invitationSendsPerIpPerMinute!,
    redisUrl: v.redisUrl ?? null,
  };
}

/** Problems no single variable shows: combinations that cannot work together. */
function inconsistencies(v: VariableValues, dataDir: string, masterKeyFile: string, cwd: string): string[] {
  const problems: string[] = [];
  // Checked here, not in the variables' parsers, because each needs two variables or the file system.
  const adminListen = v.adminListen === undefined ? undefined : adminListenProblem(v.adminListen.host, v.adminAllowPublic ?? false);
  if (adminListen) problems.push(adminListen);
  const clientCa = v.adminClientCa === undefined ? undefined : clientCaProblem(resolve(cwd, v.adminClientCa));
  if (clientCa) problems.push(clientCa);
  if (v.masterKey === undefined && isInside(masterKeyFile, dataDir)) {
    // Keys kept beside the data they protect would be stolen together with it.
    problems.push('CONFIDE_MASTER_KEY_FILE must not be inside CONFIDE_DATA_DIR');
  }
  // A tenant's key kept in the data directory would come back with every restored copy of it: deletion would shred nothing.
  if (v.tenantKeyDir !== undefined && isInside(resolve(cwd, v.tenantKeyDir), dataDir)) problems.push('CONFIDE_TENANT_KEY_DIR must not be inside CONFIDE_DATA_DIR');
  // The HSM store keeps tenants' keys on the master key's token, reached with the master key's own settings.
  if (v.tenantKeyStore === 'pkcs11' && v.keyProvider !== 'pkcs11') problems.push('CONFIDE_TENANT_KEY_STORE=pkcs11 requires CONFIDE_KEY_PROVIDER=pkcs11: tenant keys live on the master key’s HSM token');
  if ((v.tlsCertFile === undefined) !== (v.tlsKeyFile === undefined)) {
    problems.push('CONFIDE_TLS_CERT_FILE and CONFIDE_TLS_KEY_FILE must be set together');
  }
  // An unsigned webhook could be forged by anyone who finds the receiver; a secret alone signs nothing.
  if (v.alertWebhookUrl !== undefined && v.alertWebhookSecret === undefined) problems.push('CONFIDE_ALERT_WEBHOOK_SECRET must be set with CONFIDE_ALERT_WEBHOOK_URL');
  if (v.alertWebhookSecret !== undefined && v.alertWebhookUrl === undefined) problems.push('CONFIDE_ALERT_WEBHOOK_URL must be set with CONFIDE_ALERT_WEBHOOK_SECRET');
  if (v.signInFirstDelaySeconds !== undefined && v.signInMaxDelaySeconds !== undefined && v.signInMaxDelaySeconds < v.signInFirstDelaySeconds) {
    problems.push('CONFIDE_SIGNIN_MAX_DELAY_SECONDS must be at least CONFIDE_SIGNIN_DELAY_SECONDS');
  }
  if (v.signInAccountSlowAfter !== undefined && v.signInAccountMaxFailures !== undefined && v.signInAccountSlowAfter > v.signInAccountMaxFailures) {
    problems.push('CONFIDE_SIGNIN_ACCOUNT_SLOW_AFTER must not exceed CONFIDE_SIGNIN_ACCOUNT_MAX_FAILURES');
  }
  return problems;
}

function isInside(file: string, dir: string): boolean {
  return file.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
