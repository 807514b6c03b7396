import { describe, expect, it } from 'vitest';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './errors.js';
import { MemoryStorage } from './storage.js';
import { EntryType, type Entry } from './types.js';

const ent = (index: number, term: number, data = 'x'): Entry => ({ index, term, type: EntryType.Normal, data: new TextEncoder().encode(data) });

/** Storage with a snapshot at 3 (term 3) and entries 4 (term 4), 5 (term 5). */
function sample(): MemoryStorage {
  const s = MemoryStorage.withConfState({ voters: [1n, 2n], learners: [] }, 3, 3);
  s.append([ent(4, 4), ent(5, 5)]);
  return s;
}

describe('storage - MemoryStorage', () => {
  it('storage - reports first and last index and terms around the snapshot point', () => {
    const s = sample();
    expect([s.firstIndex(), s.lastIndex()]).toEqual([4, 5]);
    expect([s.term(3), s.term(4), s.term(5)]).toEqual([3, 4, 5]);
    expect(() => s.term(2)).toThrow(CompactedError);
    expect(() => s.term(6)).toThrow(UnavailableError);
  });

  it('storage - entries honour bounds and the byte limit, returning at least one entry', () => {
    const s = sample();
    expect(s.entries(4, 6, Number.MAX_SAFE_INTEGER).map((e) => e.index)).toEqual([4, 5]);
    expect(s.entries(4, 6, 0).map((e) => e.index)).toEqual([4]);
    expect(s.entries(4, 6, 17 * 2).map((e) => e.index)).toEqual([4, 5]);
    expect(s.entries(4, 6, 17 * 2 - 1).map((e) => e.index)).toEqual([4]);
    expect(() => s.entries(3, 5, 100)).toThrow(CompactedError);
    expect(() => s.entries(4, 7, 100)).toThrow(UnavailableError);
  });

  it('storage - append overwrites a conflicting suffix and ignores compacted entries', () => {
    const s = sample();
    s.append([ent(5, 6), ent(6, 6)]);
    expect([s.term(5), s.term(6), s.lastIndex()]).toEqual([6, 6, 6]);
    s.append([ent(2, 2), ent(3, 3), ent(4, 7)]);
    expect([s.term(4), s.lastIndex()]).toEqual([7, 4]);
    s.append([ent(1, 1)]);
    expect(s.lastIndex()).toBe(4);
  });

  it('storage - appending past a gap is an invariant violation', () => {
    expect(() => sample().append([ent(7, 7)])).toThrow(/missing log entry/);
  });

  it('storage - compact keeps the term of the compaction point', () => {
    const s = sample();
    s.compact(4);
    expect([s.firstIndex(), s.lastIndex(), s.term(4)]).toEqual([5, 5, 4]);
    expect(() => s.compact(4)).toThrow(CompactedError);
    expect(() => s.compact(9)).toThrow(/out of bound/);
  });

  it('storage - createSnapshot records state and configuration, and refuses older snapshots', () => {
    const s = sample();
    const snap = s.createSnapshot(5, { voters: [1n, 2n, 3n], learners: [] }, new Uint8Array([7]));
    expect(snap.metadata).toEqual({ index: 5, term: 5, confState: { voters: [1n, 2n, 3n], learners: [] } });
    expect(s.snapshot()).toBe(snap);
    expect(s.initialState().confState.voters).toEqual([1n, 2n, 3n]);
    expect(() => s.createSnapshot(4, undefined, new Uint8Array())).toThrow(SnapshotOutOfDateError);
  });

  it('storage - applySnapshot replaces the log', () => {
    const s = sample();
    s.applySnapshot({ metadata: { index: 10, term: 8, confState: { voters: [1n], learners: [] } }, data: new Uint8Array() });
    expect([s.firstIndex(), s.lastIndex(), s.term(10)]).toEqual([11, 10, 8]);
    expect(() => s.applySnapshot({ metadata: { index: 9, term: 8, confState: { voters: [1n], learners: [] } }, data: new Uint8Array() })).toThrow(
      SnapshotOutOfDateError,
    );
  });

  it('storage - hard state round-trips and clones are independent', () => {
    const s = sample();
    s.setHardState({ term: 5, vote: 2n, commit: 4 });
    const c = s.clone();
    c.append([ent(6, 6)]);
    c.setHardState({ term: 6, vote: 0n, commit: 5 });
    expect(s.initialState().hardState).toEqual({ term: 5, vote: 2n, commit: 4 });
    expect(s.lastIndex()).toBe(5);
    expect(c.lastIndex()).toBe(6);
  });

  it('storage - error classes carry a name and retryability', () => {
    const e = new CompactedError(3);
    expect(e.name).toBe('CompactedError');
    expect(e.retryable).toBe(false);
    expect(e).toBeInstanceOf(Error);
  });
});
