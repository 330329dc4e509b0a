import { AccessLogQueries } from '../audit/access-log-queries.js';
import { ApiKeys } from '../api-keys/api-keys.js';
import { Account } from '../identity/account/account.js';
import { Identity } from '../identity/identity.js';
import { Mfa } from '../identity/mfa/mfa.js';
import { hasSecondFactor } from '../identity/mfa/second-factors.js';
import { SessionStore, USER_SESSIONS } from '../identity/session-store.js';
import { SignInCompletion } from '../identity/sign-in-completion.js';
import { SignInThrottle } from '../identity/sign-in-throttle.js';
import { Invitations } from '../members/invitations.js';
import { Members } from '../members/members.js';
import { Records } from '../records/records.js';
import { RecordFiles } from '../files/record-files.js';
import { Staff } from '../staff/staff.js';
import { StaffAccess } from '../staff-access/staff-access.js';
import { staffAccessWithdrawal } from '../staff-access/withdraw-staff-access.js';
import { TenantSettingsUseCases } from '../tenants/tenant-settings-use-cases.js';
import { TenantKeys } from '../key-rotation/tenant-keys.js';
import { TenantDeletion } from '../tenants/tenant-deletion.js';
import type { Services } from './services.js';

export type UseCases = ReturnType<typeof openUseCases>;

/**
 * Every domain's use cases, built once over the services; each takes only the share of the
 * services it declares (its `…Deps`). Listeners pick the ones their routes serve.
 */
export function openUseCases(services: Services) {
  // Users' sessions and sign-in throttle: built once, shared by every use case that signs users in or out.
  const { db, clock, config, keyRing, transactions } = services;
  const sessionPolicy = { ...config.sessions, maxPerUser: config.limits.sessionsPerUser };
  const sessions = new SessionStore(db, sessionPolicy, clock, () => keyRing.systemCipher(), USER_SESSIONS);
  const throttle = new SignInThrottle(db, transactions, config.signInThrottle, clock, () => keyRing.blindIndexKey(), 'user');
  const completion = new SignInCompletion(db, clock, sessions);
  const identity = new Identity(services, sessions, throttle, completion);
  // Staff sign in on their own listener, counted in their own throttle realm.
  const staffThrottle = new SignInThrottle(db, transactions, config.signInThrottle, clock, () => keyRing.blindIndexKey(), 'staff');
  const records = new Records(services);
  const files = new RecordFiles(services);
  // Re-authentication (a password or code, or a recent check) for factor changes and the tenant's most final acts.
  const mfa = new Mfa(services, sessions, throttle, completion);
  return {
    identity,
    mfa,
    apiKeys: new ApiKeys(services),
    members: new Members(services, sessions),
    invitations: new Invitations(services, throttle, completion),
    tenantKeys: new TenantKeys(services, mfa),
    tenantDeletion: new TenantDeletion(services, mfa),
    tenantSettings: new TenantSettingsUseCases(services, (userId) => hasSecondFactor(db, userId), staffAccessWithdrawal(services.securityEvents)),
    account: new Account(services, sessions, throttle),
    records,
    files,
    accessLogQueries: new AccessLogQueries(services),
    staff: new Staff(services, staffThrottle),
    staffAccess: new StaffAccess(services, records, files),
  };
}
