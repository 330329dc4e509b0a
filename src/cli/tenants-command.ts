import { createInterface } from 'node:readline/promises';
import { openUseCases } from '../app/use-cases.js';
import { AppError } from '../lib/app-error.js';
import { withServices } from './with-services.js';
import { hostOperator } from './host-operator.js';

/** Asks the person at the terminal to type the tenant id back; false when they do not. */
async function confirmedAtTerminal(tenantId: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`This destroys tenant ${tenantId}'s keys and removes its data for good. Type its id to confirm: `);
    return answer.trim() === tenantId;
  } finally {
    prompt.close();
  }
}

/**
 * `confide tenants delete --tenant ID`: the operator deletes a tenant by crypto-shredding, as its
 * owner would with DELETE /v1/tenant. It asks for the id to be typed back at a terminal; a script
 * passes `--yes`, and without either nothing is deleted.
 */
export async function tenantsDeleteCommand(options: { tenant: string; yes?: boolean; json?: boolean }): Promise<number> {
  if (!options.yes) {
    if (!process.stdin.isTTY) {
      process.stderr.write('confide: deleting a tenant cannot be undone: run it at a terminal to confirm, or pass --yes\n');
      return 1;
    }
    if (!(await confirmedAtTerminal(options.tenant))) {
      process.stderr.write('confide: not confirmed: nothing was deleted\n');
      return 1;
    }
  }
  const result = await withServices((services) => openUseCases(services).tenantDeletion.deleteAsOperator(options.tenant, hostOperator().name)).catch((error: unknown) => {
    if (error instanceof AppError && error.code === 'NOT_FOUND') throw new Error(`no tenant ${options.tenant}`);
    throw error instanceof AppError ? new Error(error.message) : error;
  });
  const how = result.shredded
    ? 'its key-encryption key is destroyed: its data cannot be read again, not even from a restored copy of the database'
    : 'NOT shredded: no tenant key store is configured (CONFIDE_TENANT_KEY_DIR), so a restored copy of the database plus the master key would still read its data';
  const checkpoint = result.finalCheckpoint ? `final checkpoint: seq ${result.finalCheckpoint.seq}, hash ${result.finalCheckpoint.hash}, key ${result.finalCheckpoint.keyId}, signature ${result.finalCheckpoint.signature}` : 'no final checkpoint (its log was empty, or its key already gone)';
  const text = [`deleted tenant ${result.tenantId} at ${result.deletedAt}; ${how}`, `accounts removed: ${result.usersRemoved}`, checkpoint].join('\n');
  process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `${text}\n`);
  return 0;
}
