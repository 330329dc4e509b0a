import { sql, type Kysely, type Selectable } from 'kysely';
import type { AccessLogCheckpointsTable } from '../db/checkpoint-schema.js';
import type { DB } from '../db/schema.js';
import type { Clock } from '../lib/time.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import { signCheckpoint, type Checkpoint } from './checkpoint-signature.js';
import { readChainHead } from './access-log.js';

/** When a tenant's head is signed: once `entries` entries wait unsigned, or the oldest has waited `seconds`. */
export interface CheckpointPolicy {
  entries: number;
  seconds: number;
}

const TENANTS_PER_PAGE = 500;

/**
 * Signs tenants' chain heads and keeps the checkpoints. Signing happens outside the appends'
 * transactions (a background pass, `runOnce`, or `checkpointNow` at a moment that must be sealed,
 * such as an export or a tenant's deletion), so it never slows an access. A checkpoint is inserted
 * once per (tenant, seq): nodes that sign the same head at once store one, and need no lease.
 */
export class AccessLogCheckpoints {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly signingKeys: SigningKeys,
    private readonly clock: Clock,
    readonly policy: CheckpointPolicy,
  ) {}

  /** Signs the tenant's head now (unless it is already signed); null while its log is empty. */
  async checkpointNow(tenantId: string): Promise<Checkpoint | null> {
    const head = await readChainHead(this.db, tenantId);
    if (!head || head.seq === 0) return null;
    return this.sign(tenantId, head.seq, head.hash);
  }

  /** Signs the head of every tenant that is due under the policy; returns how many were signed. */
  async runOnce(now: Date = this.clock.now()): Promise<number> {
    let signed = 0;
    let after = '';
    for (;;) {
      const heads = await this.unsignedHeads(after);
      for (const head of heads) {
        if (await this.isDue(head, now)) {
          await this.sign(head.tenantId, head.seq, head.hash);
          signed += 1;
        }
      }
      if (heads.length < TENANTS_PER_PAGE) return signed;
      after = heads[heads.length - 1]!.tenantId;
    }
  }

  async latest(tenantId: string): Promise<Checkpoint | null> {
    const row = await this.db.selectFrom('access_log_checkpoints').selectAll().where('tenant_id', '=', tenantId).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return row ? toCheckpoint(row) : null;
  }

  /** The tenant's checkpoints in chain order, after `afterSeq`, at most `limit`. */
  async list(tenantId: string, afterSeq: number, limit: number): Promise<Checkpoint[]> {
    const rows = await this.db
      .selectFrom('access_log_checkpoints')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('seq', '>', afterSeq)
      .orderBy('seq', 'asc')
      .limit(limit)
      .execute();
    return rows.map(toCheckpoint);
  }

  /** Tenants whose head is past their latest checkpoint (a page, by tenant id). */
  private async unsignedHeads(after: string): Promise<Array<{ tenantId: string; seq: number; hash: string; signedSeq: number }>> {
    const signedSeq = sql<number>`coalesce((select max(c.seq) from access_log_checkpoints c where c.tenant_id = h.tenant_id), 0)`;
    const rows = await this.db
      .selectFrom('access_log_heads as h')
      .select(['h.tenant_id', 'h.seq', 'h.hash', signedSeq.as('signed_seq')])
      .where('h.tenant_id', '>', after)
      .where('h.seq', '>', signedSeq)
      .orderBy('h.tenant_id')
      .limit(TENANTS_PER_PAGE)
      .execute();
    return rows.map((row) => ({ tenantId: row.tenant_id, seq: Number(row.seq), hash: row.hash, signedSeq: Number(row.signed_seq) }));
  }

  /** Due when `entries` wait unsigned, or the first unsigned entry is `seconds` old. */
  private async isDue(head: { tenantId: string; seq: number; signedSeq: number }, now: Date): Promise<boolean> {
    if (head.seq - head.signedSeq >= this.policy.entries) return true;
    const first = await this.db
      .selectFrom('access_log')
      .select('at')
      .where('tenant_id', '=', head.tenantId)
      .where('seq', '>', head.signedSeq)
      .orderBy('seq', 'asc')
      .limit(1)
      .executeTakeFirst();
    return !first || now.getTime() - Date.parse(first.at) >= this.policy.seconds * 1000;
  }

  private async sign(tenantId: string, seq: number, hash: string): Promise<Checkpoint> {
    const signer = await this.signingKeys.current();
    const checkpoint = signCheckpoint(signer.privateKey, { tenantId, seq, hash, at: this.clock.now().toISOString(), keyId: signer.keyId });
    await this.db
      .insertInto('access_log_checkpoints')
      .values({ tenant_id: tenantId, seq, hash, at: checkpoint.at, key_id: checkpoint.keyId, signature: checkpoint.signature })
      .onConflict((oc) => oc.columns(['tenant_id', 'seq']).doNothing())
      .execute();
    // Another node may have signed this head first: the stored checkpoint is the one to report.
    const stored = await this.db.selectFrom('access_log_checkpoints').selectAll().where('tenant_id', '=', tenantId).where('seq', '=', seq).executeTakeFirstOrThrow();
    return toCheckpoint(stored);
  }
}

function toCheckpoint(row: Selectable<AccessLogCheckpointsTable>): Checkpoint {
  return { tenantId: row.tenant_id, seq: Number(row.seq), hash: row.hash, at: row.at, keyId: row.key_id, signature: row.signature };
}
