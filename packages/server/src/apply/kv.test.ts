import { describe, expect, it } from 'vitest';
import {
  Compare_CompareResult as R,
  Compare_CompareTarget as T,
  RangeRequest,
  RangeRequest_SortOrder as Order,
  RangeRequest_SortTarget as Sort,
  TxnRequest,
  type Init,
  type KeyValue,
} from '@latchkey/proto';
import { Rng } from '../../../../test/harness/random.js';
import { MemoryBackend } from '../backend/memory-backend.js';
import { KVStore } from '../mvcc/store.js';
import { CompactedError, FutureRevisionError } from '../mvcc/errors.js';
import { LeaseNotFoundError } from '../lease/errors.js';
import { KeyNotFoundError } from './errors.js';
import { executeDeleteRange, executePut, executeRange, executeTxn } from './kv.js';

const b = (s: string) => Buffer.from(s);
const s = (u: Uint8Array | undefined) => (u ? Buffer.from(u).toString() : undefined);

function setup(leases: bigint[] = []) {
  const backend = new MemoryBackend();
  const store = new KVStore(backend, { attach() {}, detach() {} });
  const check = { exists: (id: bigint) => leases.includes(id) };
  const put = (k: string, v: string, lease = 0n) =>
    backend.batch(() => {
      const t = store.write();
      const r = executePut(t, { key: b(k), value: b(v), lease, prevKv: true, ignoreValue: false, ignoreLease: false });
      t.end();
      return r;
    });
  const txn = (req: Init<TxnRequest>) =>
    backend.batch(() => {
      const t = store.write();
      const r = executeTxn(store, t, check, TxnRequest.create(req));
      t.end();
      return r;
    });
  const range = (req: Init<RangeRequest>) => executeRange(store, RangeRequest.create(req));
  return { backend, store, put, txn, range, check };
}

