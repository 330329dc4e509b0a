import type { AccessLogQueriesDeps } from './audit-deps.js';
import { actorOf, type Caller } from '../core/principal.js';
import type { AccessLogEntry, ActorType } from './access-event.js';
import { decodeSeqCursor, encodeSeqCursor, LONGEST_SEQ_CURSOR } from './access-log-cursor.js';
import { readAccessLogPage } from './access-log-reader.js';
import { verifyAccessLog, type VerificationReport } from './verify-access-log.js';

export interface AccessLogListing {
  items: AccessLogEntry[];
  nextCursor: string | null;
}

/** The tenant's view of its own log. Reading or verifying it is itself an access, and is logged first. */
export class AccessLogQueries {
  constructor(private readonly services: AccessLogQueriesDeps) {}

  async list(caller: Caller, options: { limit: number; cursor?: string; actorType?: ActorType }): Promise<AccessLogListing> {
    const { db, keyRing, accessLog } = this.services;
    const tenantId = caller.principal.tenantId;
    const afterSeq = options.cursor === undefined ? 0 : decodeSeqCursor(options.cursor);
    const cipher = await keyRing.cipherFor(tenantId);
    await accessLog.appendDurably(tenantId, cipher, {
      actor: actorOf(caller.principal),
      action: 'read',
      resource: { type: 'accessLog' },
      ip: caller.ip,
    });
    const page = await readAccessLogPage(db, tenantId, cipher, {
      afterSeq,
      limit: options.limit,
      maxBytes: this.services.config.lists.maxBytes,
      longestCursor: LONGEST_SEQ_CURSOR,
      actorType: options.actorType,
    });
    return { items: page.items, nextCursor: page.nextSeq === null ? null : encodeSeqCursor(page.nextSeq) };
  }

  async verify(caller: Caller): Promise<VerificationReport> {
    const { db, keyRing, accessLog } = this.services;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    await accessLog.appendDurably(tenantId, cipher, {
      actor: actorOf(caller.principal),
      action: 'verify',
      resource: { type: 'accessLog' },
      ip: caller.ip,
    });
    return verifyAccessLog(db, tenantId, cipher);
  }
}
