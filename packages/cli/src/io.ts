/**
 * Process I/O for commands: stdin, stdout and stderr behind an interface that a test (or an embedding program)
 * can replace, a line reader over stdin with Go's `bufio.Reader.ReadString('\n')` contract, and an exit that
 * waits until everything written has been flushed.
 */

export interface Output {
  /** Writes to stdout (text or raw bytes). */
  out(text: string | Uint8Array): void;
  /** Writes to stderr. */
  err(text: string): void;
  /** Where commands read their input (`put` values, `txn` and `watch -i` scripts). Default: process.stdin. */
  stdin?: NodeJS.ReadableStream;
  /** Whether stdout is a terminal (the progress bar draws a bar only then). */
  isTTY?: boolean;
}

export const processOutput: Output = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  get stdin() {
    return process.stdin;
  },
  get isTTY() {
    return process.stdout.isTTY === true;
  },
};

/** Resolves once stdout and stderr have handed everything written so far to the OS. */
export async function flushOutput(): Promise<void> {
  await Promise.all([
    new Promise<void>((resolve) => process.stdout.write('', () => resolve())),
    new Promise<void>((resolve) => process.stderr.write('', () => resolve())),
  ]);
}

/** One line as Go's `ReadString('\n')` gives it: `eof` when the input ended before a newline (`text` is what came). */
export type ReadLine = { text: string; eof: false } | { text: string; eof: true };

/**
 * Reads stdin line by line as it arrives (interactive prompts need each line before the next is typed).
 * `next()` resolves with a line including its `\n`, or with `eof: true` and the unterminated rest; `rest()`
 * with every byte not yet returned. Bytes are buffered raw, so a command may read a password line and then a
 * binary value from the same stdin. One reader per stream: it takes every byte the stream delivers.
 */
export class LineReader {
  private buffer: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | undefined;
  private started = false;

  constructor(private readonly stream: NodeJS.ReadableStream = process.stdin) {}

  private start(): void {
    if (this.started) {
      this.stream.resume();
      return;
    }
    this.started = true;
    this.stream.on('data', (chunk: Buffer | string) => {
      this.buffer = Buffer.concat([this.buffer, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
      this.poke();
    });
    this.stream.on('end', () => {
      this.ended = true;
      this.poke();
    });
    this.stream.on('error', () => {
      this.ended = true;
      this.poke();
    });
  }

  private poke(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async next(): Promise<ReadLine> {
    this.start();
    for (;;) {
      const nl = this.buffer.indexOf(0x0a);
      if (nl >= 0) {
        const text = this.buffer.subarray(0, nl + 1).toString('utf8');
        this.buffer = this.buffer.subarray(nl + 1);
        return { text, eof: false };
      }
      if (this.ended) {
        const text = this.buffer.toString('utf8');
        this.buffer = Buffer.alloc(0);
        return { text, eof: true };
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** Everything not returned yet, up to the end of the stream. */
  async rest(): Promise<Buffer> {
    this.start();
    while (!this.ended) await new Promise<void>((resolve) => (this.waiter = resolve));
    const all = this.buffer;
    this.buffer = Buffer.alloc(0);
    return all;
  }

  /** Stops reading (so an idle stdin does not keep the process alive). */
  close(): void {
    if (this.started) this.stream.pause();
  }
}