describe('kv - range options', () => {
  it('revision filters, revision sorts and limits give what filtering and sorting every value would (random stores)', () => {
    // Reference: read every key's value in range, filter, stable-sort, limit — the definition, with no index help.
    const reference = (all: KeyValue[], r: RangeRequest) => {
      const filtered = r.minModRevision !== 0n || r.maxModRevision !== 0n || r.minCreateRevision !== 0n || r.maxCreateRevision !== 0n;
      // etcd's quirk: without an order or a filter in the request, only the first limit+1 keys are sorted.
      const fetched = r.sortOrder === Order.NONE && !filtered && r.limit > 0n ? all.slice(0, Number(r.limit) + 1) : all;
      let kvs = fetched.filter(
        (kv) =>
          (r.minModRevision === 0n || kv.modRevision >= r.minModRevision) &&
          (r.maxModRevision === 0n || kv.modRevision <= r.maxModRevision) &&
          (r.minCreateRevision === 0n || kv.createRevision >= r.minCreateRevision) &&
          (r.maxCreateRevision === 0n || kv.createRevision <= r.maxCreateRevision),
      );
      const order = r.sortTarget !== Sort.KEY && r.sortOrder === Order.NONE ? Order.ASCEND : r.sortOrder;
      const f = (kv: KeyValue) => (r.sortTarget === Sort.CREATE ? kv.createRevision : r.sortTarget === Sort.MOD ? kv.modRevision : 0n);
      const sign = order === Order.DESCEND ? -1 : 1;
      if (r.sortTarget === Sort.KEY && order === Order.DESCEND) kvs = [...kvs].reverse();
      else kvs = [...kvs].sort((a, b) => sign * (f(a) < f(b) ? -1 : f(a) > f(b) ? 1 : 0));
      const more = r.limit > 0n && kvs.length > Number(r.limit);
      return { keys: kvs.slice(0, r.limit > 0n ? Number(r.limit) : undefined).map((kv) => s(kv.key)), more, count: BigInt(all.length) };
    };
    const rng = new Rng(12345);
    const rnd = (n: number): number => rng.int(n);
    for (let round = 0; round < 20; round++) {
      const { put, range, txn, store } = setup();
      for (let i = 0; i < 40; i++) {
        const k = `k${rnd(12)}`;
        if (rnd(5) === 0) txn({ success: [{ requestDeleteRange: { key: b(k) } }] });
        else put(k, `v${i}`);
      }
      const top = store.currentRev;
      for (let q = 0; q < 50; q++) {
        const rev = rnd(3) === 0 ? BigInt(2 + rnd(Number(top) - 1)) : 0n;
        const req = RangeRequest.create({
          key: b('k'),
          rangeEnd: b('l'),
          revision: rev,
          limit: BigInt(rnd(4)),
          sortTarget: [Sort.KEY, Sort.CREATE, Sort.MOD][rnd(3)]!,
          sortOrder: [Order.NONE, Order.ASCEND, Order.DESCEND][rnd(3)]!,
          minModRevision: rnd(2) ? 0n : BigInt(rnd(Number(top) + 1)),
          maxModRevision: rnd(2) ? 0n : BigInt(rnd(Number(top) + 1)),
          minCreateRevision: rnd(2) ? 0n : BigInt(rnd(Number(top) + 1)),
          maxCreateRevision: rnd(2) ? 0n : BigInt(rnd(Number(top) + 1)),
        });
        const all = range({ key: b('k'), rangeEnd: b('l'), revision: rev }).kvs;
        const got = executeRange(store, req);
        expect({ keys: got.kvs.map((kv) => s(kv.key)), more: got.more, count: got.count }, `round ${round} query ${q}: ${JSON.stringify(req, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`).toEqual(reference(all, req));
      }
    }
  });

  it('sorts by every target, ascending by default when the target is not KEY, and limits after sorting', () => {
    const { put, range } = setup();
    put('a', '3');
    put('b', '1');
    put('c', '2');
    put('a', '4'); // a: version 2, mod 5
    const keys = (req: Init<RangeRequest>) => range({ key: b('a'), rangeEnd: b('z'), ...req }).kvs.map((kv) => s(kv.key));
    expect(keys({ sortTarget: Sort.VALUE })).toEqual(['b', 'c', 'a']);
    expect(keys({ sortTarget: Sort.MOD, sortOrder: Order.DESCEND })).toEqual(['a', 'c', 'b']);
    expect(keys({ sortTarget: Sort.CREATE })).toEqual(['a', 'b', 'c']);
    expect(keys({ sortTarget: Sort.VERSION, sortOrder: Order.DESCEND })).toEqual(['a', 'b', 'c']);
    expect(keys({ sortTarget: Sort.KEY, sortOrder: Order.DESCEND })).toEqual(['c', 'b', 'a']);
    const lim = range({ key: b('a'), rangeEnd: b('z'), sortTarget: Sort.VALUE, limit: 2n });
    expect(lim.kvs.map((kv) => s(kv.key))).toEqual(['b', 'c']);
    expect(lim.more).toBe(true);
    expect(lim.count).toBe(3n);
  });

  it('counts ignore limit and the revision filters; keys_only drops values; count_only returns no kvs', () => {
    const { put, range } = setup();
    put('k1', 'v'); // 2
    put('k2', 'v'); // 3
    put('k3', 'v'); // 4
    const r = range({ key: b('k'), rangeEnd: b('l'), minModRevision: 3n, maxCreateRevision: 3n, limit: 1n });
    expect(r.kvs.map((kv) => s(kv.key))).toEqual(['k2']);
    expect(r.count).toBe(3n);
    expect(r.more).toBe(false);
    expect(range({ key: b('k1'), keysOnly: true }).kvs[0]!.value.length).toBe(0);
    const c = range({ key: b('k'), rangeEnd: b('l'), countOnly: true });
    expect([c.kvs.length, c.count]).toEqual([0, 3n]);
  });
});

describe('kv - put', () => {
  it('ignore_value keeps the value, ignore_lease keeps the lease, both fail on a missing key', () => {
    const { backend, store, put } = setup([7n]);
    put('k', 'v', 7n);
    const r = backend.batch(() => {
      const t = store.write();
      const out = executePut(t, { key: b('k'), value: new Uint8Array(0), lease: 0n, prevKv: true, ignoreValue: true, ignoreLease: true });
      t.end();
      return out;
    });
    expect(s(r.prevKv!.value)).toBe('v');
    const kv = store.range(b('k'), new Uint8Array(0), { rev: 0n, limit: 0, countOnly: false }).kvs[0]!;
    expect([s(kv.value), kv.lease, kv.version]).toEqual(['v', 7n, 2n]);
    expect(() =>
      backend.batch(() => executePut(store.write(), { key: b('nope'), value: new Uint8Array(0), lease: 0n, prevKv: false, ignoreValue: true, ignoreLease: false })),
    ).toThrow(KeyNotFoundError);
  });

  it('prev_kv is absent for a new key and the previous version otherwise', () => {
    const { put } = setup();
    expect(put('k', '1').prevKv).toBeUndefined();
    expect(s(put('k', '2').prevKv!.value)).toBe('1');
  });
});

