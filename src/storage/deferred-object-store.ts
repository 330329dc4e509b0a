import { PassThrough, pipeline, type Readable } from 'node:stream';
import { checkObjectName, type IncompleteWrite, type ObjectStore, type StoredObject } from './object-store.js';

/** A store that can let go of its connections (the S3 store's client). */
export type ClosableObjectStore = ObjectStore & { close?(): void };

/**
 * An object store opened on first use: `load` runs once, when the first call comes. The S3 store
 * sits behind one because the AWS SDK takes 125-180 ms to load, which every `confide serve` and
 * every CLI command paid even with no bucket configured, and which a configured one need pay only
 * when it is first reached. A failed load fails that call and the next ones alike.
 */
export class DeferredObjectStore implements ObjectStore {
  private loaded?: Promise<ClosableObjectStore>;
  private opened?: ClosableObjectStore;

  constructor(
    readonly description: string,
    private readonly load: () => Promise<ClosableObjectStore>,
  ) {}

  private store(): Promise<ClosableObjectStore> {
    this.loaded ??= this.load().then((store) => (this.opened = store));
    return this.loaded;
  }

  async put(name: string, source: Readable): Promise<void> {
    return (await this.store()).put(name, source);
  }

  get(name: string): Readable {
    // An unsafe name is refused at the call, as every store refuses it, not later on the stream.
    checkObjectName(name);
    const out = new PassThrough();
    this.store().then(
      (store) => {
        const inner = store.get(name);
        // A reader gone before the store came ends the inner stream at once (the S3 store then
        // cancels its request); otherwise the pipeline carries bytes, errors and an early close.
        if (out.destroyed) return void inner.destroy();
        pipeline(inner, out, () => {});
      },
      (error: unknown) => out.destroy(error as Error),
    );
    return out;
  }

  async list(prefix: string): Promise<StoredObject[]> {
    return (await this.store()).list(prefix);
  }

  async *pages(prefix: string): AsyncIterable<StoredObject[]> {
    const store = await this.store();
    if (store.pages) yield* store.pages(prefix);
    else yield await store.list(prefix);
  }

  async *incompleteWrites(prefix: string): AsyncIterable<IncompleteWrite> {
    const store = await this.store();
    if (store.incompleteWrites) yield* store.incompleteWrites(prefix);
  }

  async remove(name: string): Promise<void> {
    return (await this.store()).remove(name);
  }

  /** Closes the store if it was ever opened (or once its opening ends); one never used holds nothing. */
  close(): void {
    if (this.opened) this.opened.close?.();
    else void this.loaded?.then((store) => store.close?.(), () => {});
  }
}
