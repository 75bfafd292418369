// Messages for one timeline are processed one at a time, whichever connection
// delivered them (Neon holds the timeline's write lock per message). A promise
// chain gives the same guarantee without blocking the event loop.

export class SerialExecutor {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  /** Runs `task` after every task submitted before it has settled. */
  run<T>(task: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(task);
    this.tail = result.then(
      () => this.settle(),
      () => this.settle(),
    );
    return result;
  }

  /** Tasks submitted and not yet settled. */
  get queued(): number {
    return this.pending;
  }

  /** Resolves once everything submitted so far has settled. */
  idle(): Promise<void> {
    return this.tail;
  }

  private settle(): void {
    this.pending--;
  }
}