describe('kv - txn', () => {
  it('compares a missing key as zero, except VALUE compares which are always false', () => {
    const { txn } = setup();
    const cmp = (c: object) => txn({ compare: [{ key: b('missing'), ...c }] }).succeeded;
    expect(cmp({ target: T.CREATE, createRevision: 0n })).toBe(true);
    expect(cmp({ target: T.VERSION, version: 0n })).toBe(true);
    expect(cmp({ target: T.MOD, result: R.GREATER, modRevision: 0n })).toBe(false);
    expect(cmp({ target: T.VALUE, value: b('') })).toBe(false);
    expect(cmp({ target: T.VALUE, result: R.NOT_EQUAL, value: b('x') })).toBe(false);
  });

  it('bumps the revision once for all changes, with per-op sub-response revisions', () => {
    const { put, txn, store } = setup();
    put('a', '1'); // 2
    const r = txn({
      success: [{ requestRange: { key: b('a') } }, { requestPut: { key: b('b'), value: b('2') } }, { requestRange: { key: b('b') } }, { requestDeleteRange: { key: b('zzz') } }],
    });
    expect(r.succeeded).toBe(true);
    expect(r.header!.revision).toBe(3n);
    expect(r.responses.map((x) => (x.responseRange ?? x.responsePut ?? x.responseDeleteRange)!.header!.revision)).toEqual([2n, 3n, 3n, 3n]);
    expect(s(r.responses[2]!.responseRange!.kvs[0]!.value)).toBe('2');
    expect(store.currentRev).toBe(3n);
  });

  it('a transaction that changes nothing keeps the revision', () => {
    const { put, txn, store } = setup();
    put('a', '1');
    const r = txn({ compare: [{ key: b('a'), target: T.VALUE, value: b('nope') }], failure: [{ requestDeleteRange: { key: b('none') } }] });
    expect(r.succeeded).toBe(false);
    expect(r.header!.revision).toBe(2n);
    expect(store.currentRev).toBe(2n);
  });

  it('evaluates nested compares against the state before the transaction', () => {
    const { txn } = setup();
    const r = txn({
      success: [
        { requestPut: { key: b('x'), value: b('1') } },
        { requestTxn: { compare: [{ key: b('x'), target: T.VERSION, version: 0n }], success: [{ requestPut: { key: b('y'), value: b('seen-missing') } }] } },
      ],
    });
    expect(r.responses[1]!.responseTxn!.succeeded).toBe(true);
  });

  it('fails as a whole, changing nothing, when a read revision is compacted or in the future or a lease is unknown', () => {
    const { put, txn, store, backend } = setup();
    put('a', '1');
    put('a', '2');
    backend.batch(() => store.compact(3n));
    expect(() => txn({ success: [{ requestPut: { key: b('b'), value: b('') } }, { requestRange: { key: b('a'), revision: 2n } }] })).toThrow(CompactedError);
    expect(() => txn({ success: [{ requestRange: { key: b('a'), revision: 9n } }] })).toThrow(FutureRevisionError);
    expect(() => txn({ success: [{ requestPut: { key: b('c'), value: b(''), lease: 5n } }] })).toThrow(LeaseNotFoundError);
    expect(store.currentRev).toBe(3n);
  });
});

describe('kv - delete', () => {
  it('returns prev kvs in key order and the deleted count', () => {
    const { put, backend, store } = setup();
    put('b', '2');
    put('a', '1');
    const r = backend.batch(() => {
      const t = store.write();
      const out = executeDeleteRange(t, { key: b('a'), rangeEnd: b('c'), prevKv: true });
      t.end();
      return out;
    });
    expect(r.deleted).toBe(2n);
    expect(r.prevKvs.map((kv) => s(kv.key))).toEqual(['a', 'b']);
    expect(r.header!.revision).toBe(4n);
  });
});
