import type { Cipher } from './cipher.js';

const CACHE_LIMIT = 10_000;
/**
 * A cached owner's keys are read again after this long, so a node picks up a `next` version made
 * elsewhere (KeyRing.ensureNext, for owners from before versions were made ahead) before it is needed.
 */
const CACHE_TTL_MS = 10 * 60_000;
/** Loads a forget overtook are done again at most this often before the last one is used. */
const RELOADS = 5;

/**
 * Owners' unwrapped keys, least recently used first out once there are CACHE_LIMIT of them. A load
 * is shared by everyone asking for that owner meanwhile, and is kept only if no `invalidate` came
 * while it ran: a load that began before a rotation committed elsewhere, and ended after this node
 * learnt of it, holds the old active version, and caching it would seal with that version until the
 * entry expired.
 */
export class CipherCache {
  private readonly entries = new Map<string, { cipher: Cipher; loadedAt: number }>();
  private readonly generations = new Map<string, number>();
  /** Bumped by clear(): every owner's loads under way are overtaken. */
  private epoch = 0;
  private readonly loading = new Map<string, { generation: string; promise: Promise<Cipher> }>();

  get(owner: string): Cipher | undefined {
    const cached = this.entries.get(owner);
    if (!cached) return undefined;
    this.entries.delete(owner);
    if (performance.now() - cached.loadedAt >= CACHE_TTL_MS) return undefined;
    this.entries.set(owner, cached);
    return cached.cipher;
  }

  /** The owner's cipher: cached, or loaded once by `load` however many ask at the same time. */
  async getOrLoad(owner: string, load: () => Promise<Cipher>): Promise<Cipher> {
    for (let attempt = 1; ; attempt += 1) {
      const cached = this.get(owner);
      if (cached) return cached;
      const generation = this.generationOf(owner);
      let pending = this.loading.get(owner);
      if (pending?.generation !== generation) {
        const started = { generation, promise: load() };
        this.loading.set(owner, started);
        const done = () => void (this.loading.get(owner) === started && this.loading.delete(owner));
        started.promise.then(done, done);
        pending = started;
      }
      const cipher = await pending.promise;
      if (this.generationOf(owner) === generation) {
        this.set(owner, cipher);
        return cipher;
      }
      if (attempt === RELOADS) return cipher; // forgets without end: the newest load, uncached
    }
  }

  set(owner: string, cipher: Cipher): void {
    this.entries.set(owner, { cipher, loadedAt: performance.now() });
    if (this.entries.size > CACHE_LIMIT) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Drops the owner's entry, and makes any load of it under way a stale one. */
  invalidate(owner: string): void {
    this.entries.delete(owner);
    this.generations.set(owner, (this.generations.get(owner) ?? 0) + 1);
  }

  /** Drops the owner's entry only if it is still `cipher` (a newer load is kept). */
  deleteIfHolding(owner: string, cipher: Cipher): void {
    if (this.entries.get(owner)?.cipher === cipher) this.entries.delete(owner);
  }

  clear(): void {
    this.entries.clear();
    this.epoch += 1;
  }

  private generationOf(owner: string): string {
    return `${this.epoch}.${this.generations.get(owner) ?? 0}`;
  }
}
