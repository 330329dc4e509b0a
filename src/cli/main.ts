import { Command } from 'commander';
import { ConfigError } from '../config/load-config.js';
import { MasterKeyError } from '../keys/master-key-provider.js';
import { UnsafePathError } from '../lib/private-path.js';
import { serveCommand } from './serve-command.js';
import { auditVerifyCommand } from './audit-verify-command.js';
import { mailOutboxCommand } from './mail-outbox-command.js';

// Whatever Confide writes (database, WAL, certificate, outbox, key) is for its own user only.
// Each of those writes also sets mode 0600 itself; this covers any file a library creates.
process.umask(0o077);

/** EX_CONFIG (sysexits.h): the configuration, the key or a directory's permissions must be fixed. */
const EX_CONFIG = 78;
const isConfigurationProblem = (error: unknown) =>
  error instanceof ConfigError || error instanceof UnsafePathError || error instanceof MasterKeyError;

/** Failures end with one clear line per problem on stderr and a non-zero exit; never a stack trace. */
function fail(error: unknown): never {
  const lines = error instanceof ConfigError ? error.problems : [error instanceof Error ? error.message : String(error)];
  for (const line of lines) process.stderr.write(`confide: ${line}\n`);
  process.exit(isConfigurationProblem(error) ? EX_CONFIG : 1);
}

const program = new Command()
  .name('confide')
  .description('Confide: customer data encrypted at rest, every access logged. Configured by CONFIDE_* environment variables (docs/configuration.md).')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the public HTTPS listener')
  .action(() => serveCommand().catch(fail));

program
  .command('audit')
  .description('access-log tools')
  .command('verify')
  .description('verify the hash chain of every tenant’s access log (or one tenant’s)')
  .option('--tenant <id>', 'verify only this tenant')
  .option('--json', 'print one JSON object')
  .action((options: { tenant?: string; json?: boolean }) =>
    auditVerifyCommand(options).then((code) => process.exit(code), fail),
  );

program
  .command('mail')
  .description('mail tools')
  .command('outbox')
  .description('print the messages written to the encrypted outbox folder (used when no SMTP server is configured)')
  .option('--json', 'print one JSON object')
  .action((options: { json?: boolean }) => mailOutboxCommand(options).catch(fail));

program.parseAsync(process.argv).catch(fail);
