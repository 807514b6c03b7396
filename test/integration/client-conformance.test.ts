/**
 * `@latchkey/client` against a real etcd 3.4 and against latchkey: the same assertions on both (TARGET=etcd or
 * TARGET=latchkey runs one). KV, txn, namespaces, typed errors, watch replay/resume/compaction, leases, session
 * loss, and the lock and election recipes (FIFO order, cancellation, tryAcquire, loss detection, observe).
 */
import { Client, CompactedError, Cmp, LeaseNotFoundError, type LockHold, LockLostError, NoLeaderError, Op, type WatchEvent } from '@latchkey/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Member, type MemberKind } from '../harness/processes.js';
import { useMembers } from '../harness/vitest.js';

const targets: MemberKind[] = process.env['TARGET'] ? [process.env['TARGET'] as MemberKind] : ['etcd', 'latchkey'];

/** Resolves with the first `n` events of `iter`, then stops iterating. */
async function take(iter: AsyncIterable<WatchEvent>, n: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  if (n === 0) return out;
  for await (const ev of iter) {
    out.push(ev);
    if (out.length === n) break;
  }
  return out;
}

describe.each(targets)('client conformance - %s', (kind) => {
  const members = useMembers({ scope: 'file' });
  let member: Member;
  let client: Client;
  beforeAll(async () => {
    member = await members.start({ kind });
    client = new Client({ endpoints: [member.endpoint] });
  }, 60_000);
  afterAll(async () => {
    await client?.lock.close();
    client?.close();
  });

  it('kv: put, get, range with prefix and limit, delete with prevKv, namespaces', async () => {
    await client.put('kv/a', '1');
    await client.put('kv/b', '2');
    const put = await client.put('kv/c', '3', { prevKv: true });
    expect(put.prevKv).toBeUndefined();
    expect(await client.getString('kv/a')).toBe('1');
    const r = await client.range('kv/', { prefix: true, limit: 2 });
    expect(r.kvs.map((kv) => Buffer.from(kv.key).toString())).toEqual(['kv/a', 'kv/b']);
    expect(r.more).toBe(true);
    expect(r.count).toBe(3n);
    const ns = client.namespace('kv/');
    expect(await ns.getAll('')).toEqual(new Map([['a', '1'], ['b', '2'], ['c', '3']]));
    await ns.put('d', '4');
    expect(await client.getString('kv/d')).toBe('4');
    const del = await client.delete('kv/', { prefix: true, prevKv: true });
    expect(del.deleted).toBe(4n);
    expect(del.prevKvs.map((kv) => Buffer.from(kv.value).toString()).sort()).toEqual(['1', '2', '3', '4']);
    expect(await client.get('kv/a')).toBeUndefined();
  });

  it('kv: credentials for a cluster without authentication are not an error (as clientv3)', async () => {
    const withAuth = new Client({ endpoints: [member.endpoint], auth: { username: 'nobody', password: 'x' } });
    try {
      await withAuth.put('cc/auth-off', 'v');
      expect(await withAuth.getString('cc/auth-off')).toBe('v');
    } finally {
      withAuth.close();
    }
  });

  it('txn: both branches, nested txn, typed errors for bad requests', async () => {
    const ok = await client.txn().if(Cmp.absent('txn/k')).success(Op.put('txn/k', 'v'), Op.get('txn/k')).failure(Op.get('txn/k')).commit();
    expect(ok.succeeded).toBe(true);
    expect(ok.responses.map((x) => x.type)).toEqual(['put', 'range']);
    const no = await client.txn().if(Cmp.absent('txn/k')).success(Op.put('txn/k', 'w')).failure(Op.get('txn/k')).commit();
    expect(no.succeeded).toBe(false);
    const got = no.responses[0]!;
    expect(got.type === 'range' && Buffer.from(got.kvs[0]!.value).toString()).toBe('v');
    const nested = await client.txn().if(Cmp.value('txn/k', '=', 'v')).success(Op.txn([Cmp.version('txn/k', '=', 1)], [Op.put('txn/k2', 'x')])).commit();
    expect(nested.responses[0]!.type === 'txn' && nested.responses[0]!.succeeded).toBe(true);
    await expect(client.put('', 'x')).rejects.toMatchObject({ name: 'InvalidArgumentError', message: 'etcdserver: key is not provided' });
    await expect(client.txn().success(Op.put('d', '1'), Op.put('d', '2')).commit()).rejects.toMatchObject({ message: 'etcdserver: duplicate key given in txn request' });
  });

  it('watch: history replay then live events, exactly once, through a member restart', async () => {
    const first = await client.put('w/1', 'a');
    await client.put('w/2', 'b');
    const ac = new AbortController();
    const w = client.watch('w/', { prefix: true, startRevision: first.header.revision, signal: ac.signal });
    const events: WatchEvent[] = [];
    const it2 = w[Symbol.asyncIterator]();
    for (let i = 0; i < 2; i++) events.push((await it2.next()).value as WatchEvent);
    await member.restart({ waitHealthy: true });
    await client.put('w/3', 'c');
    await client.delete('w/1');
    for (let i = 0; i < 2; i++) events.push((await it2.next()).value as WatchEvent);
    ac.abort();
    expect(events.map((e) => `${e.type} ${e.key} ${e.value}`)).toEqual(['put w/1 a', 'put w/2 b', 'put w/3 c', 'delete w/1 ']);
    const revs = events.map((e) => e.revision);
    expect([...revs].sort((a, b) => (a < b ? -1 : 1))).toEqual(revs);
    expect((await it2.next()).done).toBe(true);
  }, 60_000);

  it('watch: a compacted start revision ends the watch with CompactedError', async () => {
    const a = await client.put('wc/k', '1');
    const b = await client.put('wc/k', '2');
    await client.compact(b.header.revision);
    const w = client.watch('wc/k', { startRevision: a.header.revision });
    const err = await take(w, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompactedError);
    expect((err as CompactedError).compactRevision).toBe(b.header.revision);
  });

  it('lease: grant, time-to-live with keys, keep-alive, revoke, unknown lease answers', async () => {
    const l = await client.leases.grant(30);
    await client.put('lease/k', 'v', { lease: l.id });
    const t = await client.leases.timeToLive(l.id, { keys: true });
    expect(t.grantedTtl).toBe(30n);
    expect(t.keys).toEqual(['lease/k']);
    expect(await client.leases.keepAliveOnce(l.id)).toBe(30n);
    expect(await client.leases.list()).toContain(l.id);
    await client.leases.revoke(l.id);
    expect(await client.get('lease/k')).toBeUndefined();
    expect((await client.leases.timeToLive(l.id)).ttl).toBe(-1n);
    expect(await client.leases.keepAliveOnce(l.id)).toBe(0n);
    await expect(client.leases.revoke(l.id)).rejects.toBeInstanceOf(LeaseNotFoundError);
  });

  it('session: revoking its lease elsewhere aborts session.signal', async () => {
    const s = await client.session({ ttl: 6 });
    expect(s.state).toBe('live');
    const other = new Client({ endpoints: [member.endpoint] });
    await other.leases.revoke(s.leaseId);
    other.close();
    // The next keep-alive answer (within ttl/3 = 2 s) reports TTL 0.
    await new Promise<void>((resolve) => (s.signal.aborted ? resolve() : s.signal.addEventListener('abort', () => resolve())));
    expect(s.state).toBe('expired');
    expect((s.signal.reason as Error).name).toBe('SessionExpiredError');
  }, 30_000);

  it('session: a lock or campaign refused with "lease not found" ends the default session; the next call gets a new one', async () => {
    const c = new Client({ endpoints: [member.endpoint] });
    try {
      for (const kind of ['lock', 'election'] as const) {
        const name = `lnf/${kind}`;
        const run = async (): Promise<void> => {
          if (kind === 'lock') await (await c.lock.acquire(name, { ttl: 60 })).release();
          else await (await c.election(name).campaign('v', { ttl: 60 })).resign();
        };
        await run();
        const s = await c.lock.defaultSession(60, {});
        // Revoked behind the session's back: its next keep-alive is ~20 s away, so only the refused write can tell.
        await client.leases.revoke(s.leaseId);
        expect(s.state).toBe('live');
        const err = await run().then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        expect(err?.name, kind).toBe('SessionExpiredError');
        expect(s.state).toBe('expired');
        await run(); // a fresh default session
        expect((await c.lock.defaultSession(60, {})).leaseId).not.toBe(s.leaseId);
      }
    } finally {
      await c.lock.close();
      c.close();
    }
  }, 30_000);

  it('lock: FIFO across clients, cancellation removes the waiter, tryAcquire, loss detection', async () => {
    const name = '/conf/lock';
    const clients = [0, 1, 2].map(() => new Client({ endpoints: [member.endpoint] }));
    try {
      const first = await clients[0]!.lock.acquire(name, { ttl: 30 });
      const order: number[] = [];
      const waiting: Promise<LockHold>[] = [];
      // Queue client 1, then client 2, before the first release (the queue is visible as keys).
      for (const i of [1, 2]) {
        waiting.push(clients[i]!.lock.acquire(name, { ttl: 30 }).then((h) => (order.push(i), h)));
        while ((await client.lock.status(name)).waiters.length < i) await new Promise((r) => setTimeout(r, 10));
      }
      expect(await client.lock.tryAcquire(name)).toBeUndefined();
      const cancelled = new AbortController();
      const cancelledWait = clients[0]!.lock.acquire(name, { ttl: 30, session: await clients[0]!.session({ ttl: 30 }), signal: cancelled.signal });
      while ((await client.lock.status(name)).waiters.length < 3) await new Promise((r) => setTimeout(r, 10));
      cancelled.abort();
      await expect(cancelledWait).rejects.toMatchObject({ name: 'AbortError' });
      expect((await client.lock.status(name)).waiters.length).toBe(2);
      await first.release();
      const h1 = await waiting[0]!;
      await h1.release();
      const h2 = await waiting[1]!;
      expect(order).toEqual([1, 2]);
      expect(h2.fencingToken > h1.fencingToken && h1.fencingToken > first.fencingToken).toBe(true);
      // Someone deletes the holder's key: its signal aborts and guarded writes fail.
      const signal = h2.signal;
      await client.delete(h2.key);
      await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve())));
      expect(signal.reason).toBeInstanceOf(LockLostError);
      await expect(h2.put('/conf/resource', 'x')).rejects.toBeInstanceOf(LockLostError);
      expect(await client.get('/conf/resource')).toBeUndefined();
    } finally {
      for (const c of clients) {
        await c.lock.close();
        c.close();
      }
    }
  }, 30_000);

  it('election: no leader, campaign, observe, proclaim, resign hands over', async () => {
    const name = '/conf/election';
    const a = new Client({ endpoints: [member.endpoint] });
    const b = new Client({ endpoints: [member.endpoint] });
    try {
      await expect(client.election(name).leader()).rejects.toBeInstanceOf(NoLeaderError);
      const ac = new AbortController();
      const seen: string[] = [];
      let sawB!: () => void;
      const bLeads = new Promise<void>((r) => (sawB = r));
      let sawA2!: () => void;
      const a2Seen = new Promise<void>((r) => (sawA2 = r));
      const observing = (async () => {
        for await (const o of client.election(name).observe({ signal: ac.signal })) {
          seen.push(o.none ? '(none)' : o.value);
          if (!o.none && o.value === 'a2') sawA2();
          if (!o.none && o.value === 'b') sawB();
        }
      })();
      const ta = await a.election(name).campaign('a', { ttl: 30 });
      let bWon = false;
      const tbP = b.election(name).campaign('b', { ttl: 30 }).then((t) => ((bWon = true), t));
      while ((await client.range(`${name}/`, { prefix: true, countOnly: true })).count < 2n) await new Promise((r) => setTimeout(r, 10));
      await ta.proclaim('a2');
      expect((await client.election(name).leader()).value).toBe('a2');
      expect(bWon).toBe(false);
      // An observer reports the state it reads: one that is slow may skip a leader that came and went, so the
      // hand-over waits until it has seen a2 (what is checked is that it then sees b, never a stale leader).
      await a2Seen;
      await ta.resign();
      const tb = await tbP;
      expect(tb.term > ta.term).toBe(true);
      await bLeads;
      ac.abort();
      await observing;
      expect(seen.filter((s) => s !== '(none)').slice(-2)).toEqual(['a2', 'b']);
      await expect(ta.proclaim('stale')).rejects.toMatchObject({ name: 'NotLeaderError' });
      await tb.resign();
    } finally {
      await a.lock.close();
      await b.lock.close();
      a.close();
      b.close();
    }
  }, 30_000);
});
