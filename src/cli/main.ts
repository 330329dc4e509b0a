import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ConfigError } from '../config/load-config.js';
import { MasterKeyError } from '../keys/master-key-provider.js';
import { DatabaseKeyError } from '../keys/database-key.js';
import { UnsafePathError } from '../lib/private-path.js';
import { DeploymentMismatchError } from '../app/deployment-marker.js';
import { MissingDatabaseError } from '../db/missing-database-error.js';
import { describeVariables } from '../config/documented-variables.js';
import { exitAfterOutput } from './exit-after-output.js';

// Whatever Confide writes (database, WAL, certificate, outbox, key) is for its own user only.
// Each of those writes also sets mode 0600 itself; this covers any file a library creates.
process.umask(0o077);

/** EX_CONFIG (sysexits.h): the configuration, the key or a directory's permissions must be fixed. */
const EX_CONFIG = 78;
const isConfigurationProblem = (error: unknown) =>
  error instanceof ConfigError || error instanceof UnsafePathError || error instanceof MasterKeyError || error instanceof DatabaseKeyError || error instanceof MissingDatabaseError || error instanceof DeploymentMismatchError;

/** Failures end with one clear line per problem on stderr and a non-zero exit; never a stack trace. */
function fail(error: unknown): void {
  const lines = error instanceof ConfigError ? error.problems : [error instanceof Error ? error.message : String(error)];
  for (const line of lines) process.stderr.write(`confide: ${line}\n`);
  // Whatever the command printed before it failed reaches a pipe whole too.
  exitAfterOutput(isConfigurationProblem(error) ? EX_CONFIG : 1);
}

// Each command's module is imported only when it runs: they load Fastify, Kysely and the drivers,
// which `confide --help` and `--version` do not need (those stay well under a second).
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Gathers a repeatable option's values. */
const collect = (value: string, previous: string[]) => [...previous, value];

const program = new Command()
  .name('confide')
  .version(version, '-V, --version', 'print the version of Confide')
  .description('Confide: customer data encrypted at rest, every access logged. Configured by CONFIDE_* environment variables (docs/configuration.md).')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the public and admin HTTPS listeners')
  .addHelpText('after', `\nConfiguration (environment variables; docs/configuration.md says more):\n${describeVariables()}`)
  .action(() => import('./serve-command.js').then(({ serveCommand }) => serveCommand()).catch(fail));

const audit = program.command('audit').description('access-log tools');
audit
  .command('verify')
  .description('verify the hash chain of every tenant’s access log (or one tenant’s), and hold it against its latest signed checkpoint')
  .option('--tenant <id>', 'verify only this tenant')
  .option('--tenants-from <file>', 'verify only the tenants listed in this file, one id per line (- for stdin)')
  .option('--jobs <n>', 'verifier processes to run at once, at most 64 (whole tenants, and a long chain in segments): a number, or auto (every CPU, at most 8, once the chains hold 50,000 entries in all)', 'auto')
  .option('--json', 'print one JSON object')
  .addOption(new Option('--verifier-work <protocol>', 'internal: a verifier process of --jobs, its work on stdin').hideHelp())
  .action((options: { tenant?: string; tenantsFrom?: string; jobs?: string; json?: boolean; verifierWork?: string }) =>
    import('./audit-verify-command.js').then(({ auditVerifyCommand }) => auditVerifyCommand(options)).then(exitAfterOutput, fail),
  );
audit
  .command('verify-export')
  .description('verify an access-log export (GET /v1/access-log/export) offline: no database, no master key, only the public key')
  .argument('<file>', 'the NDJSON export')
  .requiredOption('--public-key <key>', 'a signing public key: PEM, base64 of the raw key, or a file holding either (repeat for keys rotated since)', collect, [])
  .option('--json', 'print one JSON object: {"ok","tenantId","entries","checkpoints","signedUpTo","problem"}')
  .addHelpText('after', '\nExit status: 0 the export verifies; 1 it does not (the first bad line is named); 2 the file or a key cannot be read.')
  .action((file: string, options: { publicKey: string[]; json?: boolean }) =>
    import('./audit-verify-export-command.js').then(({ auditVerifyExportCommand }) => auditVerifyExportCommand(file, options)).then(exitAfterOutput, fail),
  );
audit
  .command('public-keys')
  .description('print the Ed25519 public keys that sign access-log checkpoints (PEM), current and retired')
  .option('--json', 'print one JSON object: {"keys": [{"keyId","version","publicKeyPem","createdAt","retiredAt"}]}')
  .action((options: { json?: boolean }) =>
    import('./audit-signing-key-command.js').then(({ auditPublicKeysCommand }) => auditPublicKeysCommand(options)).then(exitAfterOutput, fail),
  );
