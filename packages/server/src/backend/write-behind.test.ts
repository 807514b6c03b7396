import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Backend, Table } from './backend.js';
import { LmdbBackend } from './lmdb-backend.js';
import { MemoryBackend } from './memory-backend.js';
import { Rng } from '../../../../test/harness/random.js';
import { WriteBehindBackend, type WriteBehindOptions } from './write-behind.js';

const b = (s: string): Buffer => Buffer.from(s);
const str = (v: Buffer | undefined): string | undefined => v?.toString();
const NEVER: WriteBehindOptions = { flushMs: 3_600_000, maxWrites: 1_000_000, onFlushError: (err) => { throw err; } };

/** Every [key, value] of a table in scan order, as strings. */
function dump(be: Pick<Backend, 'scan'>, table = Table.Key, start?: string, end?: string, limit = Infinity): [string, string][] {
  const out: [string, string][] = [];
  be.scan(table, start === undefined ? undefined : b(start), end === undefined ? undefined : b(end), (k, v) => {
    out.push([k.toString(), v.toString()]);
    return out.length < limit;
  });
  return out;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('WriteBehindBackend', () => {
  it('deferred writes are read at once and reach the inner backend only when flushed', () => {
    const inner = new MemoryBackend();
    const wb = new WriteBehindBackend(inner, NEVER);
    wb.deferredBatch(() => wb.put(Table.Key, b('a'), b('1')));
    expect(str(wb.get(Table.Key, b('a')))).toBe('1');
    expect(inner.get(Table.Key, b('a'))).toBeUndefined();
    wb.flushNow();
    expect(str(inner.get(Table.Key, b('a')))).toBe('1');
    expect(str(wb.get(Table.Key, b('a')))).toBe('1');
  });

  it('keeps its own copies of keys and values (callers reuse their buffers)', () => {
    const wb = new WriteBehindBackend(new MemoryBackend(), NEVER);
    const key = b('k1');
    const value = b('v1');
    wb.deferredBatch(() => wb.put(Table.Key, key, value));
    key.write('k2');
    value.write('v2');
    expect(str(wb.get(Table.Key, b('k1')))).toBe('v1');
    expect(wb.get(Table.Key, b('k2'))).toBeUndefined();
  });

  it('scan merges waiting writes over the inner backend, bounds and early stop included', () => {
    const inner = new MemoryBackend();
    inner.batch(() => {
      for (const k of ['a', 'c', 'e', 'g']) inner.put(Table.Key, b(k), b(k.toUpperCase()));
    });
    const wb = new WriteBehindBackend(inner, NEVER);
    wb.deferredBatch(() => {
      wb.put(Table.Key, b('b'), b('B'));
      wb.put(Table.Key, b('c'), b('C2'));
      wb.del(Table.Key, b('e'));
      wb.put(Table.Key, b('h'), b('H'));
      wb.put(Table.Meta, b('d'), b('other table'));
    });
    expect(dump(wb)).toEqual([['a', 'A'], ['b', 'B'], ['c', 'C2'], ['g', 'G'], ['h', 'H']]);
    expect(dump(wb, Table.Key, 'b', 'g')).toEqual([['b', 'B'], ['c', 'C2']]);
    expect(dump(wb, Table.Key, 'c')).toEqual([['c', 'C2'], ['g', 'G'], ['h', 'H']]);
    expect(dump(wb, Table.Key, undefined, 'c')).toEqual([['a', 'A'], ['b', 'B']]);
    expect(dump(wb, Table.Key, undefined, undefined, 2)).toEqual([['a', 'A'], ['b', 'B']]);
    expect(dump(wb, Table.Key, 'g', undefined, 1)).toEqual([['g', 'G']]);
    expect(dump(wb, Table.Meta)).toEqual([['d', 'other table']]);
    expect(wb.get(Table.Key, b('e'))).toBeUndefined();
    // After the commit the inner backend alone gives the same answers.
    wb.flushNow();
    expect(dump(inner)).toEqual(dump(wb));
  });

  it('a deferred batch that throws leaves the waiting writes as they were', () => {
    const inner = new MemoryBackend();
    const wb = new WriteBehindBackend(inner, NEVER);
    wb.deferredBatch(() => wb.put(Table.Key, b('a'), b('1')));
    const before = wb.size();
    expect(() =>
      wb.deferredBatch(() => {
        wb.put(Table.Key, b('a'), b('2'));
        wb.put(Table.Key, b('b'), b('1'));
        wb.del(Table.Key, b('a'));
        throw new Error('apply failed');
      }),
    ).toThrow('apply failed');
    expect(str(wb.get(Table.Key, b('a')))).toBe('1');
    expect(wb.get(Table.Key, b('b'))).toBeUndefined();
    expect(wb.size()).toEqual(before);
    wb.flushNow();
    expect(dump(inner)).toEqual([['a', '1']]);
  });

  it('batch commits the waiting writes together with its own, or neither', () => {
    const inner = new MemoryBackend();
    const wb = new WriteBehindBackend(inner, NEVER);
    wb.deferredBatch(() => wb.put(Table.Key, b('a'), b('1')));
    expect(() =>
      wb.batch(() => {
        wb.put(Table.Key, b('b'), b('1'));
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(dump(inner)).toEqual([]);
    expect(str(wb.get(Table.Key, b('a')))).toBe('1');
    wb.deferredBatch(() => wb.put(Table.Key, b('c'), b('1')));
    wb.batch(() => {
      // Inside the batch the waiting writes are already part of the inner transaction, and the batch reads its
      // own writes over them.
      expect(str(wb.get(Table.Key, b('a')))).toBe('1');
      wb.put(Table.Key, b('b'), b('1'));
      wb.put(Table.Key, b('c'), b('2'));
      expect(str(wb.get(Table.Key, b('c')))).toBe('2');
      expect(dump(wb)).toEqual([['a', '1'], ['b', '1'], ['c', '2']]);
    });
    expect(dump(inner)).toEqual([['a', '1'], ['b', '1'], ['c', '2']]);
    expect(wb.size()).toEqual(inner.size());
  });

  it('refuses nested batches and writes outside a batch', () => {
    const wb = new WriteBehindBackend(new MemoryBackend(), NEVER);
    expect(() => wb.deferredBatch(() => wb.batch(() => undefined))).toThrow('batches do not nest');
    expect(() => wb.batch(() => wb.deferredBatch(() => undefined))).toThrow('batches do not nest');
    expect(() => wb.put(Table.Key, b('a'), b('1'))).toThrow('inside batch');
    expect(() => wb.deferredBatch(() => wb.flushNow())).toThrow('cannot flush inside a batch');
  });

  it('the timer commits within flushMs, and maxWrites commits at once', () => {
    vi.useFakeTimers();
    const inner = new MemoryBackend();
    const wb = new WriteBehindBackend(inner, { ...NEVER, flushMs: 100, maxWrites: 3 });
    wb.deferredBatch(() => wb.put(Table.Key, b('a'), b('1')));
    vi.advanceTimersByTime(60);
    wb.deferredBatch(() => wb.put(Table.Key, b('b'), b('1')));
    vi.advanceTimersByTime(39);
    expect(dump(inner)).toEqual([]);
    // The deadline runs from the first waiting write, not the newest.
    vi.advanceTimersByTime(1);
    expect(dump(inner).map(([k]) => k)).toEqual(['a', 'b']);
    wb.deferredBatch(() => {
      for (const k of ['c', 'd', 'e']) wb.put(Table.Key, b(k), b('1'));
    });
    expect(dump(inner).map(([k]) => k)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a failed timer commit is reported, keeps the writes readable and is retried', () => {
    vi.useFakeTimers();
    class Flaky extends MemoryBackend {
      failures = 1;
      override batch<T>(fn: () => T): T {
        if (this.failures-- > 0) throw new Error('disk gone');
        return super.batch(fn);
      }
    }
    const inner = new Flaky();
    const errors: string[] = [];
    const wb = new WriteBehindBackend(inner, { flushMs: 100, maxWrites: 100, onFlushError: (err) => errors.push(String(err)) });
    wb.deferredBatch(() => wb.put(Table.Key, b('a'), b('1')));
    vi.advanceTimersByTime(100);
    expect(errors).toEqual(['Error: disk gone']);
    expect(str(wb.get(Table.Key, b('a')))).toBe('1');
    expect(dump(inner)).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(dump(inner)).toEqual([['a', '1']]);
    expect(errors).toHaveLength(1);
  });

  it('sync, readView, copyTo and close see every batch that returned before them', async () => {
    const seenByCopy: [string, string][][] = [];
    class Recording extends MemoryBackend {
      override async copyTo(): Promise<void> {
        seenByCopy.push(dump(this));
      }
    }
    const inner = new Recording();
    const wb = new WriteBehindBackend(inner, NEVER);
    wb.deferredBatch(() => wb.put(Table.Key, b('a'), b('1')));
    const view = wb.readView();
    wb.deferredBatch(() => wb.put(Table.Key, b('b'), b('1')));
    expect(dump(view)).toEqual([['a', '1']]);
    view.close();
    await wb.copyTo('unused');
    expect(seenByCopy).toEqual([[['a', '1'], ['b', '1']]]);
    wb.deferredBatch(() => wb.put(Table.Key, b('c'), b('1')));
    await wb.sync();
    expect(dump(inner).map(([k]) => k)).toEqual(['a', 'b', 'c']);
    wb.deferredBatch(() => wb.put(Table.Key, b('d'), b('1')));
    await wb.close();
    expect(dump(inner).map(([k]) => k)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('size covers every write that returned, and does not change without a write', () => {
    const inner = new MemoryBackend();
    const wb = new WriteBehindBackend(inner, NEVER);
    wb.deferredBatch(() => wb.put(Table.Key, b('a'), b('12345')));
    const first = wb.size();
    expect(first).toEqual(inner.size());
    expect(first.total).toBeGreaterThan(0);
    expect(wb.size()).toEqual(first);
    // The quota's estimate counts waiting writes without committing them.
    wb.deferredBatch(() => wb.put(Table.Key, b('b'), b('678')));
    expect(wb.sizeInUse()).toBe(first.inUse + 4);
    expect(inner.get(Table.Key, b('b'))).toBeUndefined();
  });
});

// ------------------------------------------------------------------------------------------------ differential

// Bytes on both sides of 0x80: the overlay's string order must agree with the inner backend's byte order.
const ALPHABET = [0x00, 0x01, 0x61, 0x7f, 0x80, 0xc3, 0xff];
const TABLES = [Table.Key, Table.Meta];

/**
 * Runs `steps` random operations on `subject` (a write-behind backend, flushed at random) and on `reference` (a
 * plain memory backend), and returns the first read on which they disagree, or undefined.
 */
function differential(seed: number, steps: number, subject: WriteBehindBackend, reference: Backend, tamper?: (step: number) => void): string | undefined {
  const rng = new Rng(seed);
  const r = (n: number): number => rng.int(n);
  const key = (): Buffer => Buffer.from(Array.from({ length: 1 + r(3) }, () => ALPHABET[r(ALPHABET.length)]!));
  const hex = (rows: [Buffer, Buffer][]): string => rows.map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`).join(',');
  const rows = (be: Backend, t: Table, lo?: Buffer, hi?: Buffer, limit = Infinity): [Buffer, Buffer][] => {
    const out: [Buffer, Buffer][] = [];
    be.scan(t, lo, hi, (k, v) => {
      out.push([k, v]);
      return out.length < limit;
    });
    return out;
  };
  for (let step = 0; step < steps; step++) {
    tamper?.(step);
    const op = r(10);
    if (op < 5) {
      // A batch of writes, the same on both; one in five throws part-way and must leave no trace.
      const writes = Array.from({ length: 1 + r(4) }, () => ({ t: TABLES[r(2)]!, k: key(), v: r(4) === 0 ? null : Buffer.of(r(256), step & 0xff) }));
      const fails = r(5) === 0;
      const body = (be: Backend) => () => {
        writes.forEach((w, i) => {
          if (fails && i === writes.length - 1) throw new Error('injected');
          if (w.v === null) be.del(w.t, w.k);
          else be.put(w.t, w.k, w.v);
        });
      };
      const deferred = r(4) !== 0;
      const run = (f: () => void): void => {
        try {
          f();
        } catch (err) {
          if (!fails) throw err;
        }
      };
      run(() => (deferred ? subject.deferredBatch(body(subject)) : subject.batch(body(subject))));
      run(() => reference.batch(body(reference)));
    } else if (op === 5) {
      subject.flushNow();
    } else if (op < 8) {
      const t = TABLES[r(2)]!;
      const k = key();
      const got = subject.get(t, k)?.toString('hex');
      const want = reference.get(t, k)?.toString('hex');
      if (got !== want) return `step ${step}: get ${k.toString('hex')}: ${got} != ${want}`;
    } else {
      const t = TABLES[r(2)]!;
      const lo = r(3) === 0 ? undefined : key();
      const hi = r(3) === 0 ? undefined : key();
      const limit = r(3) === 0 ? 1 + r(5) : Infinity;
      const got = hex(rows(subject, t, lo, hi, limit));
      const want = hex(rows(reference, t, lo, hi, limit));
      if (got !== want) return `step ${step}: scan ${lo?.toString('hex')}..${hi?.toString('hex')} limit ${limit}: ${got} != ${want}`;
    }
  }
  return undefined;
}

describe('WriteBehindBackend against a plain backend (random operations)', () => {
  it('over a memory backend: every read agrees', () => {
    for (let seed = 1; seed <= 30; seed++) {
      // Even seeds also commit whenever a few keys wait (the limit, reached inside deferredBatch).
      const opts = seed % 2 === 0 ? { ...NEVER, maxWrites: 1 + (seed % 7) } : NEVER;
      expect(differential(seed, 400, new WriteBehindBackend(new MemoryBackend(), opts), new MemoryBackend())).toBeUndefined();
    }
  });

  it('over LMDB: every read agrees, and the committed state matches', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-wb-'));
    try {
      for (let seed = 1; seed <= 5; seed++) {
        const lmdb = new LmdbBackend(join(dir, String(seed)));
        const wb = new WriteBehindBackend(lmdb, NEVER);
        const reference = new MemoryBackend();
        expect(differential(100 + seed, 400, wb, reference)).toBeUndefined();
        await wb.sync();
        for (const t of TABLES) expect(dump(lmdb, t)).toEqual(dump(reference, t));
        await wb.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('negative control: a write that bypasses the overlay is found', () => {
    const inner = new MemoryBackend();
    const tamper = (step: number): void => {
      if (step === 200) inner.batch(() => ALPHABET.forEach((c) => inner.put(Table.Key, Buffer.of(c), Buffer.of(0xee))));
    };
    const found = differential(7, 400, new WriteBehindBackend(inner, NEVER), new MemoryBackend(), tamper);
    expect(found).toMatch(/^step \d+: (get|scan)/);
  });
});
