/**
 * The loop of a background queue (mail, webhooks): one round of work at a time, run on a timer
 * and on demand. A kick during a round queues exactly one more round after it (which sees work
 * committed meanwhile); rounds never overlap, `kick()` never rejects (failures go to `onError`),
 * and after `stop()` no round starts and the one running is awaited.
 */
export class PollingRounds {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private followUp: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly round: () => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Runs a round now and then every `intervalMs` (the timer keeps no process alive). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.kick(), intervalMs);
    this.timer.unref();
    void this.kick();
  }

  /** Resolves when the round this kick asked for is done. */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.followUp ??= this.running.then(() => {
        this.followUp = undefined;
        return this.kick();
      });
      return this.followUp;
    }
    this.running = this.round()
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
