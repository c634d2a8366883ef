// Coalesced execution: while a task runs, any number of further requests
// lead to exactly one more run after it ends (used for server restarts).

export class Coalescer {
  private running: Promise<void> | null = null;
  private pending: Promise<void> | null = null;

  constructor(private readonly task: () => Promise<void>) {}

  /** Run the task now, or once more after the current run if one is going. */
  request(): Promise<void> {
    if (!this.running) {
      this.running = this.runOnce();
      return this.running;
    }
    if (!this.pending) {
      const current = this.running;
      this.pending = current.then(
        () => this.startPending(),
        () => this.startPending(),
      );
    }
    return this.pending;
  }

  /** True while a run is going. */
  get busy(): boolean {
    return this.running !== null;
  }

  private startPending(): Promise<void> {
    this.pending = null;
    this.running = this.runOnce();
    return this.running;
  }

  private async runOnce(): Promise<void> {
    try {
      await this.task();
    } finally {
      // A pending request replaces `running` itself when it starts.
      if (!this.pending) this.running = null;
    }
  }
}
