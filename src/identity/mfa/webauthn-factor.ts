import type { Kysely } from 'kysely';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { DB } from '../../db/schema.js';
import { newId } from '../../lib/ids.js';
import { addSeconds, type Clock } from '../../lib/time.js';

export const CEREMONY_SECONDS = 5 * 60;

/**
 * The WebAuthn library, loaded at the first passkey ceremony: with its ASN.1 and COSE parsers it
 * takes about 150 ms to load, which every server start and CLI command paid for a rare path.
 */
const simpleWebAuthn = () => import('@simplewebauthn/server');

export interface RelyingParty {
  rpId: string;
  origin: string;
}

export interface StoredCredential {
  id: string;
  credentialId: string;
  publicKey: Uint8Array<ArrayBuffer>;
  counter: number;
  transports: string[];
  createdAt: string;
  lastUsedAt: string | null;
}

function toStored(row: DB['webauthn_credentials']): StoredCredential {
  return {
    id: row.id,
    credentialId: row.credential_id,
    publicKey: Uint8Array.from(Buffer.from(row.public_key, 'base64url')),
    counter: Number(row.counter),
    transports: JSON.parse(row.transports) as string[],
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}

export async function listCredentials(db: Kysely<DB>, userId: string): Promise<StoredCredential[]> {
  const rows = await db.selectFrom('webauthn_credentials').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
  return rows.map(toStored);
}

async function saveChallenge(db: Kysely<DB>, clock: Clock, userId: string, purpose: 'register' | 'authenticate', challenge: string): Promise<void> {
  await db
    .insertInto('webauthn_challenges')
    .values({ id: newId(), user_id: userId, purpose, challenge, expires_at: addSeconds(clock.now(), CEREMONY_SECONDS).toISOString(), used_at: null })
    .execute();
}

/**
 * Each ceremony's challenge is single-use and short-lived: the verifier consumes the one the
 * response names, only if it was issued to this user for this purpose and is still open.
 */
function challengeConsumer(trx: Kysely<DB>, clock: Clock, userId: string, purpose: 'register' | 'authenticate') {
  return async (challenge: string): Promise<boolean> => {
    const result = await trx
      .updateTable('webauthn_challenges')
      .set({ used_at: clock.now().toISOString() })
      .where('challenge', '=', challenge)
      .where('user_id', '=', userId)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('expires_at', '>', clock.now().toISOString())
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  };
}

export async function registrationOptions(db: Kysely<DB>, clock: Clock, rp: RelyingParty, user: { id: string; email: string }) {
  const existing = await listCredentials(db, user.id);
  const { generateRegistrationOptions } = await simpleWebAuthn();
  const options = await generateRegistrationOptions({
    rpName: 'Confide',
    rpID: rp.rpId,
    userName: user.email,
    userID: new Uint8Array(Buffer.from(user.id, 'utf8')),
    attestationType: 'none',
    excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: c.transports })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
  });
  await saveChallenge(db, clock, user.id, 'register', options.challenge);
  return options;
}

/** Verifies an attestation against an open challenge and stores the new credential; undefined if it fails. */
export async function registerCredential(
  trx: Kysely<DB>,
  clock: Clock,
  rp: RelyingParty,
  userId: string,
  response: RegistrationResponseJSON,
): Promise<string | undefined> {
  const { verifyRegistrationResponse } = await simpleWebAuthn();
  let verification;
  try {
    verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: challengeConsumer(trx, clock, userId, 'register'),
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpId,
      requireUserVerification: false,
    });
  } catch {
    return undefined;
  }
  if (!verification.verified) return undefined;
  const { credential } = verification.registrationInfo;
  const id = newId();
  await trx
    .insertInto('webauthn_credentials')
    .values({
      id,
      user_id: userId,
      credential_id: credential.id,
      public_key: Buffer.from(credential.publicKey).toString('base64url'),
      counter: credential.counter,
      transports: JSON.stringify(credential.transports ?? []),
      created_at: clock.now().toISOString(),
      last_used_at: null,
    })
    .execute();
  return id;
}

export async function authenticationOptions(db: Kysely<DB>, clock: Clock, rp: RelyingParty, userId: string) {
  const credentials = await listCredentials(db, userId);
  const { generateAuthenticationOptions } = await simpleWebAuthn();
  const options = await generateAuthenticationOptions({
    rpID: rp.rpId,
    allowCredentials: credentials.map((c) => ({ id: c.credentialId, transports: c.transports })),
    userVerification: 'preferred',
  });
  await saveChallenge(db, clock, userId, 'authenticate', options.challenge);
  return options;
}

/**
 * Verifies an assertion from one of the user's credentials against an open challenge, and moves
 * the signature counter forward (a counter that goes back signals a cloned authenticator).
 */
export async function verifyAssertion(trx: Kysely<DB>, clock: Clock, rp: RelyingParty, userId: string, response: AuthenticationResponseJSON): Promise<boolean> {
  const credential = (await listCredentials(trx, userId)).find((c) => c.credentialId === response.id);
  if (!credential) return false;
  const { verifyAuthenticationResponse } = await simpleWebAuthn();
  try {
    const verification = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challengeConsumer(trx, clock, userId, 'authenticate'),
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpId,
      credential: { id: credential.credentialId, publicKey: credential.publicKey, counter: credential.counter, transports: credential.transports },
      requireUserVerification: false,
    });
    if (!verification.verified) return false;
    await trx
      .updateTable('webauthn_credentials')
      .set({ counter: verification.authenticationInfo.newCounter, last_used_at: clock.now().toISOString() })
      .where('id', '=', credential.id)
      .execute();
    return true;
  } catch {
    return false;
  }
}

export async function deleteCredential(trx: Kysely<DB>, userId: string, id: string): Promise<boolean> {
  const result = await trx.deleteFrom('webauthn_credentials').where('user_id', '=', userId).where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
