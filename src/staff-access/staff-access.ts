import type { StaffAccessDeps } from './staff-access-deps.js';
import type { Records } from '../records/records.js';
import type { RecordFiles } from '../files/record-files.js';
import { GrantCheck } from './grant-check.js';
import { StaffDataAccess } from './staff-data-access.js';

/**
 * Staff access, built once in the wiring: the request and grant use cases (functions over
 * `services`, in request-access.ts, tenant-decisions.ts, break-glass.ts, …), the grant check every
 * staff data request passes, and staff data access through the customers' own record use cases.
 */
export class StaffAccess {
  readonly grantCheck: GrantCheck;
  readonly data: StaffDataAccess;

  constructor(
    readonly services: StaffAccessDeps,
    records: Records,
    files: RecordFiles,
  ) {
    this.grantCheck = new GrantCheck(services);
    this.data = new StaffDataAccess(records, services.securityEvents, files);
  }
}
