/**
 * Watch workload: a writer puts unique values under `<prefix>watch/` while watchers (each on its own client,
 * preferring different members) watch the prefix from one start revision, resuming across reconnects.
 *
 * Checker, with the reference history = every event any watcher saw ∪ every acknowledged write (with its revision):
 *  - agreement: one revision, one event (same key, value, type) for everyone;
 *  - order: each watcher's revisions strictly increase (no duplicates, no reordering);
 *  - no gaps: a watcher segment [from, last] contains every reference revision in that range (a segment ends only
 *    when its resume revision was compacted — the documented `CompactedError` — and a new one starts);
 *  - reliability: after the final heal every watcher reaches the last revision of the prefix;
 *  - the final range read agrees with the last event of every key.
 *
 * Unsafe control: every ~1.5 s a watcher re-subscribes "from now" (no start revision) after a short pause, the
 * way a naive client reconnects, and counts it as the same subscription — the gap checker must notice.
 */
import { setMaxListeners } from 'node:events';
import { type Client, CompactedError, toText } from '@latchkey/client';
import { actorClient, type CheckerResult, eventually, notApplied, sleep, type Workload, type WorkloadContext } from './common.js';

interface Ev {
  rev: string;
  key: string;
  value: string;
  type: 'put' | 'delete';
}

interface Segment {
  watcher: number;
  /** First revision the segment asked for. */
  from: bigint;
  events: Ev[];
  end?: string;
}

export class WatchWorkload implements Workload {
  readonly name = 'watch';
  readonly segments: Segment[] = [];
  private readonly acked = new Map<bigint, { key: string; value: string }>();
  private readonly writer: Client;
  private readonly watchers: Client[];
  private readonly loops: Promise<void>[] = [];
  private readonly stopWatchers = new AbortController();
  private startRev = 0n;
  private writes = 0;
  private indeterminate = 0;

  constructor(
    private readonly ctx: WorkloadContext,
    watchers: number,
  ) {
    this.writer = actorClient(ctx.endpoints, 0);
    this.watchers = Array.from({ length: watchers }, (_, i) => actorClient(ctx.endpoints, i));
    setMaxListeners(0, this.stopWatchers.signal);
  }

  private get prefix(): string {
    return `${this.ctx.prefix}watch/`;
  }

  operations(): number {
    return this.writes + this.segments.reduce((n, s) => n + s.events.length, 0);
  }

  /** Must be awaited before start(): learns the start revision. */
  async init(): Promise<void> {
    this.startRev = (await eventually(() => this.writer.range(this.prefix, { prefix: true, countOnly: true }))).header.revision + 1n;
  }

  start(): void {
    for (let i = 0; i < this.watchers.length; i++) this.loops.push(this.watchLoop(i));
    this.loops.push(this.writeLoop());
  }

  private async writeLoop(): Promise<void> {
    const { signal, opTimeoutMs } = this.ctx;
    for (let i = 1; !signal.aborted; i++) {
      const key = `${this.prefix}k${i % 8}`;
      const value = `v${i}`;
      this.writes++;
      try {
        const r = await this.writer.put(key, value, { timeoutMs: opTimeoutMs });
        this.acked.set(r.header.revision, { key, value });
        await sleep(10, signal);
      } catch (err) {
        if (!notApplied(err)) this.indeterminate++;
        await sleep(50, signal);
      }
    }
  }

  private async watchLoop(w: number): Promise<void> {
    const client = this.watchers[w]!;
    const signal = this.stopWatchers.signal;
    let seg: Segment = { watcher: w, from: this.startRev, events: [] };
    this.segments.push(seg);
    let from: bigint | undefined = this.startRev;
    while (!signal.aborted) {
      const naive = new AbortController();
      const timer = this.ctx.unsafe ? setTimeout(() => naive.abort(), 1_000 + this.ctx.rng.int(1_000)) : undefined;
      try {
        const opts = { prefix: true, signal: AbortSignal.any([signal, naive.signal]), ...(from !== undefined ? { startRevision: from } : {}) };
        for await (const ev of client.watch(this.prefix, opts)) {
          seg.events.push({ rev: ev.revision.toString(), key: ev.key, value: ev.value, type: ev.type });
        }
        if (naive.signal.aborted && !signal.aborted) {
          // The unsafe control's naive reconnect: resubscribe from "now" after a pause, same segment.
          await sleep(200, signal);
          from = undefined;
          continue;
        }
        const last = seg.events.at(-1);
        if (last) from = BigInt(last.rev) + 1n;
      } catch (err) {
        if (signal.aborted) break;
        const last = seg.events.at(-1);
        if (err instanceof CompactedError) {
          seg.end = `compacted (${err.compactRevision ?? '?'})`;
          const rev = (await eventually(() => client.range(this.prefix, { prefix: true, countOnly: true }), 60_000).catch(() => undefined))?.header.revision;
          from = rev === undefined ? undefined : rev + 1n;
          seg = { watcher: w, from: from ?? 0n, events: [] };
          this.segments.push(seg);
        } else {
          // Canceled or failed: resume exactly where this watcher stopped (same segment).
          from = last ? BigInt(last.rev) + 1n : from;
          await sleep(100, signal);
        }
      } finally {
        clearTimeout(timer);
      }
    }
  }