audit
  .command('rotate-signing-key')
  .description('make a new checkpoint signing key; the old ones are retired and stay listed, so what they signed still verifies')
  .option('--json', 'print the new key as one JSON object')
  .action((options: { json?: boolean }) =>
    import('./audit-signing-key-command.js').then(({ auditRotateSigningKeyCommand }) => auditRotateSigningKeyCommand(options)).then(exitAfterOutput, fail),
  );

program
  .command('mail')
  .description('mail tools')
  .command('outbox')
  .description('print the messages written to the encrypted outbox folder (used when no SMTP server is configured), decoded: from, to, date, subject, text')
  .option('--json', 'print one JSON object: {"messages": [{"id","eml","from","to","subject","date","text","links"}], "problems": [{"file","problem"}]}')
  .addHelpText('after', '\nA file that cannot be read (damaged, or written by another deployment) is named on stderr, one line each,\nafter the readable messages are printed; the exit status is then 1 (0 when every file was read).')
  .action((options: { json?: boolean }) =>
    import('./mail-outbox-command.js').then(({ mailOutboxCommand }) => mailOutboxCommand(options)).then(exitAfterOutput, fail),
  );

program
  .command('events')
  .description('security events')
  .command('tail')
  .description('print the latest security events of every tenant, oldest first: time, type, outcome, actor, tenant, ip')
  .option('--follow', 'keep printing new events as they are stored, until interrupted (Ctrl-C)')
  .option('--json', 'print one JSON object per event: {"id","at","type","outcome","actor","ip","details","tenantId"}')
  .option('--limit <n>', 'how many of the latest events to print first (1-10000)', '20')
  .action((options: { follow?: boolean; json?: boolean; limit?: string }) =>
    import('./events-tail-command.js').then(({ eventsTailCommand }) => eventsTailCommand(options)).then(exitAfterOutput, fail),
  );

// Key commands share one `keys` group: others (master key rotation and migration, the inventory) add theirs to it.
const keys = program.command('keys').description('keys: data key rotation and re-encryption, status, the master key');
keys
  .command('rotate')
  .description('rotate data keys: the new version seals new values at once; the server re-encrypts older values in the background, then destroys the old version')
  .option('--tenant <id>', 'rotate this tenant’s key')
  .option('--all-tenants', 'rotate every tenant’s key')
  .option('--system', 'rotate the system key (users’ e-mail addresses, sessions, mail, security events, …)')
  .option('--wait', 're-encrypt here and return once done (a progress bar on a terminal), instead of leaving it to the running server')
  .option('--json', 'print one JSON object: {"rotations": [{"id","owner","toVersion","state","valuesTotal","valuesDone","percent",…}]}')
  .action((options: { tenant?: string; allTenants?: boolean; system?: boolean; wait?: boolean; json?: boolean }) =>
    import('./keys-command.js').then(({ keysRotateCommand }) => keysRotateCommand(options)).then(exitAfterOutput, fail),
  );
keys
  .command('status')
  .description('the crypto inventory: master key provider and fingerprint, blind-index and signing keys, tenant key store, TLS profile and certificate, every owner’s data key versions with the values each protects and what is due, and the re-encryption jobs running, with progress')
  .option('--json', 'print one JSON object: {"masterKey","blindIndexKey","signingKeys","tenantKeyStore","tls","dataKeys","owners": [{"owner","versions": [...],"ageDays","due","dueReasons","rotation"}], "running": [...]} (docs/keys.md, Inventory)')
  .action((options: { json?: boolean }) =>
    import('./keys-command.js').then(({ keysStatusCommand }) => keysStatusCommand(options)).then(exitAfterOutput, fail),
  );
keys
  .command('rotate-master')
  .description('replace the master key with a new one from the same provider (a new key file beside it, or a new key label on the token) and re-wrap every key under it; stop `confide serve` first (docs/keys.md)')
  .option('--json', 'print one JSON object: {"from","to","keys","settings"}')
  .action((options: { json?: boolean }) =>
    import('./keys-master-command.js').then(({ rotateMasterCommand }) => rotateMasterCommand(options)).then(exitAfterOutput, fail),
  );
keys
  .command('migrate-master')
  .description('move the master key to another provider: CONFIDE_MASTER_KEY_FILE (file) or the token of CONFIDE_PKCS11_* (pkcs11), re-wrapping every key; stop `confide serve` first (docs/keys.md)')
  .requiredOption('--to <provider>', 'file or pkcs11')
  .option('--json', 'print one JSON object: {"from","to","keys","settings"}')
  .action((options: { to: string; json?: boolean }) =>
    import('./keys-master-command.js').then(({ migrateMasterCommand }) => migrateMasterCommand(options)).then(exitAfterOutput, fail),
  );
