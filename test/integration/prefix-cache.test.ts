/**
 * `client.cache(prefix)` against a real etcd 3.4 and against latchkey, the same assertions on both:
 * - after every change its contents equal a read of the prefix at the cache's revision (random puts, deletes,
 *   range deletes and multi-key transactions from another client, with writes outside the prefix mixed in);
 * - `changes()` delivers one change per revision with each key's previous entry, and replaying the changes onto
 *   the first contents gives the last;
 * - a watch that lost its history to compaction while cut off re-reads, and reports the difference as one
 *   `resync` change.
 */
import { type CacheChange, Client, Op, type PrefixCache } from '@latchkey/client';
import type { KeyValue } from '@latchkey/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../chaos/proxy.js';
import { type Member, type MemberKind } from '../harness/processes.js';
import { Rng } from '../harness/random.js';
import { useMembers } from '../harness/vitest.js';

const targets: MemberKind[] = process.env['TARGET'] ? [process.env['TARGET'] as MemberKind] : ['etcd', 'latchkey'];
const members = useMembers({ scope: 'file' });

/** What a test compares of an entry. */
const plain = (kv: KeyValue) => ({
  key: Buffer.from(kv.key).toString(),
  value: Buffer.from(kv.value).toString(),
  createRevision: kv.createRevision,
  modRevision: kv.modRevision,
  version: kv.version,
});

