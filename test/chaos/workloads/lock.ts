/**
 * Lock workload: the lock-worker processes of `test/workers/` (guarded mode: take the lock, read the counter,
 * write counter + 1 with a guarded write, release) kept at `workers` processes, replaced when they die or are
 * killed; checked with `checkLockHistory`: no two successful guarded writes of the same value, fencing tokens
 * strictly increasing in commit order, no lost increment, and after a holder is SIGKILLed while the cluster is
 * otherwise healthy, the lock is taken again within TTL + election timeout + margin.
 *
 * Unsafe control: the workers' `unsafe` mode (read and write without the lock) — increments collide.
 */
import type { Client } from '@latchkey/client';
import { checkLockHistory } from '../../checker/lock-history.js';
import { WorkerPool } from '../../workers/pool.js';
import { type CheckerResult, eventually, sleep, type Workload, type WorkloadContext } from './common.js';

export class LockWorkload implements Workload {
  readonly name = 'lock';
  readonly pool: WorkerPool;
  private maintain: Promise<void> | undefined;
  private stoppedAt = Infinity;
  holderKills = 0;

  constructor(
    private readonly ctx: WorkloadContext,
    private readonly workers: number,
    readonly ttl: number,
    /** Handoff bound after a holder kill, ms. */
    readonly maxHandoffMs: number,
    /** Whether a holder kill at time t (epoch ms) happened while the cluster was healthy (bound applies). */
    private readonly quietAt: (t: number) => boolean,
  ) {
    this.pool = new WorkerPool({ endpoints: ctx.endpoints.join(','), name: `${ctx.prefix}lock`, mode: ctx.unsafe ? 'unsafe' : 'guarded', ttl, holdMs: 5 });
  }

  operations(): number {
    return this.pool.events.length;
  }

  start(): void {
    this.pool.spawn(this.workers);
    this.maintain = (async () => {
      while (!this.ctx.signal.aborted) {
        await sleep(300, this.ctx.signal);
        if (!this.ctx.signal.aborted && this.pool.live.length < this.workers) this.pool.spawn(this.workers - this.pool.live.length);
      }
    })();
  }

  /** SIGKILLs the worker inside its critical section, if any, and starts a replacement. */
  killHolder(): boolean {
    const h = this.pool.holder();
    if (h === undefined) return false;
    this.pool.kill(h);
    this.pool.spawn(1);
    this.holderKills++;
    return true;
  }

  async stop(): Promise<void> {
    await this.maintain;
    this.stoppedAt = Date.now();
    await this.pool.stopAll();
  }

  async check(final: Client): Promise<CheckerResult> {
    const counter = Number((await eventually(() => final.getString(`${this.ctx.prefix}lock-counter`, { timeoutMs: 5_000 }))) ?? '0');
    const kills = this.pool.kills.map((k) => ({ ...k, checkHandoff: k.t < this.stoppedAt - this.maxHandoffMs && this.quietAt(k.t) }));
    const r = checkLockHistory(this.pool.events, counter, kills, this.maxHandoffMs);
    const handoffs = r.handoffsAfterKillMs;
    const errorSample = this.pool.events.find((e) => e.ev === 'error')?.error;
    return {
      name: this.name,
      operations: r.successfulWrites + r.failedWrites + r.acquisitions,
      violations: r.violations.slice(0, 50),
      details: {
        finalCounter: counter,
        successfulWrites: r.successfulWrites,
        failedWrites: r.failedWrites,
        acquisitions: r.acquisitions,
        holderKills: this.holderKills,
        handoffsChecked: handoffs.length,
        maxHandoffMs: handoffs.length ? Math.max(...handoffs) : 0,
        handoffBoundMs: this.maxHandoffMs,
        workerStarts: this.pool.events.length ? new Set(this.pool.events.map((e) => e.id)).size : 0,
        workerErrors: this.pool.events.filter((e) => e.ev === 'error').length,
        ...(errorSample ? { workerErrorSample: errorSample } : {}),
      },
      history: r.violations.length ? { events: this.pool.events, kills, finalCounter: counter } : undefined,
    };
  }
}
