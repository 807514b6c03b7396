import { CompactedError, RaftInvariantError, SnapshotOutOfDateError, UnavailableError } from './errors.js';
import { EntryType, emptyBytes, limitSize, None, type ConfState, type Entry, type HardState, type Snapshot } from './types.js';

/**
 * The read side of a node's durable log, as the core needs it. The driver writes (append, snapshot, hard state) in
 * response to `Ready`s; the core only reads. Every method is synchronous: an implementation backed by disk keeps
 * what the core reads (recent entries, terms) in memory.
 *
 * Errors: `entries`/`term` throw `CompactedError` for an index before `firstIndex()` (for `term`: before
 * `firstIndex() - 1`, whose term the snapshot remembers) and `UnavailableError` past `lastIndex()`. `snapshot` may
 * throw `SnapshotTemporarilyUnavailableError`. Any other error stops the node.
 *
 * Aliasing: the core never mutates returned entries or arrays.
 */
export interface Storage {
  /** The persisted hard state and the configuration of the latest snapshot (or of the bootstrapped log). */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi), truncated so their total `entrySize` is at most `maxBytes` (but at least one entry is
   * returned when the range is not empty).
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of the entry at `i`, for i in [firstIndex() - 1, lastIndex()]. */
  term(i: number): number;
  /** Index of the first entry still available (the snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (the snapshot index if the log is empty). */
  lastIndex(): number;
  /** The most recent snapshot. */
  snapshot(): Snapshot;
}

/**
 * An in-memory `Storage`, for tests and for embedding where the application persists elsewhere. Not thread-safe
 * (JS does not need it to be).
 *
 * Layout: `ents[0]` is a placeholder that carries the index and term of the last compacted entry (the snapshot
 * point); real entries follow at consecutive indexes.
 *
 * ```
 *   after applySnapshot(index 5, term 2), append(6..8), compact(7):
 *
 *   ents:   [ (7,t) | 8 ]            firstIndex = 8, lastIndex = 8
 *             ^ placeholder: term(7) is still answerable, entries(7, …) throws CompactedError
 * ```
 *
 * Invariant: ents.length >= 1 and ents[k].index === ents[0].index + k.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: None, commit: 0 };
  private snap: Snapshot = { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: emptyBytes };
  private ents: Entry[] = [placeholder(0, 0)];

  /** A storage bootstrapped with the given configuration, as a snapshot at `index`/`term` (both default to 1 for a new cluster). */
  static withConfState(confState: ConfState, index = 1, term = 1): MemoryStorage {
    const s = new MemoryStorage();
    s.applySnapshot({ metadata: { index, term, confState }, data: emptyBytes });
    return s;
  }

  /**
   * A copy that shares the (immutable) entries and snapshot but not the arrays: changing one storage does not
   * change the other. Simulators use it to model what a disk holds at a crash.
   */
  clone(): MemoryStorage {
    const c = new MemoryStorage();
    c.hardState = { ...this.hardState };
    c.snap = this.snap;
    c.ents = this.ents.slice();
    return c;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    if (lo >= hi) return [];
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(i: number): number {
    const offset = this.ents[0]!.index;
    if (i < offset) throw new CompactedError(i);
    const e = this.ents[i - offset];
    if (e === undefined) throw new UnavailableError(i);
    return e.term;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with `snap` (a snapshot received from the leader). Throws `SnapshotOutOfDateError` if older than the current one. */
  applySnapshot(snap: Snapshot): void {
    const cur = this.snap.metadata.index;
    if (snap.metadata.index <= cur && cur > 0) throw new SnapshotOutOfDateError(snap.metadata.index, cur);
    this.snap = snap;
    this.ents = [placeholder(snap.metadata.index, snap.metadata.term)];
  }

  /**
   * Records a snapshot of the application's state as of `index` (which must be applied, so in the log). Does not
   * compact: call `compact` afterwards to drop the entries it covers. Throws `SnapshotOutOfDateError` if `index` is not
   * newer than the current snapshot.
   */
  createSnapshot(index: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError(index, this.snap.metadata.index);
    if (index > this.lastIndex()) throw new RaftInvariantError(`snapshot ${index} is out of bound lastindex(${this.lastIndex()})`);
    const term = this.ents[index - this.ents[0]!.index]!.term;
    this.snap = { metadata: { index, term, confState: confState ?? this.snap.metadata.confState }, data };
    return this.snap;
  }

  /**
   * Discards entries up to and including `compactIndex` (their term stays answerable for the last one). The
   * application must not compact past its applied index, and must first take a snapshot covering `compactIndex`
   * (`createSnapshot`): a follower that needs the discarded entries is sent `snapshot()` instead. Throws
   * `CompactedError` if already compacted that far.
   */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw new CompactedError(compactIndex);
    if (compactIndex > this.lastIndex()) throw new RaftInvariantError(`compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    const i = compactIndex - offset;
    const keep = this.ents.slice(i);
    keep[0] = placeholder(keep[0]!.index, keep[0]!.term);
    this.ents = keep;
  }

  /**
   * Appends entries, replacing any stored entries at the same or later indexes (a new leader may overwrite an
   * uncommitted suffix). Entries at or before the snapshot point are ignored. The first new entry must not leave a
   * gap after the last stored one.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[entries.length - 1]!.index;
    if (last < first) return;
    let from = 0;
    if (first > entries[0]!.index) from = first - entries[0]!.index;
    const start = entries[from]!.index;
    const offset = start - this.ents[0]!.index;
    if (offset > this.ents.length) {
      throw new RaftInvariantError(`missing log entry [last: ${this.lastIndex()}, append at: ${start}]`);
    }
    if (offset < this.ents.length) this.ents.length = offset;
    for (let k = from; k < entries.length; k++) this.ents.push(entries[k]!);
  }
}

function placeholder(index: number, term: number): Entry {
  return { term, index, type: EntryType.Normal, data: emptyBytes };
}
