/**
 * The test side of the crash writer (`writer.ts`): spawns it, reads its JSON lines and keeps the ledger of what
 * was sent, acknowledged and failed, and lets the test wait for conditions on that ledger with a deadline.
 *
 * ```ts
 * const w = WriterProcess.start(server.endpoint);
 * await w.waitFor('100 acks', () => w.acks.size >= 100, 10_000);
 * const inFlight = w.unsettled();          // sent, not yet acked or failed (as far as the test has read)
 * await w.stop();                          // closes stdin; resolves after its "done" line and exit
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface Ack {
  seq: number;
  key: string;
  value: string;
  /** The revision the server acknowledged the put at (header.revision of the PutResponse). */
  rev: bigint;
}

type Line =
  | { t: 'ready' }
  | { t: 'sent'; seq: number }
  | { t: 'ack'; seq: number; key: string; value: string; rev: string }
  | { t: 'err'; seq: number; code: number; details: string }
  | { t: 'done'; sent: number };

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

/**
 * The compiled writer. It runs as a plain Node process (outside vitest), so it must be built: `npx tsc -b`.
 * A stale build would test old code, so this fails if a source file is newer than the build.
 */
export function writerScript(): string {
  const script = path.join(repo, 'test', 'dist', 'crash', 'writer.js');
  if (!fs.existsSync(script)) throw new Error(`${script} is missing: run \`npx tsc -b\` first`);
  const built = fs.statSync(script).mtimeMs;
  for (const src of ['test/crash/writer.ts', 'test/crash/values.ts', 'test/harness/kv-client.ts']) {
    const full = path.join(repo, src);
    if (fs.existsSync(full) && fs.statSync(full).mtimeMs > built + 1) throw new Error(`${src} is newer than ${script}: run \`npx tsc -b\``);
  }
  return script;
}

export class WriterProcess {
  /** Highest seq announced as sent, plus one. */
  sentCount = 0;
  readonly acks = new Map<number, Ack>();
  readonly failed = new Map<number, { code: number; details: string }>();
  /** Every line the writer printed that was not JSON, and its stderr: shown when something goes wrong. */
  readonly diagnostics: string[] = [];
  private readonly pending = new Set<number>();
  private readonly waiters = new Set<() => void>();
  private doneLine = false;
  private readonly exited: Promise<void>;
  private exitCode: number | null | undefined;

  private constructor(private readonly child: ChildProcess) {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => this.onLine(line));
    child.stderr!.on('data', (b: Buffer) => this.diagnostics.push(`stderr: ${b.toString('utf8').trimEnd()}`));
    this.exited = new Promise((resolve) => {
      // 'close' comes after stdout has been fully read, so every line has been handled.
      child.once('close', (code) => {
        this.exitCode = code;
        this.notify();
        resolve();
      });
    });
  }

  static start(endpoint: string, options: { concurrency?: number; timeoutMs?: number } = {}): WriterProcess {
    const args = [writerScript(), '--endpoint', endpoint, '--concurrency', String(options.concurrency ?? 32), '--timeout-ms', String(options.timeoutMs ?? 3_000)];
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    return new WriterProcess(child);
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Seqs sent but not yet settled (acked or failed), as far as the test has read the writer's output. */
  unsettled(): Set<number> {
    return new Set(this.pending);
  }

  isSettled(seq: number): boolean {
    return this.acks.has(seq) || this.failed.has(seq);
  }

  /** Resolves when `condition()` holds (checked after every line); rejects after `timeoutMs` or if the writer exits. */
  waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (condition()) {
          finish();
          resolve();
        } else if (!this.running) {
          finish();
          reject(new Error(`writer exited (code ${this.exitCode}) while waiting for ${what}; ${this.summary()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.summary()}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** Closes the writer's stdin: it stops sending, waits for its outstanding puts and exits. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.child.stdin!.end();
    await this.waitFor('the writer to finish', () => this.doneLine && !this.running, timeoutMs);
  }

  /** Kills the writer if it is still running (cleanup). */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  summary(): string {
    const tail = this.diagnostics.slice(-5).join(' | ');
    return `writer: sent ${this.sentCount}, acked ${this.acks.size}, failed ${this.failed.size}, unsettled ${this.pending.size}${tail ? `; ${tail}` : ''}`;
  }

  private onLine(raw: string): void {
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      this.diagnostics.push(`stdout: ${raw}`);
      return;
    }
    switch (line.t) {
      case 'sent':
        this.pending.add(line.seq);
        this.sentCount = Math.max(this.sentCount, line.seq + 1);
        break;
      case 'ack':
        this.pending.delete(line.seq);
        this.acks.set(line.seq, { seq: line.seq, key: line.key, value: line.value, rev: BigInt(line.rev) });
        break;
      case 'err':
        this.pending.delete(line.seq);
        this.failed.set(line.seq, { code: line.code, details: line.details });
        break;
      case 'done':
        this.doneLine = true;
        break;
      case 'ready':
        break;
    }
    this.notify();
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }
}