  async stop(): Promise<void> {
    await this.loops.at(-1); // the writer
  }

  async check(final: Client): Promise<CheckerResult> {
    const violations: string[] = [];
    // The final state of the prefix, then every watcher must catch up to its last revision.
    const r = await eventually(() => final.range(this.prefix, { prefix: true, timeoutMs: 5_000 }));
    const target = r.kvs.reduce((m, kv) => (kv.modRevision > m ? kv.modRevision : m), 0n);
    const current = (w: number): Segment => this.segments.filter((s) => s.watcher === w).at(-1)!;
    const caughtUp = (w: number): boolean => {
      const s = current(w);
      const last = s.events.at(-1);
      return s.from > target || (last !== undefined && BigInt(last.rev) >= target);
    };
    // (The unsafe control's naive watchers may never catch up: do not wait long for them.)
    const deadline = Date.now() + (this.ctx.unsafe ? 5_000 : 20_000);
    while (!this.watchers.every((_, w) => caughtUp(w)) && Date.now() < deadline) await sleep(100);
    for (let w = 0; w < this.watchers.length; w++) {
      if (!caughtUp(w)) violations.push(`watcher ${w} did not reach revision ${target} within 20 s of the final heal (last ${current(w).events.at(-1)?.rev ?? 'none'})`);
    }
    this.stopWatchers.abort();
    await Promise.all(this.loops);
    this.writer.close();
    for (const c of this.watchers) c.close();

    // Reference history.
    const ref = new Map<string, Ev>();
    const conflict = (a: Ev, b: Ev): boolean => a.key !== b.key || a.value !== b.value || a.type !== b.type;
    for (const [rev, w] of this.acked) ref.set(rev.toString(), { rev: rev.toString(), key: w.key, value: w.value, type: 'put' });
    for (const s of this.segments) {
      for (const e of s.events) {
        const known = ref.get(e.rev);
        if (known === undefined) ref.set(e.rev, e);
        else if (conflict(known, e)) violations.push(`revision ${e.rev}: watcher ${s.watcher} saw ${e.type} ${e.key}=${e.value}, elsewhere ${known.type} ${known.key}=${known.value}`);
      }
    }
    const revs = [...ref.keys()].map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let delivered = 0;
    for (const s of this.segments) {
      delivered += s.events.length;
      let prev = s.from - 1n;
      for (const e of s.events) {
        const rev = BigInt(e.rev);
        if (rev <= prev) violations.push(`watcher ${s.watcher}: revision ${e.rev} after ${prev} (duplicate or out of order)`);
        prev = rev > prev ? rev : prev;
      }
      const last = s.events.at(-1);
      if (!last) continue;
      const seen = new Set(s.events.map((e) => e.rev));
      const missed = revs.filter((rev) => rev >= s.from && rev <= BigInt(last.rev) && !seen.has(rev.toString()));
      if (missed.length) {
        violations.push(`watcher ${s.watcher} (from ${s.from}) missed ${missed.length} revisions up to ${last.rev}: ${missed.slice(0, 10).join(', ')}${missed.length > 10 ? ', …' : ''}`);
      }
    }
    // The final read agrees with the last event of every key.
    const lastByKey = new Map<string, Ev>();
    for (const rev of revs) {
      const e = ref.get(rev.toString())!;
      lastByKey.set(e.key, e);
    }
    for (const kv of r.kvs) {
      const e = lastByKey.get(toText(kv.key));
      if (!e || e.rev !== kv.modRevision.toString() || e.value !== toText(kv.value)) {
        violations.push(`final read ${toText(kv.key)}=${toText(kv.value)}@${kv.modRevision} but the last event seen is ${e ? `${e.value}@${e.rev}` : 'none'}`);
      }
    }
    return {
      name: this.name,
      operations: this.writes + delivered,
      violations: violations.slice(0, 50),
      details: {
        writes: this.writes,
        acknowledged: this.acked.size,
        indeterminate: this.indeterminate,
        eventsDelivered: delivered,
        segments: this.segments.length,
        compactedSegments: this.segments.filter((s) => s.end?.startsWith('compacted')).length,
        revisions: revs.length,
      },
      history: violations.length ? { acked: [...this.acked].map(([rev, w]) => ({ rev, ...w })), segments: this.segments } : undefined,
    };
  }
}
