import { describe, expect, it } from 'vitest';
import { auditUnavailable } from './access-log.js';

const coded = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('AUDIT_UNAVAILABLE says why (src/audit/access-log.ts)', () => {
  it('a database that cannot be reached (a failover): reason database_unavailable, Retry-After', () => {
    for (const cause of [new Error('Connection terminated unexpectedly'), coded('57P01', 'terminating connection due to administrator command'), coded('25006')]) {
      const error = auditUnavailable(cause);
      expect(error.code).toBe('AUDIT_UNAVAILABLE');
      expect(error.details).toEqual({ reason: 'database_unavailable', component: 'database' });
      expect(error.retryAfterSeconds).toBe(5);
    }
  });

  it('a full or failing database says so; anything else says nothing of its cause', () => {
    expect(auditUnavailable(coded('SQLITE_FULL')).details).toEqual({ reason: 'storage_full', component: 'database' });
    // An errno under the database (SQLite's file) is still the database's: the access log lives there.
    expect(auditUnavailable(coded('EIO')).details).toEqual({ reason: 'storage_failed', component: 'database' });
    const other = auditUnavailable(new Error('boom'));
    expect(other.details).toBeUndefined();
    expect(other.retryAfterSeconds).toBeUndefined();
  });
});
