import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config.js';

describe('CONFIDE_KEY_MAX_AGE_DAYS', () => {
  it('is 365 days by default; off or 0 turns it off; anything else is one line naming the variable', () => {
    expect(loadConfig({}, '/x').keyRotation.maxAgeDays).toBe(365);
    expect(loadConfig({ CONFIDE_KEY_MAX_AGE_DAYS: '90' }, '/x').keyRotation.maxAgeDays).toBe(90);
    expect(loadConfig({ CONFIDE_KEY_MAX_AGE_DAYS: 'off' }, '/x').keyRotation.maxAgeDays).toBeNull();
    expect(loadConfig({ CONFIDE_KEY_MAX_AGE_DAYS: '0' }, '/x').keyRotation.maxAgeDays).toBeNull();
    for (const refused of ['-1', '1.5', 'never', '36501']) {
      let error: unknown;
      try {
        loadConfig({ CONFIDE_KEY_MAX_AGE_DAYS: refused }, '/x');
      } catch (caught) {
        error = caught;
      }
      expect(error, refused).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual(['CONFIDE_KEY_MAX_AGE_DAYS must be off or a whole number of days between 0 and 36500']);
    }
  });
});
