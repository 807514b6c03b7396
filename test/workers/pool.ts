/**
 * Runs lock-worker processes (test/dist/workers/lock-worker.js) and records their JSON-line events, kills and
 * exits. Used by the multi-process lock tests, chaos runs and the lock benchmark.
 *
 * ```ts
 * const pool = new WorkerPool({ endpoints, name: '/l', mode: 'guarded', ttl: 2 });
 * pool.spawn(8);
 * await pool.waitFor((e) => e.ev === 'write', 10);   // ten successful-or-not writes so far
 * pool.killHolder();                                    // SIGKILL whoever is in its critical section
 * await pool.stopAll();                                 // SIGKILL the rest; events stay in pool.events
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Kill, WorkerEvent } from '../checker/lock-history.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The built worker script (works from test/ sources under vitest and from test/dist). */
export const WORKER_SCRIPT = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '.' : '../dist/workers', 'lock-worker.js');

export interface PoolOptions {
  endpoints: string;
  name: string;
  mode: 'guarded' | 'plain' | 'unsafe' | 'hold';
  ttl?: number;
  holdMs?: number;
  cycles?: number;
}

interface Worker {
  id: string;
  proc: ChildProcess;
  holding: boolean;
  exited: Promise<void>;
}

export class WorkerPool {
  readonly events: WorkerEvent[] = [];
  readonly kills: Kill[] = [];
  readonly stderr: string[] = [];
  private readonly workers = new Map<string, Worker>();
  private seq = 0;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly options: PoolOptions) {}

  spawn(n = 1): string[] {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(this.spawnOne());
    return ids;
  }

  get live(): string[] {
    return [...this.workers.keys()];
  }

  /** The worker currently inside its critical section, if any (from its last reported event). */
  holder(): string | undefined {
    for (const w of this.workers.values()) if (w.holding) return w.id;
    return undefined;
  }

  /** SIGKILLs worker `id`, recording whether it was holding. */
  kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): void {
    const w = this.workers.get(id);
    if (!w) return;
    if (signal === 'SIGKILL') {
      this.kills.push({ id, t: Date.now(), holding: w.holding });
      this.workers.delete(id);
    }
    w.proc.kill(signal);
  }

  /** Writes a line to worker `id`'s stdin (mode "hold" reads commands there). */
  send(id: string, line: string): void {
    this.workers.get(id)?.proc.stdin?.write(`${line}\n`);
  }

  /** Resolves once `count` events satisfy `pred` (counting from the start), or rejects after `timeoutMs`. */
  waitFor(pred: (e: WorkerEvent) => boolean, count = 1, timeoutMs = 30_000): Promise<WorkerEvent[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hits = this.events.filter(pred);
        if (hits.length >= count) {
          clearTimeout(timer);
          this.waiters.delete(onEvent);
          resolve(hits);
          return true;
        }
        return false;
      };
      const onEvent = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(onEvent);
        reject(new Error(`timed out waiting for ${count} events; have ${this.events.length}; stderr: ${this.stderr.join('').slice(-2000)}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(onEvent);
    });
  }

  /** SIGKILLs every live worker (recorded as kills) and waits for them to exit. */
  async stopAll(): Promise<void> {
    const all = [...this.workers.values()];
    for (const w of all) this.kill(w.id);
    await Promise.all(all.map((w) => w.exited));
  }

  /** Waits for every live worker to exit by itself (finite `cycles`). */
  async drain(timeoutMs = 60_000): Promise<void> {
    const all = [...this.workers.values()];
    const timer = setTimeout(() => void this.stopAll(), timeoutMs);
    await Promise.all(all.map((w) => w.exited));
    clearTimeout(timer);
  }

  private spawnOne(): string {
    const id = `w${++this.seq}`;
    const o = this.options;
    const args = [WORKER_SCRIPT, '--endpoints', o.endpoints, '--name', o.name, '--mode', o.mode, '--id', id, '--ttl', String(o.ttl ?? 10)];
    if (o.holdMs !== undefined) args.push('--hold-ms', String(o.holdMs));
    if (o.cycles !== undefined) args.push('--cycles', String(o.cycles));
    const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(proc);
    const exited = new Promise<void>((resolve) => proc.once('exit', () => (running.delete(proc), resolve())));
    const w: Worker = { id, proc, holding: false, exited };
    this.workers.set(id, w);
    proc.stderr!.on('data', (b: Buffer) => this.stderr.push(b.toString()));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let e: WorkerEvent;
      try {
        e = JSON.parse(line) as WorkerEvent;
      } catch {
        this.stderr.push(`${id}: ${line}\n`);
        return;
      }
      if (e.ev === 'acquired') w.holding = true;
      if (e.ev === 'released' || e.ev === 'error' || e.ev === 'done') w.holding = false;
      this.events.push(e);
      for (const fn of [...this.waiters]) fn();
    });
    proc.once('exit', () => {
      if (this.workers.get(id) === w) this.workers.delete(id);
    });
    return id;
  }
}

/** Worker processes still running, SIGKILLed if the test process exits first. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});
