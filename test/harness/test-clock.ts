import type { Clock } from '../../src/lib/time.js';

/** A clock the test moves by hand, so expiry and throttling windows pass without sleeping. */
export class TestClock implements Clock {
  private offsetMs = 0;

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  advance(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }
}
