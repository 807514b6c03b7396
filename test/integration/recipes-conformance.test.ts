/**
 * The SDK's coordination recipes against a real etcd 3.4 and against latchkey: the same assertions on both
 * (TARGET=etcd or TARGET=latchkey runs one). Barrier, double barrier, semaphore, RW lock, queue, registry.
 *
 * Properties are checked on recorded histories with the checkers of test/checker/recipes.ts (overlapping
 * intervals on one monotonic clock, FIFO order, barrier phases, at-least-once acks), and each checker is shown to
 * fail on a live unsafe run at the end. Nothing waits on a timer for synchronization: tests wait for keys to
 * appear (watch-driven `waitCount`) or for the recipe's own promises; the only timers are the simulated work
 * inside critical sections and the lease TTLs of the crash tests (2–3 s).
 * The crash test runs test/dist/workers/queue-consumer.js: `npx tsc -b` first (npm test does). The RW lock
 * interop test builds test/go/rwmutex (etcd's own Go `recipes.RWMutex`, from Debian's golang-etcd-server-dev).
 */
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  BarrierHeldError,
  type BarrierRound,
  Client,
  type Delivery,
  type LockHold,
  LockLostError,
  Op,
  type Registration,
  type RegistrationState,
  SemaphoreLimitError,
  type ServiceSnapshot,
  TooManyParticipantsError,
} from '@latchkey/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../chaos/proxy.js';
import { checkBarrier, checkConcurrency, checkDeliveries, checkOrder, checkReadersWriters, type BarrierRecord, type Interval } from '../checker/recipes.js';
import { type Member, type MemberKind } from '../harness/processes.js';
import { Rng } from '../harness/random.js';
import { useMembers } from '../harness/vitest.js';

const targets: MemberKind[] = process.env['TARGET'] ? [process.env['TARGET'] as MemberKind] : ['etcd', 'latchkey'];
const here = path.dirname(fileURLToPath(import.meta.url));
const CONSUMER = path.resolve(here, '../dist/workers/queue-consumer.js');

