/**
 * A one-line progress bar on stderr, redrawn in place on a TTY and silent otherwise (so logs and CI stay clean).
 */
export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private last = 0;

  constructor(private readonly total: number) {}

  /** Shows `done` of `total` with a label; redraws at most ten times a second. */
  update(done: number, label: string): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((Math.min(done, this.total) / this.total) * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor((100 * done) / this.total)}% ${label}`.padEnd(100));
  }

  done(): void {
    if (this.tty) process.stderr.write('\r'.padEnd(101) + '\r');
  }
}
