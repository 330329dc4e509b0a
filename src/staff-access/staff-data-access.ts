import { actorOf, type GrantedStaffPrincipal } from '../core/principal.js';
import type { SecurityEventSink } from '../core/security-events.js';
import type { CollectionSummary } from '../records/collection-summary-repository.js';
import type { RecordData } from '../records/record.js';
import type { RecordPageJson, Records } from '../records/records.js';
import type { FileAddress, FileDownload, RecordFiles } from '../files/record-files.js';

/** A staff member acting under a grant checked for this very request (GrantCheck), from `ip`. */
export interface StaffDataCaller {
  principal: GrantedStaffPrincipal;
  ip: string;
}

/** What a `staff.grant.used` event says was done. */
interface Use {
  action: 'list' | 'read' | 'update' | 'delete' | 'download';
  /** As in the access log: the tenant's `collections` (metadata), one `collection` (a page), one `record`, or a record's `file`. */
  resource: 'collections' | 'collection' | 'record' | 'file';
  collection?: string;
  id?: string;
  /**
   * Customer records the request returned or changed: a list page's length, 1 for a record, 0 for
   * metadata (names and counts only). The `staff-bulk-reading` rule sums these, so a page of 200
   * counts as 200 reads, not one request.
   */
  records: number;
}

/**
 * Staff data access by grant. There is one path to customer data: these call the same record use
 * cases as the public API (same repository, same cipher, same access-log entry written first, now
 * naming the staff member, the grant and its justification). Each access that succeeds is also a
 * `staff.grant.used` security event, filed under the tenant.
 */
export class StaffDataAccess {
  constructor(
    private readonly records: Records,
    private readonly securityEvents: SecurityEventSink,
    private readonly files: RecordFiles,
  ) {}

  async collections(caller: StaffDataCaller, options: { limit: number; cursor?: string }): Promise<{ items: CollectionSummary[]; nextCursor: string | null }> {
    const page = await this.records.collections(caller, options);
    this.used(caller, { action: 'list', resource: 'collections', records: 0 });
    return page;
  }

  async list(caller: StaffDataCaller, collection: string, options: { limit: number; cursor?: string }): Promise<RecordPageJson> {
    const page = await this.records.list(caller, collection, options);
    this.used(caller, { action: 'list', resource: 'collection', collection, records: page.ids.length });
    return page;
  }

  async read(caller: StaffDataCaller, collection: string, id: string) {
    const record = await this.records.read(caller, collection, id);
    this.used(caller, { action: 'read', resource: 'record', collection, id, records: 1 });
    return record;
  }

  async update(caller: StaffDataCaller, collection: string, id: string, data: RecordData, expectedVersion?: number) {
    const record = await this.records.update(caller, collection, id, data, expectedVersion);
    this.used(caller, { action: 'update', resource: 'record', collection, id, records: 1 });
    return record;
  }

  async delete(caller: StaffDataCaller, collection: string, id: string): Promise<void> {
    await this.records.delete(caller, collection, id);
    this.used(caller, { action: 'delete', resource: 'record', collection, id, records: 1 });
  }

  /** A record's file, streamed; the `download` entry (naming the grant) is committed before the first byte. */
  async download(caller: StaffDataCaller, address: FileAddress): Promise<FileDownload> {
    const file = await this.files.download(caller, address);
    this.used(caller, { action: 'download', resource: 'file', collection: address.collection, id: address.recordId, records: 1 });
    return file;
  }

  private used({ principal, ip }: StaffDataCaller, use: Use): void {
    this.securityEvents.record({
      type: 'staff.grant.used',
      outcome: 'success',
      actor: actorOf(principal),
      tenantId: principal.tenantId,
      ip,
      records: use.records,
      details: { grantId: principal.grant.id, scope: principal.grant.scope, justification: principal.grant.justification, ...use },
    });
  }
}
