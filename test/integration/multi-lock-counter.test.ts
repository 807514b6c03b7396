/**
 * `client.lock.acquireAll` (several locks as one) and `client.counter` (a CAS counter), against a real etcd 3.4 and
 * against latchkey, the same assertions on both:
 * - multi-locks take names in one order whatever order they are asked in, so a set asked for as [b, a] waits
 *   for a without holding b, and overlapping sets taken concurrently finish with each lock held by one at a time;
 * - all or nothing: a deadline while waiting for a later lock releases the earlier ones;
 * - a multi-lock's guarded write commits only while every lock is held;
 * - concurrent increments from several clients lose no update; compare-and-set, set, decrement; a non-integer
 *   value fails the call without writing.
 */
import { Client, DeadlineExceededError, InvalidArgumentError, LockLostError, Op } from '@latchkey/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConcurrency, type Interval } from '../checker/recipes.js';
import { type Member, type MemberKind } from '../harness/processes.js';
import { useMembers } from '../harness/vitest.js';
import { until } from '../harness/wait.js';

const targets: MemberKind[] = process.env['TARGET'] ? [process.env['TARGET'] as MemberKind] : ['etcd', 'latchkey'];
const members = useMembers({ scope: 'file' });

describe.each(targets)('multi-lock and counter against %s', (kind) => {
  let member: Member;
  const clients: Client[] = [];
  const fresh = (): Client => {
    const c = new Client({ endpoints: [member.endpoint] });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    member = await members.start({ kind });
  }, 30_000);
  afterAll(async () => {
    for (const c of clients) {
      await c.lock.close();
      c.close();
    }
  });

  it('multi-lock - [b, a] waits for a while holding nothing; overlapping sets taken concurrently never share a lock', async () => {
    const [a, b] = [fresh(), fresh()];
    const held = await a.lock.acquireAll(['/ml/a', '/ml/b']);
    expect(held.names).toEqual(['/ml/a', '/ml/b']);
    const waiting = b.lock.acquireAll(['/ml/b', '/ml/a']);
    // b queues on /ml/a (the first in byte order), not on /ml/b.
    await until(async () => (await a.lock.status('/ml/a')).waiters.length === 1, 'b to queue on /ml/a', 10_000);
    expect((await a.lock.status('/ml/b')).waiters).toEqual([]);
    await held.release();
    const got = await waiting;
    expect(got.names).toEqual(['/ml/a', '/ml/b']);
    expect([...got.fencingTokens.values()].every((t) => t > 0n)).toBe(true);
    await got.release();

    // Concurrent overlapping sets, asked for in opposite orders: all finish, and each lock has one holder at a time.
    const intervals: Record<string, Interval[]> = { '/ml/a': [], '/ml/b': [], '/ml/c': [] };
    const worker = async (c: Client, who: string, names: string[]) => {
      for (let i = 0; i < 8; i++) {
        const h = await c.lock.acquireAll(names, { timeoutMs: 20_000 });
        const start = performance.now();
        await new Promise((r) => setImmediate(r)); // the critical section spans a turn of the event loop
        const end = performance.now();
        for (const n of h.names) intervals[n]!.push({ who: `${who}#${i}`, start, end });
        await h.release();
      }
    };
    await Promise.all([worker(a, 'x', ['/ml/a', '/ml/b']), worker(b, 'y', ['/ml/b', '/ml/a']), worker(fresh(), 'z', ['/ml/c', '/ml/b'])]);
    for (const [name, list] of Object.entries(intervals)) {
      expect(checkConcurrency(list, 1).violations, name).toEqual([]);
    }
    expect(intervals['/ml/b']).toHaveLength(24);
  }, 60_000);

  it('multi-lock - a deadline while waiting for a later lock releases the earlier ones', async () => {
    const [holder, other] = [fresh(), fresh()];
    const b = await holder.lock.acquire('/ml2/b');
    await expect(other.lock.acquireAll(['/ml2/a', '/ml2/b'], { timeoutMs: 800 })).rejects.toBeInstanceOf(DeadlineExceededError);
    const [sa, sb] = await Promise.all([holder.lock.status('/ml2/a'), holder.lock.status('/ml2/b')]);
    expect(sa.holder).toBeUndefined();
    expect(sb.waiters).toEqual([]);
    await b.release();
  }, 30_000);

  it('multi-lock - a guarded write commits only while every lock is held; losing one aborts the signal', async () => {
    const c = fresh();
    const h = await c.lock.acquireAll(['/ml3/a', '/ml3/b']);
    await h.guard([Op.put('/ml3/data', 'one')]);
    expect(await c.getString('/ml3/data')).toBe('one');
    const signal = h.signal;
    await fresh().delete(h.holds[1]!.key); // someone removes one lock key
    await expect(h.guard([Op.put('/ml3/data', 'two')])).rejects.toBeInstanceOf(LockLostError);
    expect(await c.getString('/ml3/data')).toBe('one');
    await until(() => signal.aborted, 'the multi-lock signal to abort', 10_000);
    expect(signal.reason).toBeInstanceOf(LockLostError);
    await h.release();
  }, 30_000);

  it('counter - concurrent increments from four clients lose no update', async () => {
    const cs = [fresh(), fresh(), fresh(), fresh()];
    await Promise.all(cs.map(async (c) => {
      for (let i = 0; i < 25; i++) await c.counter('/cnt/jobs').increment();
    }));
    expect(await cs[0]!.counter('/cnt/jobs').get()).toBe(100n);
    expect(await cs[1]!.getString('/cnt/jobs')).toBe('100'); // decimal text: etcdctl reads the same number
  }, 60_000);

  it('counter - compareAndSet, set, add and decrement; a non-integer value fails without writing', async () => {
    const c = fresh();
    const n = c.counter('/cnt/misc');
    expect(await n.get()).toBe(0n);
    expect(await n.compareAndSet(1n, 5n)).toBe(false);
    expect(await n.compareAndSet(0n, 5n)).toBe(true);
    expect(await n.set(10n)).toBe(5n);
    expect(await n.add(-3)).toBe(7n);
    expect(await n.decrement()).toBe(6n);
    await expect(n.add(2n ** 63n)).rejects.toBeInstanceOf(InvalidArgumentError);
    await c.put('/cnt/bad', 'twelve');
    const before = (await c.get('/cnt/bad'))!.modRevision;
    await expect(c.counter('/cnt/bad').increment()).rejects.toThrow(/holds "twelve", not a decimal integer/);
    expect((await c.get('/cnt/bad'))!.modRevision).toBe(before);
  }, 30_000);
});
