/**
 * The benchmark workloads, all driven through `@latchkey/client` so that latchkey and etcd are measured with the
 * same client. Each runs closed-loop (every worker issues its next operation when the previous one returns) for
 * a fixed duration and reports its operations, errors and a latency histogram in microseconds.
 *
 * Workloads needing process control (failover, lock-recovery) take a `ClusterControl`; without one they are
 * skipped.
 */
import { setMaxListeners } from 'node:events';
import { Client, Cmp, Op, type LockHold } from '@latchkey/client';
import { Histogram } from './histogram.js';

export interface ClusterControl {
  /** SIGKILLs the current leader; resolves with a function that restarts it (and waits until it is healthy). */
  killLeader(): Promise<() => Promise<void>>;
  /** Starts a process that holds lock `name` with a lease of `ttl` seconds; resolves once it holds it. */
  spawnHolder(name: string, ttl: number): Promise<{ kill(): void; done: Promise<void> }>;
}

export interface WorkloadContext {
  endpoints: string[];
  durationMs: number;
  /** Concurrent operations for throughput workloads. */
  concurrency: number;
  /** Contending clients for lock and election workloads. */
  contenders: number;
  valueSize: number;
  /** Trials for failover and lock-recovery. */
  trials: number;
  cluster?: ClusterControl | undefined;
  onProgress?: (fraction: number) => void;
}

export interface WorkloadResult {
  workload: string;
  ops: number;
  errors: number;
  seconds: number;
  /** Latency per operation (µs); for lock/elect the cycle time; for failover/recovery the outage. */
  latency: Histogram;
  /** Lock handoff latency (release by one holder → acquire by the next), µs. */
  handoff?: Histogram;
  firstError?: string;
  /** Unit of `ops`: operations, events, cycles, trials. */
  unit: string;
}

export type Workload = (ctx: WorkloadContext) => Promise<WorkloadResult>;

const now = (): number => performance.now();

/** Runs `workers` loops of `op` until the duration passes; records each op's latency. */
async function closedLoop(
  ctx: WorkloadContext,
  workload: string,
  workers: number,
  op: (worker: number, i: number) => Promise<void>,
  unit = 'ops',
): Promise<WorkloadResult> {
  const latency = new Histogram();
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = now();
  const end = start + ctx.durationMs;
  const ticker = setInterval(() => ctx.onProgress?.(Math.min(1, (now() - start) / ctx.durationMs)), 200);
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; now() < end; i++) {
        const t0 = now();
        try {
          await op(w, i);
          latency.record((now() - t0) * 1000);
          ops++;
        } catch (err) {
          errors++;
          firstError ??= String((err as Error).message ?? err);
        }
      }
    }),
  );
  clearInterval(ticker);
  const result: WorkloadResult = { workload, ops, errors, seconds: (now() - start) / 1000, latency, unit };
  if (firstError !== undefined) result.firstError = firstError;
  return result;
}

function value(size: number): string {
  return 'v'.repeat(size);
}