keys
  .command('migrate-tenant-keys')
  .description('move tenants’ key-encryption keys to the other store: the master key’s HSM token (pkcs11) or CONFIDE_TENANT_KEY_DIR (file), re-wrapping their data keys and keeping deleted tenants deleted; stop `confide serve` first (docs/keys.md)')
  .requiredOption('--to <store>', 'pkcs11 or file')
  .option('--json', 'print one JSON object: {"from","to","target","tenants","keys","tombstones","settings"}')
  .action((options: { to: string; json?: boolean }) =>
    import('./keys-tenant-keys-command.js').then(({ migrateTenantKeysCommand }) => migrateTenantKeysCommand(options)).then(exitAfterOutput, fail),
  );

const backup = program.command('backup').description('encrypted backups at CONFIDE_BACKUP_TARGET: make, list, verify, restore (docs/backups.md)');
backup
  .command('create')
  .description('make a backup now (a server may be serving on the same data meanwhile)')
  .option('--json', 'print one JSON object: {"id","manifest"}')
  .action((options: { json?: boolean }) =>
    import('./backup-command.js').then(({ backupCreateCommand }) => backupCreateCommand(options)).then(exitAfterOutput, fail),
  );
backup
  .command('list')
  .description('list the backups at the target, oldest first: id, time, size, tenants, whether verified')
  .option('--json', 'print one JSON object: {"backups": [{"id","createdAt","bytes","tenants","verified","problem"?}]}')
  .action((options: { json?: boolean }) =>
    import('./backup-command.js').then(({ backupListCommand }) => backupListCommand(options)).then(exitAfterOutput, fail),
  );
backup
  .command('verify')
  .description('restore a backup (default the newest) into a scratch place and check it: archive integrity, integrity_check, access logs against their checkpoints, counts and checksums, sentinel, files')
  .option('--id <id>', 'the backup to verify')
  .option('--json', 'print one JSON object: {"id","ok","checks": [{"name","ok","detail"?}],"problems": [...]}')
  .addHelpText('after', '\nExit status: 0 the backup verifies; 1 it does not (the first problem is named on stderr).')
  .action((options: { id?: string; json?: boolean }) =>
    import('./backup-command.js').then(({ backupVerifyCommand }) => backupVerifyCommand(options)).then(exitAfterOutput, fail),
  );
backup
  .command('restore')
  .description('restore a backup into the configured data directory and database, which must be empty; then start with `confide serve`')
  .option('--latest', 'restore the newest backup')
  .option('--id <id>', 'restore this backup')
  .option('--force', 'empty the configured database, tenant key directory and file store first')
  .option('--json', 'print one JSON object: {"id","tables","rows","files","tenants": {"restored","deleted": [...]}}')
  .action((options: { id?: string; latest?: boolean; force?: boolean; json?: boolean }) =>
    import('./backup-command.js').then(({ backupRestoreCommand }) => backupRestoreCommand(options)).then(exitAfterOutput, fail),
  );

const tenants = program.command('tenants').description('tenants');
tenants
  .command('delete')
  .description("delete a tenant by crypto-shredding: its key-encryption key is destroyed, then its rows are removed (docs/keys.md)")
  .requiredOption('--tenant <id>', 'the tenant id')
  .option('--yes', 'do not ask to type the id back (for scripts)')
  .option('--json', 'print one JSON object: {"tenantId","deletedAt","shredded","finalCheckpoint","usersRemoved"}')
  .action((options: { tenant: string; yes?: boolean; json?: boolean }) =>
    import('./tenants-command.js').then(({ tenantsDeleteCommand }) => tenantsDeleteCommand(options)).then(exitAfterOutput, fail),
  );

const staff = program.command('staff').description('staff accounts (they sign in on the admin listener)');
staff
  .command('add')
  .description('add a staff member and print their single-use enrolment token (valid 24 h)')
  .requiredOption('--email <address>', 'their e-mail address')
  .requiredOption('--role <role>', 'support or security-admin')
  .option('--json', 'print one JSON object: {"id","email","role","enrolmentToken","expiresAt"}')
  .action((options: { email: string; role: string; json?: boolean }) =>
    import('./staff-command.js').then(({ staffAddCommand }) => staffAddCommand(options)).then(exitAfterOutput, fail),
  );
staff
  .command('list')
  .description('list staff members: id, role, state (enrolment pending, active, disabled), e-mail')
  .option('--json', 'print one JSON object: {"staff": [{"id","email","role","createdAt","enrolledAt","disabledAt"}]}')
  .action((options: { json?: boolean }) =>
    import('./staff-command.js').then(({ staffListCommand }) => staffListCommand(options)).then(exitAfterOutput, fail),
  );
staff
  .command('disable')
  .description('disable a staff member: their sessions and grants end at once, their pending requests are denied')
  .requiredOption('--email <address>', 'their e-mail address')
  .option('--json', 'print the disabled staff member as one JSON object')
  .action((options: { email: string; json?: boolean }) =>
    import('./staff-command.js').then(({ staffDisableCommand }) => staffDisableCommand(options)).then(exitAfterOutput, fail),
  );

program.parseAsync(process.argv).catch(fail);
