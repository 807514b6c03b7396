import { describe, expect, it } from 'vitest';
import { noopLogger } from './config.js';
import { CompactedError } from './errors.js';
import { RaftLog } from './log.js';
import { Unstable } from './log-unstable.js';
import { MemoryStorage } from './storage.js';
import { EntryType, type Entry } from './types.js';

const ent = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(1) });
const terms = (es: Entry[]) => es.map((e) => `${e.term}/${e.index}`);

function logWith(stable: number[], unstable: number[] = []): RaftLog {
  const s = MemoryStorage.withConfState({ voters: [1n], learners: [] }, 0, 0);
  s.append(stable.map((t, i) => ent(i + 1, t)));
  const log = new RaftLog(s, noopLogger, 1 << 20);
  if (unstable.length > 0) log.append(unstable.map((t, i) => ent(stable.length + i + 1, t)));
  return log;
}

describe('log - unstable', () => {
  it('log - unstable entries move through handed-out to stable', () => {
    const u = new Unstable(5, noopLogger);
    u.truncateAndAppend([ent(5, 1), ent(6, 1)]);
    expect(terms(u.nextEntries())).toEqual(['1/5', '1/6']);
    u.acceptInProgress();
    expect(u.nextEntries()).toEqual([]);
    u.truncateAndAppend([ent(7, 1)]);
    expect(terms(u.nextEntries())).toEqual(['1/7']);
    u.stableTo(6, 1);
    expect([u.offset, terms(u.entries)]).toEqual([7, ['1/7']]);
  });

  it('log - truncating unstable entries pulls back what must be handed out again', () => {
    const u = new Unstable(5, noopLogger);
    u.truncateAndAppend([ent(5, 1), ent(6, 1), ent(7, 1)]);
    u.acceptInProgress();
    u.truncateAndAppend([ent(6, 2)]);
    expect(terms(u.entries)).toEqual(['1/5', '2/6']);
    expect(terms(u.nextEntries())).toEqual(['2/6']);
    // A stale stable notice for the overwritten entry is ignored.
    u.stableTo(7, 1);
    u.stableTo(6, 1);
    expect(u.offset).toBe(5);
    u.stableTo(6, 2);
    expect([u.offset, u.entries]).toEqual([7, []]);
  });

  it('log - replacing before the unstable offset restarts there', () => {
    const u = new Unstable(5, noopLogger);
    u.truncateAndAppend([ent(5, 1), ent(6, 1)]);
    u.truncateAndAppend([ent(4, 3)]);
    expect([u.offset, u.offsetInProgress, terms(u.entries)]).toEqual([4, 4, ['3/4']]);
  });

  it('log - a pending snapshot answers first/last index and its own term', () => {
    const u = new Unstable(1, noopLogger);
    u.restore({ metadata: { index: 9, term: 4, confState: { voters: [], learners: [] } }, data: new Uint8Array() });
    expect([u.maybeFirstIndex(), u.maybeLastIndex(), u.maybeTerm(9), u.maybeTerm(8)]).toEqual([10, 9, 4, undefined]);
    u.acceptInProgress();
    expect(u.nextSnapshot()).toBeUndefined();
    u.stableSnapTo(9);
    expect(u.snapshot).toBeUndefined();
  });
});

describe('log - raft log', () => {
  it('log - maybeAppend keeps matching entries, replaces conflicts, rejects a mismatched prev entry', () => {
    const log = logWith([1, 2, 3]);
    expect(log.maybeAppend(3, 2, [])).toBeUndefined();
    expect(log.maybeAppend(2, 2, [ent(3, 3)])).toBe(3);
    expect(terms(log.allEntries())).toEqual(['1/1', '2/2', '3/3']);
    expect(log.maybeAppend(1, 1, [ent(2, 2), ent(3, 4), ent(4, 4)])).toBe(4);
    expect(terms(log.allEntries())).toEqual(['1/1', '2/2', '4/3', '4/4']);
  });

  it('log - a conflict with a committed entry is an invariant violation', () => {
    const log = logWith([1, 2, 3]);
    log.commitTo(3);
    expect(() => log.maybeAppend(1, 1, [ent(2, 5)])).toThrow(/conflicts with committed/);
  });

  it('log - the commit index never moves back and never passes the last index', () => {
    const log = logWith([1, 1]);
    log.commitTo(2);
    log.commitTo(1);
    expect(log.committed).toBe(2);
    expect(() => log.commitTo(3)).toThrow(/out of range/);
  });

  it('log - findConflictByTerm skips the entries that cannot match', () => {
    const log = logWith([1, 1, 1, 4, 4, 5, 5]);
    expect(log.findConflictByTerm(7, 3)).toEqual({ index: 3, term: 1 });
    expect(log.findConflictByTerm(7, 5)).toEqual({ index: 7, term: 5 });
    expect(log.findConflictByTerm(5, 0)).toEqual({ index: 0, term: 0 });
  });

  it('log - committed entries are handed out only once stable (allowUnstable false)', () => {
    const log = logWith([1], [1, 1]);
    log.commitTo(3);
    expect(terms(log.nextCommittedEnts(true))).toEqual(['1/1', '1/2', '1/3']);
    expect(terms(log.nextCommittedEnts(false))).toEqual(['1/1']);
    // The driver persists them, then advance marks them stable.
    (log.storage as MemoryStorage).append(log.nextUnstableEnts());
    log.stableTo({ index: 3, term: 1 });
    expect(terms(log.nextCommittedEnts(false))).toEqual(['1/1', '1/2', '1/3']);
  });

  it('log - applying is bounded by the per-Ready byte budget and paused until applied', () => {
    const s = MemoryStorage.withConfState({ voters: [1n], learners: [] }, 0, 0);
    s.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
    const log = new RaftLog(s, noopLogger, 17 * 2);
    log.commitTo(3);
    expect(terms(log.nextCommittedEnts(false))).toEqual(['1/1', '1/2']);
    log.acceptApplying(2, 34, false);
    expect(log.hasNextCommittedEnts(false)).toBe(false);
    log.appliedTo(2, 34);
    expect(terms(log.nextCommittedEnts(false))).toEqual(['1/3']);
  });

  it('log - slices span stable and unstable parts; compacted ranges throw', () => {
    const s = MemoryStorage.withConfState({ voters: [1n], learners: [] }, 0, 0);
    s.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
    s.compact(1);
    const log = new RaftLog(s, noopLogger, 1 << 20);
    log.append([ent(4, 2), ent(5, 2)]);
    expect(terms(log.slice(2, 6, Number.MAX_SAFE_INTEGER))).toEqual(['1/2', '1/3', '2/4', '2/5']);
    expect(terms(log.slice(2, 6, 17 * 3))).toEqual(['1/2', '1/3', '2/4']);
    expect(() => log.slice(1, 3, 100)).toThrow(CompactedError);
    expect([log.maybeTerm(0), log.maybeTerm(1), log.maybeTerm(5), log.maybeTerm(6)]).toEqual([undefined, 1, 2, undefined]);
  });

  it('log - up-to-date comparison (§5.4.1)', () => {
    const log = logWith([1, 2, 2]);
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
    expect(log.isUpToDate(1, 3)).toBe(true);
    expect(log.isUpToDate(9, 1)).toBe(false);
  });
});
