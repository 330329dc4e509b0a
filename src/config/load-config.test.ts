import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config.js';

const key = Buffer.alloc(32, 7).toString('base64');

describe('loadConfig', () => {
  it('applies the documented defaults under the working directory', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config.dataDir).toBe('/srv/app/confide-data');
    expect(config.masterKey).toEqual({ kind: 'file', file: '/srv/app/confide-keys/master.key' });
    expect(config.database).toEqual({ kind: 'sqlite', file: '/srv/app/confide-data/confide.db' });
    expect(config.publicListen).toEqual({ host: '127.0.0.1', port: 8443 });
    expect(config.adminListen).toEqual({ host: '127.0.0.1', port: 9443 });
    expect(config.tls).toEqual({ certFile: null, keyFile: null, profile: 'intermediate' });
    expect(config.logLevel).toBe('info');
    expect(config.http.bodyLimitBytes).toBe(1_048_576);
    expect(config.passwords.minLength).toBe(12);
    expect(config.sessions).toEqual({ absoluteSeconds: 86_400, idleSeconds: 3600 });
  });

  it('reads every variable', () => {
    const config = loadConfig(
      {
        CONFIDE_DATA_DIR: '/data',
        CONFIDE_MASTER_KEY: key,
        CONFIDE_DATABASE_URL: 'postgres://u@db:5432/confide',
        CONFIDE_PUBLIC_LISTEN: '0.0.0.0:443',
        CONFIDE_ADMIN_LISTEN: '[::1]:9443',
        CONFIDE_TLS_CERT_FILE: 'cert.pem',
        CONFIDE_TLS_KEY_FILE: 'key.pem',
        CONFIDE_TLS_PROFILE: 'modern',
        CONFIDE_LOG_LEVEL: 'warn',
      },
      '/srv',
    );
    expect(config.masterKey).toEqual({ kind: 'env', keyBase64: key });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://u@db:5432/confide', preparedStatements: true });
    expect(config.publicListen).toEqual({ host: '0.0.0.0', port: 443 });
    expect(config.adminListen).toEqual({ host: '::1', port: 9443 });
    expect(config.tls).toEqual({ certFile: '/srv/cert.pem', keyFile: '/srv/key.pem', profile: 'modern' });
  });

  it('names PostgreSQL statements unless CONFIDE_DATABASE_PREPARED_STATEMENTS=false, and takes only true or false', () => {
    const postgres = { CONFIDE_DATA_DIR: '/data', CONFIDE_MASTER_KEY: key, CONFIDE_DATABASE_URL: 'postgres://u@db:5432/confide' };
    expect(loadConfig({ ...postgres, CONFIDE_DATABASE_PREPARED_STATEMENTS: 'false' }).database).toEqual({ kind: 'postgres', url: 'postgres://u@db:5432/confide', preparedStatements: false });
    expect(() => loadConfig({ ...postgres, CONFIDE_DATABASE_PREPARED_STATEMENTS: 'off' })).toThrow(/CONFIDE_DATABASE_PREPARED_STATEMENTS/);
  });

  it('lists every problem at once, one line each, naming the variable', () => {
    let error: unknown;
    try {
      loadConfig({
        CONFIDE_MASTER_KEY: 'too-short',
        CONFIDE_DATABASE_URL: 'mysql://x',
        CONFIDE_PUBLIC_LISTEN: 'nonsense',
        CONFIDE_TLS_PROFILE: 'old',
        CONFIDE_TLS_CERT_FILE: 'only-the-cert.pem',
        CONFIDE_LOG_LEVEL: 'loud',
        CONFIDE_SESSION_IDLE_SECONDS: '7200',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(7);
    for (const name of ['CONFIDE_MASTER_KEY', 'CONFIDE_DATABASE_URL', 'CONFIDE_PUBLIC_LISTEN', 'CONFIDE_TLS_PROFILE', 'CONFIDE_TLS_CERT_FILE', 'CONFIDE_LOG_LEVEL', 'CONFIDE_SESSION_IDLE_SECONDS']) {
      expect(problems.filter((line) => line.startsWith(name))).toHaveLength(1);
    }
    expect(problems.join('\n')).not.toContain('too-short'); // a bad secret is not echoed back
  });

  it('reads the log format: auto by default, json or pretty, and names the variable otherwise', () => {
    expect(loadConfig({}, '/x').logFormat).toBe('auto');
    expect(loadConfig({ CONFIDE_LOG_FORMAT: 'pretty' }, '/x').logFormat).toBe('pretty');
    expect(loadConfig({ CONFIDE_LOG_FORMAT: 'json' }, '/x').logFormat).toBe('json');
    expect(() => loadConfig({ CONFIDE_LOG_FORMAT: 'fancy' }, '/x')).toThrow(/^CONFIDE_LOG_FORMAT /);
  });

  it('reads the data cipher: aes-256-gcm by default or chacha20-poly1305; anything else is one line naming the variable and the allowed values', () => {
    expect(loadConfig({}, '/x').dataCipher).toBe('aes-256-gcm');
    expect(loadConfig({ CONFIDE_DATA_CIPHER: 'chacha20-poly1305' }, '/x').dataCipher).toBe('chacha20-poly1305');
    for (const refused of ['aes-128-gcm', 'des', 'AES-256-GCM', 'chacha20']) {
      let error: unknown;
      try {
        loadConfig({ CONFIDE_DATA_CIPHER: refused }, '/x');
      } catch (caught) {
        error = caught;
      }
      expect(error, refused).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual(['CONFIDE_DATA_CIPHER must be one of aes-256-gcm, chacha20-poly1305']);
    }
  });

  it('refuses a master key file inside the data directory', () => {
    expect(() => loadConfig({ CONFIDE_DATA_DIR: '/d', CONFIDE_MASTER_KEY_FILE: '/d/keys/master.key' })).toThrow(/CONFIDE_MASTER_KEY_FILE/);
  });

  it('throttles sign-in with the documented defaults, and never allows more than 100 consecutive failures (NIST 800-63B 3.2.2)', () => {
    expect(loadConfig({}, '/x').signInThrottle).toEqual({
      pairMaxFailures: 10,
      sourceMaxFailures: 100,
      windowSeconds: 900,
      firstDelaySeconds: 60,
      maxDelaySeconds: 3600,
      accountSlowAfter: 20,
      accountMaxFailures: 100,
      knownSourceDays: 30,
    });
    expect(() => loadConfig({ CONFIDE_SIGNIN_ACCOUNT_MAX_FAILURES: '101' })).toThrow(/CONFIDE_SIGNIN_ACCOUNT_MAX_FAILURES/);
    expect(() => loadConfig({ CONFIDE_SIGNIN_ACCOUNT_SLOW_AFTER: '50', CONFIDE_SIGNIN_ACCOUNT_MAX_FAILURES: '40' })).toThrow(/CONFIDE_SIGNIN_ACCOUNT_SLOW_AFTER/);
    expect(() => loadConfig({ CONFIDE_SIGNIN_DELAY_SECONDS: '600', CONFIDE_SIGNIN_MAX_DELAY_SECONDS: '60' })).toThrow(/CONFIDE_SIGNIN_MAX_DELAY_SECONDS/);
    // The fixed lock it set is gone; a setting an operator relies on is not silently ignored.
    expect(() => loadConfig({ CONFIDE_SIGNIN_LOCK_SECONDS: '300' })).toThrow(/CONFIDE_SIGNIN_LOCK_SECONDS .*CONFIDE_SIGNIN_DELAY_SECONDS/);
  });

  it('returns a frozen configuration', () => {
    const config = loadConfig({}, '/x');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.tls)).toBe(true);
  });
});
