import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backend/memory-backend.js';
import { CompactedError, FutureRevisionError } from './errors.js';
import { KVStore, type LeaseBook } from './store.js';
import { prefixEnd } from './keys.js';

const b = (s: string) => Buffer.from(s);
const none: LeaseBook = { attach() {}, detach() {} };
const all = { rev: 0n, limit: 0, countOnly: false };

function setup() {
  const backend = new MemoryBackend();
  const store = new KVStore(backend, none);
  const put = (k: string, v: string, lease = 0n) =>
    backend.batch(() => {
      const t = store.write();
      t.put(b(k), b(v), lease);
      return t.end();
    });
  const del = (k: string, end = '') =>
    backend.batch(() => {
      const t = store.write();
      const n = t.deleteRange(b(k), b(end)).length;
      t.end();
      return n;
    });
  const get = (k: string, rev = 0n) => store.range(b(k), new Uint8Array(0), { ...all, rev }).kvs[0];
  return { backend, store, put, del, get };
}

describe('mvcc - revisions', () => {
  it('a new store is at revision 1 and the first write gets revision 2', () => {
    const { store, put } = setup();
    expect(store.currentRev).toBe(1n);
    expect(put('foo', 'bar')).toBe(2n);
  });

  it('tracks create_revision, mod_revision and version across puts', () => {
    const { put, get } = setup();
    put('foo', 'a');
    put('foo', 'b');
    const kv = get('foo')!;
    expect([kv.createRevision, kv.modRevision, kv.version]).toEqual([2n, 3n, 2n]);
  });

  it('re-creating a deleted key starts a new generation', () => {
    const { put, del, get, store } = setup();
    put('foo', 'a'); // 2
    expect(del('foo')).toBe(1); // 3
    put('foo', 'b'); // 4
    const kv = get('foo')!;
    expect([kv.createRevision, kv.modRevision, kv.version]).toEqual([4n, 4n, 1n]);
    expect(get('foo', 3n)).toBeUndefined();
    expect(Buffer.from(get('foo', 2n)!.value).toString()).toBe('a');
    expect(store.currentRev).toBe(4n);
  });

  it('a delete that matches nothing does not bump the revision', () => {
    const { del, store } = setup();
    expect(del('nothing')).toBe(0);
    expect(store.currentRev).toBe(1n);
  });

  it('all changes of one write transaction share one revision with increasing sub-revisions', () => {
    const { backend, store } = setup();
    const rev = backend.batch(() => {
      const t = store.write();
      t.put(b('a'), b('1'), 0n);
      t.put(b('b'), b('2'), 0n);
      t.deleteRange(b('a'), new Uint8Array(0));
      return t.end();
    });
    expect(rev).toBe(2n);
    expect(store.range(b('a'), b('c'), all).kvs.map((kv) => kv.modRevision)).toEqual([2n]);
  });
});

describe('mvcc - ranges', () => {
  it('reads [key, end), from-key with \\0, and counts regardless of limit', () => {
    const { put, store } = setup();
    for (const k of ['foo', 'foo1', 'foo2', 'foo3', 'zoo']) put(k, k);
    expect(store.range(b('foo'), b('foo3'), all).kvs.map((kv) => kv.key.toString())).toEqual(['foo', 'foo1', 'foo2']);
    const lim = store.range(b('foo'), prefixEnd(b('foo')), { ...all, limit: 2 });
    expect(lim.kvs.length).toBe(2);
    expect(lim.count).toBe(4);
    expect(store.range(b('foo2'), Uint8Array.of(0), all).count).toBe(3);
    expect(store.range(Uint8Array.of(0), Uint8Array.of(0), all).count).toBe(5);
    expect(store.range(b('z'), b('a'), all).count).toBe(0);
  });

  it('rejects future revisions', () => {
    const { store, put } = setup();
    put('a', '1');
    expect(() => store.range(b('a'), new Uint8Array(0), { ...all, rev: 3n })).toThrow(FutureRevisionError);
  });

  it('prefix end drops trailing 0xff bytes', () => {
    expect(Buffer.from(prefixEnd(b('foo'))).toString()).toBe('fop');
    expect([...prefixEnd(Uint8Array.of(0x61, 0xff))]).toEqual([0x62]);
    expect([...prefixEnd(Uint8Array.of(0xff, 0xff))]).toEqual([0]);
  });
});

describe('mvcc - compaction', () => {
  it('keeps reads at and after the compaction revision, fails reads before it', () => {
    const { put, del, get, store, backend } = setup();
    put('foo', 'v1'); // 2
    put('foo', 'v2'); // 3
    put('bar', 'x'); // 4
    del('bar'); // 5
    put('foo', 'v3'); // 6
    backend.batch(() => store.compact(4n));
    expect(Buffer.from(get('foo', 4n)!.value).toString()).toBe('v2');
    expect(get('bar', 4n)).toBeDefined();
    expect(get('bar', 5n)).toBeUndefined();
    expect(() => get('foo', 3n)).toThrow(CompactedError);
    expect(() => backend.batch(() => store.compact(4n))).toThrow(CompactedError);
    expect(() => backend.batch(() => store.compact(7n))).toThrow(FutureRevisionError);
    backend.batch(() => store.compact(6n));
    expect(store.indexedKeys).toBe(1); // bar is forgotten entirely
    expect(store.currentRev).toBe(6n);
  });

  it('restores the same state from the backend', () => {
    const { put, del, store, backend } = setup();
    put('a', '1');
    put('b', '2');
    del('a');
    put('a', '3');
    backend.batch(() => store.compact(3n));
    const again = new KVStore(backend, none);
    expect(again.currentRev).toBe(store.currentRev);
    expect(again.compactRev).toBe(3n);
    const r1 = store.range(Uint8Array.of(0), Uint8Array.of(0), all).kvs;
    const r2 = again.range(Uint8Array.of(0), Uint8Array.of(0), all).kvs;
    expect(r2).toEqual(r1);
    expect(again.range(b('a'), new Uint8Array(0), { ...all, rev: 4n }).count).toBe(0);
  });

  it('never moves the revision back after everything is compacted away', () => {
    const { put, del, store, backend } = setup();
    put('a', '1');
    del('a');
    backend.batch(() => store.compact(3n));
    expect(new KVStore(backend, none).currentRev).toBe(3n);
  });
});
