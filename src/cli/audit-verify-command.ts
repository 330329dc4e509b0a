import { withServices } from './with-services.js';
import { verifyAccessLog, type VerificationReport } from '../audit/verify-access-log.js';
import { listTenantIds, tenantExists } from '../tenants/tenant-repository.js';

export interface AuditVerifyOptions {
  tenant?: string;
  json?: boolean;
}

/**
 * Verifies the access-log chain of one tenant or of every tenant, straight from the database, and
 * holds each against its latest signed checkpoint, with only the signing keys whose private half
 * this master key unwraps (a key pair an intruder inserted signs nothing here). Exits non-zero when
 * any chain is broken, naming the first bad entry, or what the checkpoint shows (a cut tail).
 */
export async function auditVerifyCommand(options: AuditVerifyOptions): Promise<number> {
  return withServices(async (services) => {
    const tenantIds = options.tenant ? [options.tenant] : await listTenantIds(services.db);
    if (options.tenant && !(await tenantExists(services.db, options.tenant))) throw new Error(`no tenant ${options.tenant}`);
    const results: Array<{ tenantId: string } & VerificationReport> = [];
    const publicKeys = await services.signingKeys.authenticPublicKeys();
    for (const tenantId of tenantIds) {
      const anchor = { checkpoint: await services.checkpoints.latest(tenantId), publicKeys };
      const report = await verifyAccessLog(services.db, tenantId, await services.keyRing.cipherFor(tenantId), anchor);
      results.push({ tenantId, ...report });
    }
    const ok = results.every((result) => result.ok);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ ok, tenants: results })}\n`);
    } else {
      for (const result of results) {
        const status = result.ok ? 'ok' : `BROKEN at entry ${result.firstBadSeq}`;
        const signed = result.checkpoint ? `signed up to ${result.checkpoint.seq}` : 'no checkpoint yet';
        process.stdout.write(`${result.tenantId}  ${result.entries} entries  ${signed}  ${status}\n`);
        for (const problem of result.problems) process.stdout.write(`  seq ${problem.seq}: ${problem.message}\n`);
      }
      process.stdout.write(ok ? `all ${results.length} access logs verify\n` : 'access log verification FAILED\n');
    }
    return ok ? 0 : 1;
  });
}
