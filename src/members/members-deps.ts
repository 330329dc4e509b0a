import type { Config } from '../config/config.js';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Clock } from '../lib/time.js';
import type { SecurityEventSink } from '../core/security-events.js';
import type { MailingUseCaseDeps } from '../identity/identity-deps.js';

// Each use case names the few services it uses; app/ builds them once and hands each its share.

/** What listing, re-roling and removing members needs. */
export interface MembersDeps {
  config: Readonly<Config>;
  db: Kysely<DB>;
  /** Runs a unit of work in a durable transaction. */
  transactions: TransactionRunner;
  keyRing: KeyRing;
  clock: Clock;
  securityEvents: SecurityEventSink;
}

/** What inviting and accepting an invitation needs (the invitation goes out by mail). */
export type InvitationsDeps = MailingUseCaseDeps;