/** Runs a process to completion, collecting its output. */
function runProcess(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const now = (): number => performance.now();
/** Simulated work inside a critical section (not synchronization). */
const work = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Tracked<T> {
  promise: Promise<T>;
  settled: () => boolean;
  /** When it settled (performance.now()). */
  at: () => number;
}

/** Tracks promise settlement without awaiting it. */
function track<T>(p: Promise<T>): Tracked<T> {
  let done = false;
  let when = 0;
  void p.then(
    () => ((done = true), (when = now())),
    () => ((done = true), (when = now())),
  );
  return { promise: p, settled: () => done, at: () => when };
}

describe.each(targets)('recipes conformance - %s', (kind) => {
  const members = useMembers({ scope: 'file' });
  let member: Member;
  let client: Client;
  const opened: Client[] = [];
  /** A new client (own connection, own sessions), closed after the file. */
  const fresh = (endpoint = member.endpoint): Client => {
    const c = new Client({ endpoints: [endpoint] });
    opened.push(c);
    return c;
  };

  /** Resolves once the number of keys under `prefix` satisfies `pred`; waits on watch events between reads. */
  async function waitCount(prefix: string, pred: (n: number) => boolean, timeoutMs = 15_000): Promise<number> {
    const signal = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const r = await client.range(prefix, { prefix: true, countOnly: true, signal });
      if (pred(Number(r.count))) return Number(r.count);
      for await (const ev of client.watch(prefix, { prefix: true, startRevision: r.header.revision + 1n, signal })) {
        void ev;
        break;
      }
      if (signal.aborted) throw new Error(`timed out waiting for the key count under ${prefix} (last ${r.count})`);
    }
  }

  /** Revokes a session's lease from another client: what the server does when the holder dies, minus the wait. */
  const kill = (leaseId: bigint): Promise<void> => client.leases.revoke(leaseId);
  const aborted = (s: AbortSignal): Promise<unknown> => new Promise((r) => (s.aborted ? r(s.reason) : s.addEventListener('abort', () => r(s.reason), { once: true })));

  beforeAll(async () => {
    member = await members.start({ kind });
    client = new Client({ endpoints: [member.endpoint] });
  }, 60_000);
  afterAll(async () => {
    for (const c of [...opened, client]) {
      await c?.lock.close();
      c?.close();
    }
  });

  it('barrier - open passes at once; held blocks every waiter until release; a dead holder opens it', async () => {
    const name = '/rc/barrier';
    await client.barrier(name).wait({ timeoutMs: 5_000 });
    const holder = fresh();
    const hold = await holder.barrier(name).hold({ ttl: 30 });
    expect(await client.barrier(name).isHeld()).toBe(true);
    await expect(client.barrier(name).hold({ ttl: 30 })).rejects.toBeInstanceOf(BarrierHeldError);

    for (const round of ['release', 'holder dies'] as const) {
      const h = round === 'release' ? hold : await holder.barrier(name).hold({ session: await holder.session({ ttl: 30 }) });
      const waiters = [0, 1, 2].map((i) => {
        const c = fresh();
        return { c, arrived: now(), w: track(c.barrier(name).wait({ timeoutMs: 15_000 })), who: `w${i}` };
      });
      // Each waiter's client answers a read after its wait() began reading: had wait() not blocked, it would be done.
      await Promise.all(waiters.map((x) => x.c.get(name)));
      expect(waiters.map((x) => x.w.settled())).toEqual([false, false, false]);
      const openedAt = now();
      if (round === 'release') await h.release();
      else await kill(h.leaseId);
      await Promise.all(waiters.map((x) => x.w.promise));
      // Every waiter passed after the barrier opened (the barrier checker with the opening as the last arrival).
      const records: BarrierRecord[] = [...waiters.map((x) => ({ who: x.who, arrived: x.arrived, passed: x.w.at() })), { who: 'open', arrived: openedAt, passed: openedAt }];
      expect(checkBarrier(records, 4)).toEqual([]);
      expect(await client.barrier(name).isHeld()).toBe(false);
    }
  }, 30_000);

  it('double barrier - nobody passes enter before the Nth arrives, nor leave before all left; dead participants do not block; rounds do not mix', async () => {
    const name = '/rc/dbar';
    const N = 3;
    const parts = [0, 1, 2, 3].map((i) => ({ who: `p${i}`, c: fresh() }));
    const sessions = await Promise.all(parts.map((p) => p.c.session({ ttl: 30 })));

    // Round 1: enter.
    const entering = parts.slice(0, N).map((p, i) => ({ ...p, arrived: 0, t: undefined as Tracked<BarrierRound> | undefined, i }));
    for (const p of entering) {
      p.arrived = now();
      p.t = track(p.c.doubleBarrier(name, N).enter({ session: sessions[p.i], timeoutMs: 15_000 }));
      if (p.i < N - 1) {
        await waitCount(`${name}/waiters/`, (n) => n === p.i + 1);
        expect(entering.map((q) => q.t?.settled() ?? false)).toEqual([false, false, false]);
      }
    }
    const rounds = await Promise.all(entering.map((p) => p.t!.promise));
    expect(checkBarrier(entering.map((p) => ({ who: p.who, arrived: p.arrived, passed: p.t!.at() })), N)).toEqual([]);
    expect(new Set(rounds.map((r) => r.round)).size).toBe(1);

    // A newcomer while round 1 is in progress waits for the next round (it does not join this one).
    const late = { arrived: now(), t: track(parts[3]!.c.doubleBarrier(name, N).enter({ session: sessions[3], timeoutMs: 20_000 })) };

    // Leave: the first two leave; nobody gets out until the third leaves too.
    const leaving = rounds.map((r, i) => ({ who: `p${i}`, arrived: 0, t: undefined as Tracked<void> | undefined, r }));
    for (const l of leaving.slice(0, 2)) {
      l.arrived = now();
      l.t = track(l.r.leave({ timeoutMs: 15_000 }));
    }
    // p1 (not the lowest) withdraws its key at once; p0 (the lowest) stays until the highest is gone.
    await waitCount(`${name}/waiters/`, (n) => n === 2);
    await Promise.all(parts.slice(0, 2).map((p) => p.c.get(name)));
    expect(leaving.slice(0, 2).map((l) => l.t!.settled())).toEqual([false, false]);
    leaving[2]!.arrived = now();
    leaving[2]!.t = track(leaving[2]!.r.leave({ timeoutMs: 15_000 }));
    await Promise.all(leaving.map((l) => l.t!.promise));
    expect(checkBarrier(leaving.map((l) => ({ who: l.who, arrived: l.arrived, passed: l.t!.at() })), N)).toEqual([]);

    // Round 2: the newcomer registered only after round 1 drained; two more join; one of them dies inside.
    await waitCount(`${name}/waiters/`, (n) => n === 1);
    expect(late.t.settled()).toBe(false);
    const s4 = await parts[0]!.c.session({ ttl: 30 });
    const s5 = await parts[1]!.c.session({ ttl: 30 });
    const [r4, r5, rLate] = await Promise.all([
      parts[0]!.c.doubleBarrier(name, N).enter({ session: s4, timeoutMs: 15_000 }),
      parts[1]!.c.doubleBarrier(name, N).enter({ session: s5, timeoutMs: 15_000 }),
      late.t.promise,
    ]);
    expect(rLate.round).toBe(r4.round);
    expect(r4.round > rounds[0]!.round).toBe(true);
    expect(late.t.at() > Math.max(...leaving.map((l) => l.t!.at()))).toBe(true);
    await kill(s5.leaseId); // r5 dies without leaving
    expect(await aborted(r5.signal)).toBeDefined();
    await Promise.all([r4.leave({ timeoutMs: 15_000 }), rLate.leave({ timeoutMs: 15_000 })]);
    await expect(r5.leave({ timeoutMs: 5_000 })).rejects.toBeInstanceOf(LockLostError);
    const st = await client.doubleBarrier(name, N).status();
    expect(st.waiters).toEqual([]);
    expect(st.ready).toBeUndefined();

    // A participant that dies before the round fills stops counting: two live + one dead never pass.
    const sDead = await parts[2]!.c.session({ ttl: 30 });
    const a = track(parts[0]!.c.doubleBarrier(name, N).enter({ session: s4, timeoutMs: 15_000 }));
    const dead = track(parts[2]!.c.doubleBarrier(name, N).enter({ session: sDead, timeoutMs: 15_000 }));
    await waitCount(`${name}/waiters/`, (n) => n === 2);
    await kill(sDead.leaseId);
    await expect(dead.promise).rejects.toThrow();
    await waitCount(`${name}/waiters/`, (n) => n === 1);
    const b = track(parts[1]!.c.doubleBarrier(name, N).enter({ session: await parts[1]!.c.session({ ttl: 30 }), timeoutMs: 15_000 }));
    await waitCount(`${name}/waiters/`, (n) => n === 2);
    await Promise.all(parts.slice(0, 2).map((p) => p.c.get(name)));
    expect([a.settled(), b.settled()]).toEqual([false, false]);
    const c = await parts[3]!.c.doubleBarrier(name, N).enter({ session: sessions[3], timeoutMs: 15_000 });
    const [ra, rb] = await Promise.all([a.promise, b.promise]);
    await Promise.all([ra.leave(), rb.leave(), c.leave()]);

    // Overflow: N keys registered for a forming round (as when registrations race past the count) leave no room;
    // the next registrant ranks past N, withdraws and gets TooManyParticipantsError.
    const foreign = await client.leases.grant(30);
    for (let i = 0; i < N; i++) await client.put(`${name}/waiters/foreign-${i}`, '', { lease: foreign.id });
    await expect(parts[0]!.c.doubleBarrier(name, N).enter({ session: s4, timeoutMs: 5_000 })).rejects.toBeInstanceOf(TooManyParticipantsError);
    expect((await client.doubleBarrier(name, N).status()).waiters).toHaveLength(N);
    await client.leases.revoke(foreign.id);
  }, 45_000);

  it('semaphore - N at once, FIFO hand-over, tryAcquire, cancel, loss, stored limit, and never more than N under contention', async () => {
    const name = '/rc/sem';
    const N = 3;
    const cs = [0, 1, 2, 3, 4, 5].map(() => fresh());
    const sem = (i: number) => cs[i]!.semaphore(name, N);
    // holders[0] lives on its own session: it is killed below.
    const holders = await Promise.all([0, 1, 2].map(async (i) => sem(i).acquire(i === 0 ? { session: await cs[0]!.session({ ttl: 30 }) } : { ttl: 30 })));
    const intervals: Interval[] = holders.map((_, i) => ({ who: `h${i}`, start: now(), end: 0 }));
    const tokens = holders.map((h) => h.fencingToken);
    expect(new Set(tokens).size).toBe(3);
    expect(await sem(3).tryAcquire({ ttl: 30 })).toBeUndefined();
    expect((await client.semaphore(name, N).status()).holders).toHaveLength(3);

    // Queue w3, a waiter that will cancel, then w4 and w5, in that order.
    const order: string[] = [];
    const waiting = new Map<string, Tracked<LockHold>>();
    const cancel = new AbortController();
    let cancelled!: Promise<LockHold>;
    for (const [who, i] of [['w3', 3], ['cancel', 3], ['w4', 4], ['w5', 5]] as const) {
      const before = (await client.semaphore(name, N).status()).waiters.length;
      if (who === 'cancel') cancelled = sem(i).acquire({ session: await cs[i]!.session({ ttl: 30 }), signal: cancel.signal });
      else waiting.set(who, track(sem(i).acquire({ ttl: 30 }).then((h) => (order.push(who), h))));
      await waitCount(`${name}/permits/`, (n) => n === N + before + 1);
    }
    cancel.abort();
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
    expect((await client.semaphore(name, N).status()).waiters).toHaveLength(3);

    // Releasing one holder admits exactly the head of the queue, in FIFO order.
    for (const iv of intervals) iv.end = now(); // the three held at once (each is released below, not before)
    await holders[1]!.release();
    const h3 = await waiting.get('w3')!.promise;
    expect(waiting.get('w4')!.settled()).toBe(false);
    // A holder whose session dies loses its permit (signal, guarded write) and the next waiter gets it.
    const victim = holders[0]!;
    const lost = victim.signal;
    await kill(victim.leaseId);
    expect(await aborted(lost)).toBeDefined();
    await expect(victim.put('/rc/sem-resource', 'stale')).rejects.toBeInstanceOf(LockLostError);
    const h4 = await waiting.get('w4')!.promise;
    await holders[2]!.release();
    const h5 = await waiting.get('w5')!.promise;
    expect(checkOrder(['w3', 'w4', 'w5'], order)).toEqual([]);
    expect(h5.fencingToken > h4.fencingToken && h4.fencingToken > h3.fencingToken).toBe(true);
    // Another permit count on a semaphore in use fails loudly.
    await expect(client.semaphore(name, 2).acquire({ ttl: 30, timeoutMs: 5_000 })).rejects.toBeInstanceOf(SemaphoreLimitError);
    await Promise.all([h3, h4, h5].map((h) => h.release()));

    // Contention: 6 clients x 6 cycles with simulated work; never more than N (and N was reached above).
    intervals.push(...await contend(cs, 6, async (c, who) => {
      const p = await c.semaphore(name, N).acquire({ ttl: 30 });
      const start = now();
      await work(3);
      const end = now();
      await p.release();
      return { who, start, end };
    }));
    const r = checkConcurrency(intervals, N);
    expect(r.violations).toEqual([]);
    expect(r.max).toBe(N);
    expect((await client.semaphore(name, N).status()).holders).toEqual([]);
  }, 45_000);

  it('rwlock - readers share, a writer excludes, a reader queues behind an earlier writer, and no writer overlaps anyone under contention', async () => {
    const name = '/rc/rw';
    const cs = [0, 1, 2, 3, 4, 5].map(() => fresh());
    const rw = (i: number) => cs[i]!.rwlock(name);
    const intervals: Interval[] = [];
    const r1 = await rw(0).read({ ttl: 30 });
    const r1Start = now();
    const r2 = await rw(1).read({ ttl: 30 });
    const r2Start = now();
    const w = track(rw(2).write({ ttl: 30 }));
    await waitCount(`${name}/`, (n) => n === 3);
    const r3 = track(rw(3).read({ ttl: 30 }));
    await waitCount(`${name}/`, (n) => n === 4);
    expect(await rw(4).tryRead({ ttl: 30 })).toBeUndefined();
    expect(await rw(4).tryWrite({ ttl: 30 })).toBeUndefined();
    await Promise.all([cs[2]!.get(name), cs[3]!.get(name)]);
    expect([w.settled(), r3.settled()]).toEqual([false, false]);
    intervals.push({ who: 'r1', kind: 'read', start: r1Start, end: now() });
    await r1.release();
    intervals.push({ who: 'r2', kind: 'read', start: r2Start, end: now() });
    await r2.release();
    const wh = await w.promise;
    const wStart = now();
    await cs[3]!.get(name);
    expect(r3.settled()).toBe(false);
    intervals.push({ who: 'w', kind: 'write', start: wStart, end: now() });
    await wh.release();
    const r3h = await r3.promise;
    intervals.push({ who: 'r3', kind: 'read', start: r3.at(), end: now() });
    await r3h.release();
    expect(wh.fencingToken > r2.fencingToken).toBe(true);

    // Contention: 6 clients x 6 cycles, a seeded mix of reads and writes.
    const rng = new Rng(7);
    const modes = cs.map(() => Array.from({ length: 6 }, () => (rng.next() < 0.35 ? 'write' : 'read') as 'read' | 'write'));
    intervals.push(
      ...(await contend(cs, 6, async (c, who, i, k) => {
        const mode = modes[i]![k]!;
        const h = mode === 'read' ? await c.rwlock(name).read({ ttl: 30 }) : await c.rwlock(name).write({ ttl: 30 });
        const start = now();
        await work(2);
        const end = now();
        await h.release();
        return { who, start, end, kind: mode };
      })),
    );
    const r = checkReadersWriters(intervals);
    expect(r.violations).toEqual([]);
    expect(r.maxReaders).toBeGreaterThanOrEqual(2);
    expect((await client.range(`${name}/`, { prefix: true, countOnly: true })).count).toBe(0n);
  }, 45_000);

  it('rwlock - interop with etcd Go recipes.RWMutex: Go and SDK writers lose no update, no reader of either sees a writer; unsafe Go writers do', async () => {
    const goBin = execFileSync(fileURLToPath(new URL('../go/rwmutex/build.sh', import.meta.url)), { encoding: 'utf8' }).trim();
    const name = '/rc/gorw';
    const counter = async (): Promise<number> => Number((await client.getString(`${name}-counter`)) ?? '0');
    const go = (mode: string, cycles: number, unsafe = false) =>
      runProcess(goBin, ['-endpoints', member.endpoint, '-name', name, '-mode', mode, '-cycles', String(cycles), ...(unsafe ? ['-unsafe'] : [])]);
    const cs = [0, 1, 2, 3].map(() => fresh());
    let oursTorn = 0;
    const ours = contend(cs, 10, async (c, _who, i) => {
      if (i < 2) {
        await c.rwlock(name).with('write', async () => {
          const n = Number((await c.getString(`${name}-counter`)) ?? '0');
          await work(2);
          await c.put(`${name}-counter`, String(n + 1));
        }, { ttl: 30 });
      } else {
        await c.rwlock(name).with('read', async () => {
          const a = await c.getString(`${name}-counter`);
          await work(2);
          if ((await c.getString(`${name}-counter`)) !== a) oursTorn++;
        }, { ttl: 30 });
      }
    });
    const procs = await Promise.all([go('write', 10), go('write', 10), go('read', 10), go('read', 10)]);
    await ours;
    for (const p of procs) expect(p.code, p.stderr).toBe(0);
    const lines = procs.flatMap((p) => p.stdout.trim().split('\n')).map((l) => JSON.parse(l) as { mode: string; torn: boolean });
    expect(lines).toHaveLength(40);
    expect(lines.filter((l) => l.torn)).toEqual([]);
    expect(oursTorn).toBe(0);
    expect(await counter()).toBe(40);
    // Negative control: Go writers skipping the lock lose updates (the counter check can fail).
    await client.delete(`${name}-counter`);
    await Promise.all([go('write', 40, true), go('write', 40, true), go('write', 40, true)]);
    expect(await counter()).toBeLessThan(120);
  }, 60_000);

  it('queue - FIFO and priority order, blocked consumers served in order, ack with writes, release and lost claims redeliver', async () => {
    const q = client.queue('/rc/q');
    const ids: string[] = [];
    for (const v of ['a', 'b', 'c', 'd']) ids.push((await q.enqueue(v)).id);
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      const d = (await q.tryDequeue({ ttl: 30 }))!;
      got.push(d.text);
      await d.ack();
    }
    expect(checkOrder(['a', 'b', 'c', 'd'], got)).toEqual([]);
    expect(await q.tryDequeue({ ttl: 30 })).toBeUndefined();

    for (const [v, priority] of [['low1', 0], ['high1', 9], ['low2', 0], ['mid', 5], ['high2', 9]] as const) await q.enqueue(v, { priority });
    const byPriority: string[] = [];
    for (let i = 0; i < 5; i++) {
      const d = await q.dequeue({ ttl: 30, timeoutMs: 5_000 });
      byPriority.push(d.text);
      await d.ack();
    }
    expect(checkOrder(['high1', 'high2', 'mid', 'low1', 'low2'], byPriority)).toEqual([]);

    // Two consumers block on the empty queue; enqueues are served to them in the order they started waiting.
    const [c1, c2] = [fresh(), fresh()];
    const first = track(c1.queue('/rc/q').dequeue({ ttl: 30, timeoutMs: 15_000 }));
    await waitCount('/rc/q/waiters/', (n) => n === 1);
    const second = track(c2.queue('/rc/q').dequeue({ ttl: 30, timeoutMs: 15_000 }));
    await waitCount('/rc/q/waiters/', (n) => n === 2);
    await q.enqueue('x');
    const dx = await first.promise;
    expect(dx.text).toBe('x');
    await c2.get('/rc/q');
    expect(second.settled()).toBe(false);
    await q.enqueue('y');
    const dy = await second.promise;
    expect(dy.text).toBe('y');
    expect((await q.stats()).waitingConsumers).toBe(0n);

    // Ack with the consumer's writes: both commit, once.
    await dx.ack({ ops: [Op.put('/rc/q-result/x', 'done')] });
    expect(await client.getString('/rc/q-result/x')).toBe('done');
    await expect(dx.ack()).rejects.toBeInstanceOf(LockLostError);

    // Release gives the item back; it comes next, with attempt 2.
    await dy.release();
    const dy2 = await q.dequeue({ ttl: 30, timeoutMs: 5_000 });
    expect([dy2.id, dy2.text, dy2.attempt]).toEqual([dy.id, 'y', 2]);

    // A consumer whose session dies loses its claim: the item goes to another consumer, the stale ack fails,
    // and the result it tried to write with the ack never lands.
    const sDying = await c1.session({ ttl: 30 });
    await q.enqueue('z');
    await dy2.ack();
    const dz = await c1.queue('/rc/q').dequeue({ session: sDying, timeoutMs: 5_000 });
    const lostSignal = dz.signal;
    await kill(sDying.leaseId);
    expect(await aborted(lostSignal)).toBeDefined();
    const dz2 = await c2.queue('/rc/q').dequeue({ ttl: 30, timeoutMs: 5_000 });
    expect([dz2.id, dz2.attempt]).toEqual([dz.id, 2]);
    expect(dz2.fencingToken > dz.fencingToken).toBe(true);
    await expect(dz.ack({ ops: [Op.put('/rc/q-result/z', 'stale')] })).rejects.toBeInstanceOf(LockLostError);
    await dz2.ack({ ops: [Op.put('/rc/q-result/z', 'fresh')] });
    expect(await client.getString('/rc/q-result/z')).toBe('fresh');
    const st = await q.stats();
    expect([st.available, st.inflight, st.orphaned]).toEqual([0n, 0, 0]);
  }, 30_000);

  it('queue - items taken by consumers that die mid-item (SIGKILL, lease loss) are delivered again and acked exactly once', async () => {
    const name = '/rc/qcrash';
    const q = client.queue(name);
    const enqueued: string[] = [];
    for (let i = 0; i < 24; i++) enqueued.push((await q.enqueue(`job-${i}`)).id);

    // A consumer process takes two items and is SIGKILLed while holding them.
    const child = spawn(process.execPath, [CONSUMER, '--endpoints', member.endpoint, '--name', name, '--ttl', '2', '--take', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const taken: Array<{ id: string; attempt: number }> = [];
    try {
      for await (const line of createInterface({ input: child.stdout! })) {
        const ev = JSON.parse(line) as { ev: string; id: string; attempt: number };
        if (ev.ev === 'taken') taken.push(ev);
        if (taken.length === 2) break;
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(taken.map((t) => t.attempt)).toEqual([1, 1]);

    // Three in-process consumers; each "dies" (its session lease revoked) once, mid-item, without acking.
    // They block on the queue until every item is acked (the dead process's items come back after its TTL).
    const acked: string[] = [];
    const abandoned: string[] = [];
    const attempts = new Map<string, number>();
    const drained = new AbortController();
    const cs = [fresh(), fresh(), fresh()];
    await Promise.all(
      cs.map(async (c, i) => {
        let session = await c.session({ ttl: 30 });
        let died = false;
        for (;;) {
          let d: Delivery;
          try {
            d = await c.queue(name).dequeue({ session, signal: AbortSignal.any([drained.signal, AbortSignal.timeout(20_000)]) });
          } catch (err) {
            if (drained.signal.aborted) return;
            throw err;
          }
          attempts.set(d.id, Math.max(attempts.get(d.id) ?? 0, d.attempt));
          if (!died && acked.length >= i * 4) {
            died = true;
            abandoned.push(d.id);
            await kill(session.leaseId);
            await aborted(d.signal);
            await expect(d.ack()).rejects.toBeInstanceOf(LockLostError);
            session = await c.session({ ttl: 30 });
            continue;
          }
          await work(1);
          await d.ack();
          acked.push(d.id);
          if (acked.length === enqueued.length) drained.abort();
        }
      }),
    );
    const r = checkDeliveries(enqueued, acked);
    expect(r.violations).toEqual([]);
    // Every item a consumer died holding came back (attempt ≥ 2) and was acked once (checked above).
    expect(abandoned.length).toBeGreaterThanOrEqual(1); // consumer 0 dies on its first item
    for (const id of [...taken.map((t) => t.id), ...abandoned]) expect(attempts.get(id)).toBeGreaterThanOrEqual(2);
    const st = await q.stats();
    expect([st.available, st.inflight]).toEqual([0n, 0]);
  }, 45_000);

  it('registry - the live set converges after an instance lease is revoked, re-registers, is deleted and closes; pick strategies', async () => {
    const service = '/rc/svc/api';
    const regClients = [0, 1, 2].map(() => fresh());
    const regs: Registration[] = await Promise.all(
      regClients.map((c, i) => c.registry.register(service, { id: `i${i}`, addr: `10.0.0.${i}:80`, metadata: { zone: i % 2 ? 'b' : 'a' } }, { ttl: 3, timeoutMs: 10_000 })),
    );
    const set = client.registry.discover(service);
    const ids = (s: ServiceSnapshot): string => s.instances.map((x) => x.id).join(',');
    const seen: string[] = [];
    const watching = (async () => {
      for await (const s of set) seen.push(ids(s));
    })();
    expect(ids(await set.waitFor((s) => s.instances.length === 3, { timeoutMs: 10_000 }))).toBe('i0,i1,i2');
    expect(set.instances[1]).toEqual({ id: 'i1', addr: '10.0.0.1:80', metadata: { zone: 'b' } });
    const rr = Array.from({ length: 6 }, () => set.pick('round-robin')!.id);
    expect(rr.slice(0, 3).sort()).toEqual(['i0', 'i1', 'i2']);
    expect(rr.slice(3)).toEqual(rr.slice(0, 3));
    for (let i = 0; i < 20; i++) expect(['i0', 'i1', 'i2']).toContain(set.pick('random')!.id);

    // Lease revoked (the instance's session dies): gone from the set, then back on a new lease.
    const states: RegistrationState[] = [];
    regs[1]!.onStateChange((s) => states.push(s));
    const oldLease = regs[1]!.leaseId!;
    await kill(oldLease);
    await set.waitFor((s) => ids(s) === 'i0,i2', { timeoutMs: 10_000 });
    await set.waitFor((s) => ids(s) === 'i0,i1,i2', { timeoutMs: 10_000 });
    await regs[1]!.registered({ timeoutMs: 5_000 });
    expect(states).toEqual(['lost', 'registered']);
    expect(regs[1]!.registrations).toBe(2);
    expect(regs[1]!.leaseId).not.toBe(oldLease);
    expect((await client.get(`${service}/i1`))!.lease).toBe(regs[1]!.leaseId);

    // Key deleted by someone else while the lease lives: written again.
    const del = await client.delete(`${service}/i2`);
    await set.waitFor((s) => s.revision > del.header.revision && ids(s) === 'i0,i1,i2', { timeoutMs: 10_000 });
    expect((await client.get(`${service}/i2`))!.createRevision > del.header.revision).toBe(true);

    // Closed: deleted at once, lease revoked.
    await regs[0]!.close();
    await set.waitFor((s) => ids(s) === 'i1,i2', { timeoutMs: 10_000 });
    expect(regs[0]!.state).toBe('closed');
    expect(await client.registry.list(service)).toEqual([
      { id: 'i1', addr: '10.0.0.1:80', metadata: { zone: 'b' } },
      { id: 'i2', addr: '10.0.0.2:80', metadata: { zone: 'a' } },
    ]);
    set.close();
    await watching;
    // The iterator saw the convergence steps in order (a slow reader may skip intermediate snapshots).
    expect(seen.at(-1)).toBe('i1,i2');
    expect(seen.indexOf('i0,i2')).toBeLessThan(seen.lastIndexOf('i0,i1,i2'));
    await Promise.all(regs.map((r) => r.close()));
  }, 30_000);

  it('registry - a live set whose watch missed compacted history re-reads and reports it; updates and plain values', async () => {
    const service = '/rc/svc/db';
    const proxy = await FaultProxy.start({ name: 'rc-proxy', target: member.clientPort });
    try {
      const viaProxy = fresh(proxy.endpoint);
      const r0 = await client.registry.register(service, { id: 'a', addr: 'a:1' }, { ttl: 30 });
      const set = viaProxy.registry.discover(service);
      await set.waitFor((s) => s.instances.length === 1, { timeoutMs: 10_000 });
      expect(set.current.resynced).toBe(false);
      // Cut the set's connection, change the service, compact the history it would resume from, heal.
      proxy.setFault('*', { kind: 'cut' });
      await r0.update({ addr: 'a:2' });
      const r1 = await client.registry.register(service, { id: 'b', addr: 'b:1' }, { ttl: 30 });
      await client.put(`${service}/plain`, 'c:1'); // a plain-text value is the address
      const last = await client.put('/rc/svc/other', 'x');
      await client.compact(last.header.revision);
      proxy.heal();
      const s = await set.waitFor((x) => x.instances.length === 3, { timeoutMs: 15_000 });
      expect(s.instances).toEqual([
        { id: 'a', addr: 'a:2' },
        { id: 'b', addr: 'b:1' },
        { id: 'plain', addr: 'c:1' },
      ]);
      expect(s.resynced).toBe(true);
      expect(set.resyncs).toBeGreaterThanOrEqual(1);
      // And it keeps following changes after the re-read.
      await r1.close();
      await set.waitFor((x) => x.instances.length === 2 && !x.resynced, { timeoutMs: 10_000 });
      set.close();
      await r0.close();
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it('negative controls - the checkers fail on live unsafe runs: N+1 permits, readers checked as writers, at-most-once taking, a static list, a wait that does not block, priority order checked as FIFO', async () => {
    // Semaphore: three clients that believe in 3 permits, all holding at once, checked against a limit of 2.
    const cs = [0, 1, 2].map(() => fresh());
    const permits = await Promise.all(cs.map((c) => c.semaphore('/rc/neg/sem', 3).acquire({ ttl: 30 })));
    const semIntervals = permits.map((_, i) => ({ who: `c${i}`, start: now(), end: 0 }));
    for (const iv of semIntervals) iv.end = now();
    await Promise.all(permits.map((p) => p.release()));
    expect(checkConcurrency(semIntervals, 2).violations.length).toBeGreaterThan(0);

    // RW lock: "writers" that only take the read lock, all holding at once, overlap each other.
    const reads = await Promise.all(cs.map((c) => c.rwlock('/rc/neg/rw').read({ ttl: 30 })));
    const rwIntervals = reads.map((_, i) => ({ who: `c${i}`, start: now(), end: 0, kind: 'write' as const }));
    for (const iv of rwIntervals) iv.end = now();
    await Promise.all(reads.map((h) => h.release()));
    expect(checkReadersWriters(rwIntervals).violations.length).toBeGreaterThan(0);

    // Queue: etcd's recipe takes an item by deleting it; a consumer that dies after the delete loses it.
    const name = '/rc/neg/q';
    const enqueued = [(await client.queue(name).enqueue('lost')).id, (await client.queue(name).enqueue('kept')).id];
    const oldest = (await client.range(`${name}/items/`, { prefix: true, sort: { target: 'create', order: 'ascend' }, limit: 1 })).kvs[0]!;
    await client.delete(oldest.key); // taken at-most-once, then the consumer "dies"
    const acked: string[] = [];
    for (;;) {
      const d = await client.queue(name).tryDequeue({ ttl: 30 });
      if (!d) break;
      acked.push(d.id);
      await d.ack();
    }
    const r = checkDeliveries(enqueued, acked);
    expect(r.missing).toEqual([enqueued[0]]);

    // Registry: a list read once does not follow a revoked instance (the live set does; see above).
    const reg = await fresh().registry.register('/rc/neg/svc', { id: 'gone', addr: 'x' }, { ttl: 30 });
    const staticList = await client.registry.list('/rc/neg/svc');
    const live = client.registry.discover('/rc/neg/svc');
    await live.ready({ timeoutMs: 5_000 });
    await reg.close();
    await live.waitFor((s) => s.instances.length === 0, { timeoutMs: 5_000 });
    expect(staticList.map((x) => x.id)).not.toEqual(live.instances.map((x) => x.id));
    live.close();

    // Barrier: a "wait" that only checks once (returns while the barrier is still held) fails the barrier check.
    const hold = await fresh().barrier('/rc/neg/barrier').hold({ ttl: 30 });
    const arrived = now();
    await fresh().barrier('/rc/neg/barrier').isHeld(); // the broken wait: look, and go
    const passed = now();
    const openedAt = now();
    await hold.release();
    expect(checkBarrier([{ who: 'broken', arrived, passed }, { who: 'open', arrived: openedAt, passed: openedAt }], 2).length).toBeGreaterThan(0);

    // Order: a priority queue's output is not FIFO, and the order check says so.
    const pq = client.queue('/rc/neg/pq');
    await pq.enqueue('first', { priority: 0 });
    await pq.enqueue('second', { priority: 1 });
    const out: string[] = [];
    for (let d = await pq.tryDequeue({ ttl: 30 }); d; d = await pq.tryDequeue({ ttl: 30 })) {
      out.push(d.text);
      await d.ack();
    }
    expect(checkOrder(['first', 'second'], out)).toHaveLength(1);
  }, 45_000);
});

/**
 * Runs `cycles` rounds of `fn` on every client concurrently and returns what each call recorded.
 * `fn(client, who, clientIndex, cycle)`.
 */
async function contend<T>(cs: Client[], cycles: number, fn: (c: Client, who: string, i: number, k: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  await Promise.all(
    cs.map(async (c, i) => {
      for (let k = 0; k < cycles; k++) out.push(await fn(c, `c${i}#${k}`, i, k));
    }),
  );
  return out;
}
