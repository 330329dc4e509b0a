import type { AccessLogCheckpoints } from './access-log-checkpoints.js';

/**
 * How often the pass runs: a tenth of CONFIDE_CHECKPOINT_SECONDS, between 1 and 10 seconds. A head
 * is then signed at most that long after it became due (N entries waiting, or the oldest S old).
 */
export const checkpointPollMs = (seconds: number): number => Math.min(10, Math.max(1, Math.floor(seconds / 10))) * 1000;

/** The background loop that signs due chain heads; one pass at a time, and stop() waits for the one under way. */
export class CheckpointWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly checkpoints: AccessLogCheckpoints,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), checkpointPollMs(this.checkpoints.policy.seconds));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.checkpoints
      .runOnce()
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
      });
  }
}
