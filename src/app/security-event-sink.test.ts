import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { SecurityEvent } from '../core/security-events.js';
import { securityEventSink, UNSTORED_EVENTS_LIMIT } from './security-event-sink.js';

/** A store that refuses while `down` is set, as the database's insert does during an outage. */
function database() {
  const stored: string[] = [];
  const times: string[] = [];
  const state = { down: false, refuses: new Set<number>() };
  const store = async (event: SecurityEvent, at: string) => {
    await Promise.resolve();
    if (state.down) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    if (state.refuses.has(Number(event.details?.n))) throw new Error('violates a constraint');
    stored.push(String(event.details?.n));
    times.push(at);
  };
  return { stored, times, state, store };
}

function logLines() {
  const lines: Array<{ msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { msg: string }));
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

const event = (n: number): SecurityEvent => ({ type: 'signin.password', outcome: 'failure', details: { n } });

describe('security event sink: a database outage delays events, never loses them', () => {
  it('keeps the events the database refused and stores them, oldest first, with the next event stored', async () => {
    const db = database();
    const { lines, logger } = logLines();
    const sink = securityEventSink(db.store, logger);
    db.state.down = true;
    for (const n of [1, 2, 3]) sink.record(event(n));
    await sink.flush();
    expect(db.stored).toEqual([]);
    expect(sink.unstored.waiting()).toBe(3);
    expect(lines.filter((line) => line.msg.startsWith('security events cannot be stored'))).toHaveLength(1); // once per outage

    db.state.down = false;
    sink.record(event(4));
    await sink.flush();
    expect(db.stored).toEqual(['4', '1', '2', '3']);
    expect(sink.unstored.waiting()).toBe(0);
    expect(lines.some((line) => line.msg === 'security events are stored again')).toBe(true);
    sink.close();
  });

  it('stores a kept event with the time it was recorded, not the time the database came back', async () => {
    const db = database();
    let now = Date.parse('2026-11-30T10:00:00.000Z');
    const clock = { now: () => new Date(now), advance: (seconds: number) => (now += seconds * 1000) };
    const sink = securityEventSink(db.store, undefined, { clock });
    db.state.down = true;
    sink.record(event(1));
    await sink.flush();
    clock.advance(600);
    db.state.down = false;
    sink.record(event(2));
    await sink.flush();
    expect(db.stored).toEqual(['2', '1']);
    expect(db.times).toEqual(['2026-11-30T10:10:00.000Z', '2026-11-30T10:00:00.000Z']);
    sink.close();
  });

  it('gives up an event the database keeps refusing while it stores others, so it cannot hold back those behind it; an outage gives up nothing', async () => {
    const db = database();
    const { lines, logger } = logLines();
    const sink = securityEventSink(db.store, logger);
    db.state.down = true;
    for (const n of [1, 2, 3]) sink.record(event(n));
    await sink.flush();
    for (let i = 0; i < 10; i += 1) await sink.flush(); // a long outage: tried again and again, nothing given up
    expect(sink.unstored.waiting()).toBe(3);
    expect(sink.unstored.dropped()).toBe(0);

    db.state.down = false;
    db.state.refuses.add(1); // the oldest is refused for itself
    sink.record(event(4));
    await sink.flush();
    expect(db.stored).toEqual(['4', '2', '3']); // those behind it were not held back
    for (let i = 0; i < 5 && sink.unstored.waiting() > 0; i += 1) {
      sink.record(event(10 + i)); // the database goes on storing others
      await sink.flush();
    }
    expect(sink.unstored.waiting()).toBe(0);
    expect(sink.unstored.dropped()).toBe(1);
    expect(lines.filter((line) => line.msg.startsWith('security event given up'))).toHaveLength(1);
    sink.close();
  });

  it('tries again on its own when no further event comes', async () => {
    const db = database();
    const sink = securityEventSink(db.store, undefined, { retryIntervalMs: 20 });
    db.state.down = true;
    sink.record(event(1));
    await sink.flush();
    db.state.down = false;
    await expect.poll(() => db.stored, { timeout: 2_000 }).toEqual(['1']);
    sink.close();
  });

  it('keeps at most UNSTORED_EVENTS_LIMIT, dropping the oldest and counting them', async () => {
    const db = database();
    const sink = securityEventSink(db.store, undefined);
    db.state.down = true;
    for (let n = 1; n <= UNSTORED_EVENTS_LIMIT + 5; n += 1) sink.record(event(n));
    await sink.flush();
    expect(sink.unstored.waiting()).toBe(UNSTORED_EVENTS_LIMIT);
    expect(sink.unstored.dropped()).toBe(5);
    db.state.down = false;
    await sink.flush();
    expect(db.stored[0]).toBe('6');
    expect(db.stored).toHaveLength(UNSTORED_EVENTS_LIMIT);
    sink.close();
  });

  it('stops trying once closed', async () => {
    const db = database();
    const sink = securityEventSink(db.store, undefined, { retryIntervalMs: 10 });
    db.state.down = true;
    sink.record(event(1));
    await sink.flush();
    sink.close();
    db.state.down = false;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(db.stored).toEqual([]);
  });
});
