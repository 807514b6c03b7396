import type { Logger } from './etcd-server.js';

/**
 * Keeps the write-ahead log bounded: every `every` applied entries, makes the backend durable and records a
 * snapshot mark at the applied index, after which the log before it can be released (the backend holds that
 * state). One run at a time; a failed run is retried at the next trigger.
 */
export class LogCompactor {
  private running = false;

  constructor(
    private readonly every: number,
    private last: number,
    private readonly run: (index: number, term: number) => Promise<void>,
    private readonly log: Logger,
  ) {}

  maybe(applied: number, term: number): void {
    if (this.running || applied - this.last < this.every) return;
    this.running = true;
    this.run(applied, term).then(
      () => {
        this.last = applied;
        this.log.info('saved snapshot of the log', { index: applied });
      },
      (err: unknown) => this.log.warn('failed to save a snapshot of the log', { err: String(err) }),
    ).finally(() => {
      this.running = false;
    });
  }
}
