import { stage, tracing } from './stage-trace.js';

/**
 * Batched linearizable reads. Every read waiting at one moment shares one ReadIndex round: the first read starts
 * a round; reads that arrive while it is in flight form the next batch (a read index obtained before a read
 * arrived would not be safe for it). When the round's read state arrives, its reads wait until the member has
 * applied up to the read index, then proceed.
 *
 * A round that gets no answer (leader lost, message dropped) is re-issued with a *fresh* context every
 * `retryMs`: reusing a context could match a late answer meant for an earlier round (etcd#20418).
 */
interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  deadline: number;
}

export class ReadIndexBatcher {
  private next: Waiter[] = [];
  private inflight: { ctx: string; waiters: Waiter[]; since: number } | undefined;
  private applying: { index: number; waiters: Waiter[] }[] = [];
  // Seeded from the wall clock so contexts stay unique across restarts of this member.
  private counter = BigInt(Date.now()) << 16n;
  private scheduled = false;

  constructor(
    /** Starts a ReadIndex round with this request context. */
    private readonly issue: (ctx: Uint8Array) => void,
    private readonly appliedIndex: () => number,
    private readonly now: () => number,
    private readonly retryMs = 500,
  ) {}

  /** Resolves when a read started now may be served from the local store; `sweep` fails it after `deadline`. */
  wait(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    return new Promise((resolve, reject) => {
      if (tracing) stage(this.inflight ? 'read-wait-busy' : 'read-wait', -1);
      this.next.push({ resolve: tracing ? () => (stage('read-done', -1), resolve()) : resolve, reject, deadline });
      if (!this.inflight && !this.scheduled) {
        this.scheduled = true;
        // Let reads that arrive in the same turn of the event loop join this round.
        setImmediate(() => {
          this.scheduled = false;
          if (!this.inflight) this.start();
        });
      }
    });
  }

  /** Feeds a read state from a Ready. */
  onReadState(index: number, ctx: Uint8Array): void {
    if (!this.inflight || Buffer.from(ctx).toString('hex') !== this.inflight.ctx) return;
    const { waiters } = this.inflight;
    this.inflight = undefined;
    if (tracing) stage('read-state', index);
    if (this.appliedIndex() >= index) for (const w of waiters) w.resolve();
    else this.applying.push({ index, waiters });
    if (this.next.length > 0) this.start();
  }

  /** Called after entries are applied. */
  onApplied(applied: number): void {
    if (this.applying.length === 0) return;
    const still: { index: number; waiters: Waiter[] }[] = [];
    for (const a of this.applying) {
      if (a.index <= applied) for (const w of a.waiters) w.resolve();
      else still.push(a);
    }
    this.applying = still;
  }

  /** Called on every tick: re-issues a round that has waited too long. */
  onTick(): void {
    if (this.inflight && this.now() - this.inflight.since >= this.retryMs) {
      const waiters = this.inflight.waiters;
      this.inflight = undefined;
      this.next = [...waiters, ...this.next];
      this.start();
    }
  }

  /** Fails reads whose deadline has passed. */
  sweep(now: number, err: () => Error): void {
    const expired = (w: Waiter): boolean => {
      if (w.deadline > now) return false;
      w.reject(err());
      return true;
    };
    this.next = this.next.filter((w) => !expired(w));
    if (this.inflight) this.inflight.waiters = this.inflight.waiters.filter((w) => !expired(w));
    for (const a of this.applying) a.waiters = a.waiters.filter((w) => !expired(w));
  }

  /** Fails every waiting read (the member is stopping). */
  failAll(err: Error): void {
    const all = [...this.next, ...(this.inflight?.waiters ?? []), ...this.applying.flatMap((a) => a.waiters)];
    this.next = [];
    this.inflight = undefined;
    this.applying = [];
    for (const w of all) w.reject(err);
  }

  get pending(): number {
    return this.next.length + (this.inflight?.waiters.length ?? 0) + this.applying.reduce((n, a) => n + a.waiters.length, 0);
  }

  private start(): void {
    if (this.next.length === 0) return;
    const ctx = Buffer.allocUnsafe(8);
    ctx.writeBigUInt64BE(++this.counter);
    this.inflight = { ctx: ctx.toString('hex'), waiters: this.next, since: this.now() };
    this.next = [];
    if (tracing) stage('read-issue', -1);
    this.issue(ctx);
  }
}
