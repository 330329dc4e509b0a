import type { Config } from '../config/config.js';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Clock } from '../lib/time.js';
import type { MailQueue } from '../mail/mail-queue.js';
import type { SecurityEventSink } from '../core/security-events.js';
import type { NewTenantDeps } from '../tenants/tenants-deps.js';

// Each use case names the few services it uses; app/ builds them once and hands each its share.

/**
 * What the identity use cases that write and send mail need (e-mail verification, the account,
 * second factors, invitations): one shape, named once, each use case aliasing it.
 */
export interface MailingUseCaseDeps {
  config: Readonly<Config>;
  db: Kysely<DB>;
  /** Runs a unit of work in a durable transaction. */
  transactions: TransactionRunner;
  keyRing: KeyRing;
  clock: Clock;
  mail: MailQueue;
  securityEvents: SecurityEventSink;
}

export type EmailVerificationDeps = MailingUseCaseDeps;

/** What sign-up, sign-in and sign-out need (sign-up creates a tenant, and issues the verification mail). */
export type IdentityDeps = MailingUseCaseDeps & NewTenantDeps;
