import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

function collector() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''));
      done();
    },
  });
  return { lines, stream };
}

describe('log formats (CONFIDE_LOG_FORMAT)', () => {
  it('pretty: one readable line per entry, with its fields and credentials censored (ASVS 16.2.5)', () => {
    const { lines, stream } = collector();
    const logger = createLogger('info', stream, 'pretty');
    logger.info({ route: '/v1/me', statusCode: 200, user: { token: 'cfs_secret-value' } }, 'GET /v1/me 200 1.5 ms');
    logger.debug('below the level');

    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(() => JSON.parse(line!)).toThrow();
    expect(line).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: GET \/v1\/me 200 1\.5 ms /);
    expect(line).toContain('"statusCode":200');
    expect(line).toContain('[redacted]');
    expect(line).not.toContain('cfs_secret-value');
    expect(line).not.toContain('"service"');
    // Written to a stream, not a terminal: no colour codes in files and pipes.
    expect(line).not.toContain('\u001b[');
  });

  it('json: one JSON object per line', () => {
    const { lines, stream } = collector();
    createLogger('info', stream, 'json').info({ user: { token: 'cfs_secret-value' } }, 'hello');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, service: 'confide', msg: 'hello', user: { token: '[redacted]' } });
  });

  it('auto: JSON when writing to a given stream (never a terminal)', () => {
    const { lines, stream } = collector();
    createLogger('info', stream, 'auto').info('hello');
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'hello' });
  });
});
