import { describe, expect, it } from 'vitest';
import { connectionError, postgresLocation } from './connection-errors.js';

describe('PostgreSQL connection errors', () => {
  it('names host, port and database, never user or password, with the defaults libpq uses', () => {
    expect(postgresLocation('postgres://alice:pw@db.internal:6432/confide?sslmode=require')).toBe('db.internal:6432/confide');
    expect(postgresLocation('postgres://alice:pw@db.internal/')).toBe('db.internal:5432/alice');
    expect(postgresLocation('postgresql://db.internal')).toBe('db.internal:5432/postgres');
  });

  it('reads the first cause of an AggregateError (Node tries each address of `localhost`), which has no message of its own', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' });
    const error = connectionError(new AggregateError([refused, refused]), 'postgres://u@localhost/confide');
    expect(error.message).toBe(
      'cannot connect to PostgreSQL at localhost:5432/confide (CONFIDE_DATABASE_URL): connection refused (is PostgreSQL running and listening there?)',
    );
  });

  it('cuts the password out of a reason that echoes it (ASVS 16.2.5), encoded or not, and keeps one line', () => {
    const url = 'postgres://u:p%40ss-w0rd-long@h:5432/d';
    const error = connectionError(new Error('server said:\nbad p@ss-w0rd-long and p%40ss-w0rd-long'), url);
    expect(error.message).toBe('cannot connect to PostgreSQL at h:5432/d (CONFIDE_DATABASE_URL): server said: bad *** and ***');
  });
});