describe.each(targets)('prefix cache against %s', (kind) => {
  let member: Member;
  let client: Client;
  const clients: Client[] = [];
  const fresh = (endpoint: string): Client => {
    const c = new Client({ endpoints: [endpoint] });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    member = await members.start({ kind });
    client = fresh(member.endpoint);
  }, 30_000);
  afterAll(() => {
    for (const c of clients) c.close();
  });

  it('cache - follows puts, deletes, range deletes and transactions; after each change it equals a read at its revision', async () => {
    const prefix = '/pc/model/';
    await client.put(`${prefix}a`, 'a0');
    await client.put(`${prefix}b`, 'b0');
    await client.put('/pc/modelx', 'outside'); // shares the prefix's bytes up to the slash only
    const reader = fresh(member.endpoint);
    using cache = reader.cache(prefix);
    await cache.ready({ timeoutMs: 10_000 });
    expect(cache.keys()).toEqual([`${prefix}a`, `${prefix}b`]);
    const first = cache.entries();
    const changes: CacheChange[] = [];
    const ac = new AbortController();
    const collecting = (async () => {
      for await (const c of cache.changes({ signal: ac.signal })) changes.push(c);
    })();
    const rng = new Rng(kind === 'etcd' ? 7 : 8);
    const name = () => `${prefix}${'abcdefgh'[rng.int(8)]}`;
    /** `n` different key names (a txn may not touch a key twice). */
    const distinct = (n: number): string[] => {
      const out = new Set<string>();
      while (out.size < n) out.add(name());
      return [...out];
    };
    const matchesRead = async () => {
      const r = await client.range(prefix, { prefix: true, revision: cache.revision });
      expect(cache.entries().map(plain)).toEqual(r.kvs.map(plain));
    };
    for (let i = 0; i < 60; i++) {
      let rev = 0n;
      let touched = true;
      switch (rng.int(5)) {
        case 0:
        case 1:
          rev = (await client.put(name(), `v${i}`)).header.revision;
          break;
        case 2: {
          const d = await client.delete(name());
          rev = d.header.revision;
          touched = d.deleted > 0n;
          break;
        }
        case 3: {
          const [x, y, z] = distinct(3) as [string, string, string];
          rev = (await client.rawTxn([], [Op.put(x, `t${i}`), Op.put(y, `u${i}`), Op.delete(z)], [])).header.revision;
          break;
        }
        default:
          rev = (await client.put('/pc/modelx', `o${i}`)).header.revision;
          touched = false;
      }
      if (!touched) continue;
      await cache.waitFor((c) => c.revision >= rev, { timeoutMs: 10_000 });
      expect(cache.revision).toBe(rev);
      await matchesRead();
    }
    const d = await client.delete(`${prefix}c`, { end: `${prefix}f` });
    if (d.deleted > 0n) await cache.waitFor((c) => c.revision >= d.header.revision, { timeoutMs: 10_000 });
    await matchesRead();
    ac.abort();
    await collecting;
    // One change per revision, each with the entry the key had before; replaying them gives the last contents.
    const replay = new Map(first.map((kv) => [Buffer.from(kv.key).toString(), kv]));
    let last = 0n;
    for (const c of changes) {
      expect(c.reason).toBe('watch');
      expect(c.revision).toBeGreaterThan(last);
      last = c.revision;
      for (const ev of c.events) {
        expect(ev.kv.modRevision).toBe(c.revision);
        expect(ev.prev === undefined ? undefined : plain(ev.prev)).toEqual(replay.has(ev.key) ? plain(replay.get(ev.key)!) : undefined);
        if (ev.type === 'put') replay.set(ev.key, ev.kv);
        else replay.delete(ev.key);
      }
    }
    expect(changes.some((c) => c.events.length > 1)).toBe(true); // a transaction is one change
    expect([...replay.values()].map(plain).sort((a, b) => a.key.localeCompare(b.key))).toEqual(cache.entries().map(plain));
    expect(cache.resyncs).toBe(0);
  }, 60_000);

  it('cache - a watch that lost its history to compaction while cut off reads again and reports the difference once', async () => {
    const prefix = '/pc/resync/';
    await client.put(`${prefix}keep`, '1');
    await client.put(`${prefix}change`, '1');
    await client.put(`${prefix}gone`, '1');
    const proxy = await FaultProxy.start({ name: 'pc-proxy', target: member.clientPort });
    try {
      using cache = fresh(proxy.endpoint).cache(prefix);
      await cache.ready({ timeoutMs: 10_000 });
      const ac = new AbortController();
      const changes: CacheChange[] = [];
      const collecting = (async () => {
        for await (const c of cache.changes({ signal: ac.signal })) changes.push(c);
      })();
      proxy.setFault('*', { kind: 'cut' });
      await client.put(`${prefix}change`, '2');
      await client.delete(`${prefix}gone`);
      await client.put(`${prefix}new`, '1');
      const last = await client.put('/pc/elsewhere', 'x');
      await client.compact(last.header.revision);
      proxy.heal();
      await cache.waitFor((c) => c.resyncs > 0 && c.revision >= last.header.revision, { timeoutMs: 15_000 });
      expect(cache.keys()).toEqual([`${prefix}change`, `${prefix}keep`, `${prefix}new`]);
      expect(cache.getString(`${prefix}change`)).toBe('2');
      // It goes on following the prefix after the re-read.
      const after = await client.put(`${prefix}later`, '1');
      await cache.waitFor((c) => c.revision >= after.header.revision, { timeoutMs: 10_000 });
      ac.abort();
      await collecting;
      const resync = changes.filter((c) => c.reason === 'resync');
      expect(resync).toHaveLength(1);
      expect(resync[0]!.events.map((e) => [e.type, e.key, e.prev === undefined]).sort()).toEqual([
        ['delete', `${prefix}gone`, false],
        ['put', `${prefix}change`, false],
        ['put', `${prefix}new`, true],
      ]);
      expect(changes.at(-1)).toMatchObject({ reason: 'watch', revision: after.header.revision });
      expect(cache.has(`${prefix}later`)).toBe(true);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('cache - closing ends changes() and waitFor', async () => {
    const cache: PrefixCache = fresh(member.endpoint).cache('/pc/close/');
    await cache.ready({ timeoutMs: 10_000 });
    const pending = cache.waitFor(() => false);
    const iter = cache.changes()[Symbol.asyncIterator]();
    const next = iter.next();
    cache.close();
    await expect(pending).rejects.toThrow('prefix cache is closed');
    expect(await next).toEqual({ done: true, value: undefined });
  });
});
