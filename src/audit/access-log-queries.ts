import type { AccessLogQueriesDeps } from './audit-deps.js';
import { actorOf, type Caller } from '../core/principal.js';
import type { AccessLogEntry, ActorType } from './access-event.js';
import { decodeSeqCursor, encodeSeqCursor, LONGEST_SEQ_CURSOR } from './access-log-cursor.js';
import { accessLogExportLines } from './access-log-export.js';
import { readAccessLogPage } from './access-log-reader.js';
import type { Checkpoint } from './checkpoint-signature.js';
import { verifyAccessLog, type VerificationReport } from './verify-access-log.js';
import type { SigningPublicKey } from '../keys/signing-keys.js';

export interface AccessLogListing {
  items: AccessLogEntry[];
  nextCursor: string | null;
}

export interface CheckpointListing {
  items: Checkpoint[];
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
    const anchor = { checkpoint: await this.services.checkpoints.latest(tenantId), publicKeys: await this.services.signingKeys.authenticPublicKeys() };
    return verifyAccessLog(db, tenantId, cipher, anchor);
  }

  /** The tenant's signed checkpoints, oldest first (reading them is logged, as reading the log is). */
  async checkpoints(caller: Caller, options: { limit: number; cursor?: string }): Promise<CheckpointListing> {
    const tenantId = caller.principal.tenantId;
    const afterSeq = options.cursor === undefined ? 0 : decodeSeqCursor(options.cursor);
    await this.logAccess(caller, 'read', 'accessLogCheckpoints');
    const items = await this.services.checkpoints.list(tenantId, afterSeq, options.limit + 1);
    const more = items.length > options.limit;
    const page = more ? items.slice(0, options.limit) : items;
    return { items: page, nextCursor: more ? encodeSeqCursor(page[page.length - 1]!.seq) : null };
  }

  /**
   * The whole log with its checkpoints, as NDJSON lines (access-log-export.ts). The export is
   * logged first, and the head, that entry included, is signed before the first line is read,
   * so the export ends with a checkpoint of everything it holds.
   */
  async export(caller: Caller): Promise<AsyncGenerator<string>> {
    const { db, keyRing, checkpoints } = this.services;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    await this.logAccess(caller, 'export', 'accessLog');
    const last = await checkpoints.checkpointNow(tenantId);
    if (!last) throw new Error('the export entry was not appended'); // cannot happen: it was just logged
    return accessLogExportLines(db, tenantId, cipher, checkpoints, last, this.services.clock.now().toISOString());
  }

  /** Every key that signed or signs checkpoints (public: nothing here is logged). */
  publicKeys(): Promise<SigningPublicKey[]> {
    return this.services.signingKeys.publicKeys();
  }

  private async logAccess(caller: Caller, action: 'read' | 'export', resourceType: string): Promise<void> {
    const tenantId = caller.principal.tenantId;
    const cipher = await this.services.keyRing.cipherFor(tenantId);
    await this.services.accessLog.appendDurably(tenantId, cipher, { actor: actorOf(caller.principal), action, resource: { type: resourceType }, ip: caller.ip });
  }
}
