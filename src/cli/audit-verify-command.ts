import { withServices } from './with-services.js';
import { verifyAccessLog, type VerificationReport } from '../audit/verify-access-log.js';
import { listTenantIds, tenantExists } from '../tenants/tenant-repository.js';

export interface AuditVerifyOptions {
  tenant?: string;
  json?: boolean;
}

/**
 * Verifies the access-log chain of one tenant or of every tenant, straight from the database.
 * Exits non-zero when any chain is broken, naming the first bad entry.
 */
export async function auditVerifyCommand(options: AuditVerifyOptions): Promise<number> {
  return withServices(async (services) => {
    const tenantIds = options.tenant ? [options.tenant] : await listTenantIds(services.db);
    if (options.tenant && !(await tenantExists(services.db, options.tenant))) throw new Error(`no tenant ${options.tenant}`);
    const results: Array<{ tenantId: string } & VerificationReport> = [];
    for (const tenantId of tenantIds) {
      const report = await verifyAccessLog(services.db, tenantId, await services.keyRing.cipherFor(tenantId));
      results.push({ tenantId, ...report });
    }
    const ok = results.every((result) => result.ok);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ ok, tenants: results })}\n`);
    } else {
      for (const result of results) {
        const status = result.ok ? 'ok' : `BROKEN at entry ${result.firstBadSeq}`;
        process.stdout.write(`${result.tenantId}  ${result.entries} entries  ${status}\n`);
        for (const problem of result.problems) process.stdout.write(`  seq ${problem.seq}: ${problem.message}\n`);
      }
      process.stdout.write(ok ? `all ${results.length} access logs verify\n` : 'access log verification FAILED\n');
    }
    return ok ? 0 : 1;
  });
}