export const workloads: Record<string, Workload> = {
  async put(ctx) {
    const c = new Client({ endpoints: ctx.endpoints });
    const v = value(ctx.valueSize);
    try {
      return await closedLoop(ctx, 'put', ctx.concurrency, async (w, i) => void (await c.put(`bench/put/${(w * 7919 + i) % 10_000}`, v)));
    } finally {
      c.close();
    }
  },

  async get(ctx) {
    const c = new Client({ endpoints: ctx.endpoints });
    await c.put('bench/get', value(ctx.valueSize));
    try {
      return await closedLoop(ctx, 'get', ctx.concurrency, async () => void (await c.get('bench/get')));
    } finally {
      c.close();
    }
  },

  async sget(ctx) {
    const c = new Client({ endpoints: ctx.endpoints });
    await c.put('bench/get', value(ctx.valueSize));
    try {
      return await closedLoop(ctx, 'sget', ctx.concurrency, async () => void (await c.get('bench/get', { serializable: true })));
    } finally {
      c.close();
    }
  },

  /** Compare-and-swap: each worker owns a key and swaps it conditioned on the mod revision it last wrote. */
  async txn(ctx) {
    const c = new Client({ endpoints: ctx.endpoints });
    const v = value(ctx.valueSize);
    const last: bigint[] = [];
    for (let w = 0; w < ctx.concurrency; w++) last.push((await c.put(`bench/txn/${w}`, v)).header.revision);
    try {
      return await closedLoop(ctx, 'txn', ctx.concurrency, async (w) => {
        const r = await c.txn().if(Cmp.modRevision(`bench/txn/${w}`, '=', last[w]!)).success(Op.put(`bench/txn/${w}`, v)).commit();
        if (!r.succeeded) throw new Error('CAS failed without contention');
        last[w] = r.header.revision;
      });
    } finally {
      c.close();
    }
  },

  /** Watch fan-out: 100 watchers of one prefix on 10 clients, one writer at full speed; ops = events delivered. */
  async watch(ctx) {
    const writer = new Client({ endpoints: ctx.endpoints });
    const clients = Array.from({ length: 10 }, () => new Client({ endpoints: ctx.endpoints }));
    const sent = new Map<bigint, number>();
    /** Receipt times per revision; matched with send times at the end (an event may beat its put's response). */
    const received = new Map<bigint, number[]>();
    const latency = new Histogram();
    let events = 0;
    const ac = new AbortController();
    setMaxListeners(0, ac.signal); // one signal ends all 100 watches
    const watchers = clients.flatMap((c) => Array.from({ length: 10 }, () => c.watch('bench/watch/', { prefix: true, signal: ac.signal })));
    await Promise.all(watchers.map((w) => w.created));
    const consumers = watchers.map(async (w) => {
      for await (const batch of w.batches()) {
        const t = now();
        for (const ev of batch.events) {
          events++;
          let list = received.get(ev.revision);
          if (!list) received.set(ev.revision, (list = []));
          list.push(t);
        }
      }
    });
    const start = now();
    const v = value(ctx.valueSize);
    let errors = 0;
    const put = await closedLoop(ctx, 'watch-writer', Math.max(1, Math.floor(ctx.concurrency / 4)), async (w, i) => {
      const t = now();
      const r = await writer.put(`bench/watch/${w}/${i % 100}`, v);
      sent.set(r.header.revision, t);
    });
    errors += put.errors;
    // Let delivery finish: every watcher must see every write.
    const expected = put.ops * watchers.length;
    const deadline = now() + 10_000;
    while (events < expected && now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const seconds = (now() - start) / 1000;
    for (const [rev, times] of received) {
      const s = sent.get(rev);
      if (s !== undefined) for (const t of times) latency.record((t - s) * 1000);
    }
    ac.abort();
    await Promise.allSettled(consumers);
    for (const c of clients) c.close();
    writer.close();
    const result: WorkloadResult = { workload: 'watch', ops: events, errors: errors + (events < expected ? 1 : 0), seconds, latency, unit: 'events' };
    if (events < expected) result.firstError = `delivered ${events} of ${expected} events`;
    return result;
  },

  /** Lease keep-alive round trips on one stream, `concurrency` leases. */
  async keepalive(ctx) {
    const c = new Client({ endpoints: ctx.endpoints });
    const leases = await Promise.all(Array.from({ length: ctx.concurrency }, () => c.leases.grant(60)));
    try {
      return await closedLoop(ctx, 'keepalive', ctx.concurrency, async (w) => {
        const ttl = await c.leases.keepAliveOnce(leases[w]!.id, { timeoutMs: 5_000 });
        if (ttl <= 0n) throw new Error('lease lost');
      });
    } finally {
      await Promise.allSettled(leases.map((l) => c.leases.revoke(l.id)));
      c.close();
    }
  },

  /** Uncontended lock: one client acquires and releases one lock in a loop on one session. */
  async lock(ctx) {
    const c = new Client({ endpoints: ctx.endpoints });
    const session = await c.session({ ttl: 30 });
    try {
      return await closedLoop(
        ctx,
        'lock',
        1,
        async () => {
          const h = await c.lock.acquire('bench/lock/solo', { session });
          await h.release();
        },
        'cycles',
      );
    } finally {
      await session.close().catch(() => undefined);
      c.close();
    }
  },

  /** `contenders` clients (one connection and session each) cycle through one lock; handoff = release → next acquire. */
  async 'lock-contended'(ctx) {
    return contended(ctx, 'lock-contended', async (c, session) => {
      const h: LockHold = await c.lock.acquire('bench/lock/contended', { session });
      return () => h.release();
    });
  },

  /**
   * `contenders` tasks of one process (one client, one session) cycle through one lock: the SDK queues them
   * locally and hands the key over with one write per cycle.
   */
  async 'lock-shared'(ctx) {
    const c = new Client({ endpoints: ctx.endpoints });
    const session = await c.session({ ttl: 30 });
    const handoff = new Histogram();
    let releasedAt: number | undefined;
    try {
      const r = await closedLoop(
        ctx,
        'lock-shared',
        ctx.contenders,
        async () => {
          const h = await c.lock.acquire('bench/lock/shared', { session });
          if (releasedAt !== undefined) handoff.record((now() - releasedAt) * 1000);
          releasedAt = now();
          await h.release();
        },
        'cycles',
      );
      r.handoff = handoff;
      return r;
    } finally {
      await session.close().catch(() => undefined);
      c.close();
    }
  },

  /** `contenders` candidates campaign and resign in turn on one election. */
  async elect(ctx) {
    return contended(ctx, 'elect', async (c, session, w) => {
      const term = await c.election('bench/election').campaign(`candidate-${w}`, { session });
      return () => term.resign();
    });
  },

  /** Leader SIGKILL → next committed write, `trials` times (the member is restarted between trials). */
  async failover(ctx) {
    const latency = new Histogram();
    if (!ctx.cluster) return { workload: 'failover', ops: 0, errors: 0, seconds: 0, latency, unit: 'trials', firstError: 'needs a managed cluster (--compare or --start)' };
    const c = new Client({ endpoints: ctx.endpoints, dialTimeoutMs: 200 });
    const start = now();
    let errors = 0;
    try {
      for (let t = 0; t < ctx.trials; t++) {
        await c.put('bench/failover', 'before');
        const restart = await ctx.cluster.killLeader();
        const t0 = now();
        for (;;) {
          try {
            await c.put('bench/failover', `after-${t}`, { timeoutMs: 300 });
            break;
          } catch {
            if (now() - t0 > 30_000) {
              errors++;
              break;
            }
          }
        }
        latency.record((now() - t0) * 1000);
        ctx.onProgress?.((t + 1) / ctx.trials);
        await restart();
      }
    } finally {
      c.close();
    }
    return { workload: 'failover', ops: ctx.trials, errors, seconds: (now() - start) / 1000, latency, unit: 'trials' };
  },

  /** Lock holder process SIGKILLed → next holder (a waiting client here), `trials` times, lease TTL 2 s. */
  async 'lock-recovery'(ctx) {
    const latency = new Histogram();
    if (!ctx.cluster) return { workload: 'lock-recovery', ops: 0, errors: 0, seconds: 0, latency, unit: 'trials', firstError: 'needs a managed cluster (--compare or --start)' };
    const c = new Client({ endpoints: ctx.endpoints });
    const start = now();
    try {
      for (let t = 0; t < ctx.trials; t++) {
        const name = `bench/recovery/${t}-${Date.now()}`;
        const holder = await ctx.cluster.spawnHolder(name, 2);
        const waiting = c.lock.acquire(name, { ttl: 10 });
        // Kill only once our waiter is queued behind the holder.
        while ((await c.lock.status(name)).waiters.length < 1) await new Promise((r) => setTimeout(r, 5));
        const t0 = now();
        holder.kill();
        const h = await waiting;
        latency.record((now() - t0) * 1000);
        await h.release();
        await holder.done;
        ctx.onProgress?.((t + 1) / ctx.trials);
      }
    } finally {
      await c.lock.close();
      c.close();
    }
    return { workload: 'lock-recovery', ops: ctx.trials, errors: 0, seconds: (now() - start) / 1000, latency, unit: 'trials' };
  },
};

async function contended(
  ctx: WorkloadContext,
  workload: string,
  take: (c: Client, session: Awaited<ReturnType<Client['session']>>, worker: number) => Promise<() => Promise<void>>,
): Promise<WorkloadResult> {
  const clients = Array.from({ length: ctx.contenders }, () => new Client({ endpoints: ctx.endpoints }));
  const sessions = await Promise.all(clients.map((c) => c.session({ ttl: 30 })));
  const handoff = new Histogram();
  let releasedAt: number | undefined;
  try {
    const r = await closedLoop(
      ctx,
      workload,
      ctx.contenders,
      async (w) => {
        const release = await take(clients[w]!, sessions[w]!, w);
        const t = now();
        if (releasedAt !== undefined) handoff.record((t - releasedAt) * 1000);
        releasedAt = now();
        await release();
      },
      'cycles',
    );
    r.handoff = handoff;
    return r;
  } finally {
    await Promise.allSettled(sessions.map((s) => s.close()));
    for (const c of clients) c.close();
  }
}

export const DEFAULT_WORKLOADS = ['put', 'get', 'sget', 'txn', 'watch', 'keepalive', 'lock', 'lock-contended', 'lock-shared', 'elect'];
export const ALL_WORKLOADS = Object.keys(workloads);
