/**
 * The progress bar on stderr: redrawn in place on a terminal, one plain line every 10 s otherwise (CI logs).
 */
export class Progress {
  private last = 0;
  private drawn = false;
  private finished = false;
  private current = 'chaos';
  private lastLine = '';

  constructor(
    private readonly enabled: boolean,
    private readonly durationS: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  update(elapsedS: number, operations: number, faults: number, phase = this.current): void {
    if (!this.enabled || this.finished) return;
    this.current = phase;
    const tty = this.out.isTTY === true;
    const now = Date.now();
    if (!tty && now - this.last < 10_000) return;
    this.last = now;
    const frac = Math.min(1, elapsedS / Math.max(1, this.durationS));
    const width = 30;
    const filled = Math.round(frac * width);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const line = `${bar} ${Math.floor(Math.min(elapsedS, this.durationS))}/${this.durationS} s  ${phase}  ops ${operations}  faults ${faults}`;
    this.lastLine = line;
    if (tty) {
      this.out.write(`\r${line}\x1b[K`);
      this.drawn = true;
    } else {
      this.out.write(`${line}\n`);
    }
  }

  phase(name: string): void {
    this.current = name;
    if (!this.enabled || this.finished) return;
    if (this.out.isTTY) {
      this.out.write(`\r${this.lastLine.replace(/ {2}[a-z ]+ {2}ops/, `  ${name}  ops`)}\x1b[K`);
      this.drawn = true;
    } else this.out.write(`${name}…\n`);
  }

  done(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.drawn) this.out.write('\n');
  }
}
