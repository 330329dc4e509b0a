import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/** The TLS certificate a node's listeners serve, as the wiring read it (never its key). */
export interface ServedCertificate {
  /** SHA-256 of the DER, colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string;
  expiresAt: Date;
  /** Which listeners serve it (`public, admin`). */
  listener: string;
}

/** A certificate some live node serves, with the nodes serving it. */
export interface LiveCertificate {
  fingerprint: string;
  expiresAt: Date;
  nodes: string[];
}

/**
 * A node that has not refreshed its row for this long has left (it died: one that stops deletes its
 * row). Nodes refresh at every monitor tick (once a minute), so this is 60 missed ticks: long enough
 * for a slow run or a database hiccup, short enough that a crashed node's old certificate (renewed
 * on restart under a new node id) does not hold an alert open for long.
 */
export const NODE_CERTIFICATE_STALE_SECONDS = 3600;
/** Rows this old are deleted by any node as it refreshes its own: the table stays one row per node. */
const FORGET_AFTER_SECONDS = 7 * 86_400;

const before = (now: Date, seconds: number) => new Date(now.getTime() - seconds * 1000).toISOString();

/** This node serves `certificate` now: its row is written or refreshed, and long-gone nodes' rows are dropped. */
export async function recordNodeCertificate(db: Kysely<DB>, nodeId: string, certificate: ServedCertificate, now: Date): Promise<void> {
  const row = { listener: certificate.listener, fingerprint: certificate.fingerprint, expires_at: certificate.expiresAt.toISOString(), seen_at: now.toISOString() };
  await db
    .insertInto('node_certificates')
    .values({ node_id: nodeId, ...row })
    .onConflict((conflict) => conflict.column('node_id').doUpdateSet(row))
    .execute();
  await db.deleteFrom('node_certificates').where('seen_at', '<', before(now, FORGET_AFTER_SECONDS)).execute();
}

/** This node stops serving: its certificate no longer counts. */
export async function forgetNodeCertificate(db: Kysely<DB>, nodeId: string): Promise<void> {
  await db.deleteFrom('node_certificates').where('node_id', '=', nodeId).execute();
}

/** Every distinct certificate served by a node seen within NODE_CERTIFICATE_STALE_SECONDS, soonest expiry first. */
export async function liveCertificates(db: Kysely<DB>, now: Date): Promise<LiveCertificate[]> {
  const rows = await db
    .selectFrom('node_certificates')
    .select(['node_id', 'fingerprint', 'expires_at'])
    .where('seen_at', '>=', before(now, NODE_CERTIFICATE_STALE_SECONDS))
    .orderBy('expires_at')
    .orderBy('node_id')
    .execute();
  const byFingerprint = new Map<string, LiveCertificate>();
  for (const row of rows) {
    const known = byFingerprint.get(row.fingerprint);
    if (known) known.nodes.push(row.node_id);
    else byFingerprint.set(row.fingerprint, { fingerprint: row.fingerprint, expiresAt: new Date(row.expires_at), nodes: [row.node_id] });
  }
  return [...byFingerprint.values()];
}

/** The short form alerts name a certificate by: its fingerprint's first 8 bytes (`AB:CD:…`, 23 characters). */
export function shortFingerprint(fingerprint: string): string {
  return fingerprint.slice(0, 23);
}
