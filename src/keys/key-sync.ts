/** The longest a serving node seals without having polled for rotations (two of the worker's polls). */
export const KEYS_MAX_STALE_MS = 4_000;

/**
 * How recently this process learned of key rotations made elsewhere (another node, or the CLI),
 * and a way to learn of them now. The rotation worker polls every POLL_MS on a timer of its own and
 * reports each poll here; a request arriving when the last poll is older than `maxAgeMs` (the
 * worker's polls fail, or it is not running, as in a test) polls first. So a serving node does not
 * seal with a version retired longer ago than that: the re-encryption job destroys old versions
 * only after a grace longer than `maxAgeMs` (src/key-rotation/reencryption-worker.ts,
 * DESTROY_GRACE_MS), by which time every node that seals has seen the rotation. Without this, a
 * node whose polls stopped would go on sealing with a destroyed version, and what it wrote could
 * never be read.
 */
export class KeySync {
  private syncedAt = performance.now();
  private poll: (() => Promise<void>) | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly maxAgeMs: number) {}

  /** The poll to run when this process is behind (its rotation worker's); it calls synced() when done. One per process. */
  attach(poll: () => Promise<void>): void {
    if (this.poll) throw new Error('a key ring has one rotation worker');
    this.poll = poll;
  }

  /** A poll that began at `startedAt` (performance.now()) has seen every rotation committed before then. */
  synced(startedAt: number): void {
    this.syncedAt = Math.max(this.syncedAt, startedAt);
  }

  /**
   * Undefined (nothing to wait for: the hot path takes no promise) when the last poll is recent or
   * nothing polls; otherwise one poll, shared by every request that arrives meanwhile.
   */
  ensureFresh(): Promise<void> | undefined {
    if (!this.poll || performance.now() - this.syncedAt <= this.maxAgeMs) return undefined;
    return this.pollNow();
  }

  /** Polls now, or joins the poll under way. */
  pollNow(): Promise<void> {
    if (!this.poll) return Promise.resolve();
    this.inFlight ??= this.poll().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }
}
