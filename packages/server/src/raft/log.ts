import type { Logger } from './config.js';
import { CompactedError, RaftInvariantError, UnavailableError } from './errors.js';
import { Unstable } from './log-unstable.js';
import type { Storage } from './storage.js';
import { entriesSize, entrySize, limitSize, type Entry, type Snapshot } from './types.js';

/** An entry's position: the pair that, by the log matching property, identifies the entry and the whole log before it. */
export interface EntryId {
  index: number;
  term: number;
}

/**
 * A node's view of the Raft log: the stable part (read from `Storage`) followed by the unstable part (entries and
 * snapshot not yet persisted), plus the commit and apply cursors.
 *
 * ```
 *   firstIndex-1 (snapshot point)
 *   |    stable (Storage)          unstable
 *   v  |------------------------|-----------------|
 *   4  5  6  7  8  9  10 11 12  13 14 15 16 17 18
 *            ^applied  ^applying      ^committed   ^lastIndex
 * ```
 *
 * Invariant: applied <= applying <= committed <= lastIndex().
 * Invariant: firstIndex() - 1 <= applied (compacted entries were applied).
 */
export class RaftLog {
  readonly unstable: Unstable;
  /** Highest index known to be stored on a quorum. Never decreases. */
  committed: number;
  /** Highest index handed out to the application for applying (in a Ready not yet advanced, or applied). */
  applying: number;
  /** Highest index the application has applied. */
  applied: number;
  /** Upper bound, in bytes, of entries handed out for applying and not yet applied. At least 1. */
  private readonly maxApplyingEntsSize: number;
  /** Bytes of entries handed out for applying and not yet applied. */
  private applyingEntsSize = 0;
  /** Whether handing out more committed entries waits for earlier ones to be applied. */
  private applyingEntsPaused = false;

  constructor(
    readonly storage: Storage,
    private readonly logger: Logger,
    maxApplyingEntsSize: number,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1, logger);
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
    this.maxApplyingEntsSize = Math.max(1, maxApplyingEntsSize);
  }

  toString(): string {
    return `committed=${this.committed}, applied=${this.applied}, applying=${this.applying}, unstable.offset=${this.unstable.offset}, unstable.offsetInProgress=${this.unstable.offsetInProgress}, len(unstable.entries)=${this.unstable.entries.length}`;
  }

  /**
   * Appends `ents`, which follow the entry (prevIndex, prevTerm), if the log has that entry. Entries already present
   * with the same term are kept (an append may be a duplicate or arrive late); from the first conflicting entry on,
   * the log is replaced. Returns the index of the last entry of the append, or undefined if (prevIndex, prevTerm)
   * does not match.
   */
  maybeAppend(prevIndex: number, prevTerm: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) throw new RaftInvariantError(`entry ${ci} conflicts with committed entry [committed(${this.committed})]`);
      this.append(ents.slice(ci - (prevIndex + 1)));
    }
    return lastNew;
  }

  /** Appends `ents` (consecutive), overwriting from `ents[0].index` on. Must not touch committed entries. Returns the new last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    if (after < this.committed) throw new RaftInvariantError(`after(${after}) is out of range [committed(${this.committed})]`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry of `ents` that the log does not have (different term, or beyond the end); 0 if it
   * has them all.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) {
        if (e.index <= this.lastIndex()) {
          this.logger.info(`found conflict at index ${e.index} [existing term: ${this.termOrZero(e.index)}, conflicting term: ${e.term}]`);
        }
        return e.index;
      }
    }
    return 0;
  }

  /**
   * The last entry at or before `index` whose term is <= `term` (0/0 if none; the index with term 0 if the term is
   * no longer known). Used for fast backtracking: a leader whose entry at `index` has term `term` cannot match any
   * of our entries with a larger term, so the next probe can skip them all.
   *
   * ```
   *   index:     1 2 3 4 5 6 7
   *   our terms: 1 1 1 4 4 5 5        findConflictByTerm(7, 3) = (3, 1)   (skips 4..7)
   * ```
   */
  findConflictByTerm(index: number, term: number): EntryId {
    for (; index > 0; index--) {
      const t = this.maybeTerm(index);
      if (t === undefined) return { index, term: 0 };
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Entries not yet handed out for persisting. */
  nextUnstableEnts(): Entry[] {
    return this.unstable.nextEntries();
  }

  hasNextUnstableEnts(): boolean {
    return this.unstable.hasNextEntries();
  }

  /** Whether any entries are unstable (handed out or not). */
  hasNextOrInProgressUnstableEnts(): boolean {
    return this.unstable.entries.length > 0;
  }

  /**
   * Committed entries ready to be handed out for applying. With `allowUnstable` false, only entries already in
   * stable storage qualify (the Ready contract: committed entries are durable locally before they are applied).
   */
  nextCommittedEnts(allowUnstable: boolean): Entry[] {
    if (this.applyingEntsPaused || this.hasNextOrInProgressSnapshot()) return [];
    const lo = this.applying + 1;
    const hi = this.maxAppliableIndex(allowUnstable) + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, this.maxApplyingEntsSize - this.applyingEntsSize);
  }

  hasNextCommittedEnts(allowUnstable: boolean): boolean {
    if (this.applyingEntsPaused || this.hasNextOrInProgressSnapshot()) return false;
    return this.applying + 1 <= this.maxAppliableIndex(allowUnstable);
  }

  /** The highest index that may be handed out for applying. */
  maxAppliableIndex(allowUnstable: boolean): number {
    return allowUnstable ? this.committed : Math.min(this.committed, this.unstable.offset - 1);
  }

  nextUnstableSnapshot(): Snapshot | undefined {
    return this.unstable.nextSnapshot();
  }

  hasNextOrInProgressSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** The snapshot to send to a follower: a pending incoming one, else the storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Raises the commit index. It never decreases, and never passes the last index (that would mean a lost log). */
  commitTo(toCommit: number): void {
    if (this.committed < toCommit) {
      if (this.lastIndex() < toCommit) {
        throw new RaftInvariantError(
          `tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`,
        );
      }
      this.committed = toCommit;
    }
  }

  /** The application has applied up to `i`; `size` is the `entriesSize` of the entries just applied. */
  appliedTo(i: number, size: number): void {
    if (this.committed < i || i < this.applied) {
      throw new RaftInvariantError(`applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`);
    }
    this.applied = i;
    this.applying = Math.max(this.applying, i);
    this.applyingEntsSize = Math.max(0, this.applyingEntsSize - size);
    this.applyingEntsPaused = this.applyingEntsSize >= this.maxApplyingEntsSize;
  }

  /** Entries up to `i` (of total size `size`) were handed out for applying. */
  acceptApplying(i: number, size: number, allowUnstable: boolean): void {
    if (this.committed < i) throw new RaftInvariantError(`applying(${i}) is out of range [prevApplying(${this.applying}), committed(${this.committed})]`);
    this.applying = i;
    this.applyingEntsSize += size;
    // Pause if over budget, or if more committed entries were held back by the size limit: hand them out only once
    // the application has caught up, so one Ready never carries more than the budget.
    this.applyingEntsPaused = this.applyingEntsSize >= this.maxApplyingEntsSize || i < this.maxAppliableIndex(allowUnstable);
  }

  stableTo(id: EntryId): void {
    this.unstable.stableTo(id.index, id.term);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  acceptUnstable(): void {
    this.unstable.acceptInProgress();
  }

  lastEntryId(): EntryId {
    const index = this.lastIndex();
    const term = this.maybeTerm(index);
    if (term === undefined) throw new RaftInvariantError(`unexpected error when getting the last term at ${index}`);
    return { index, term };
  }

  /**
   * The term of entry `i`, or undefined if it is compacted (i < firstIndex() - 1) or beyond the last index. Never
   * throws for those cases, unlike `term`.
   */
  maybeTerm(i: number): number | undefined {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    if (i + 1 < this.firstIndex() || i > this.lastIndex()) return undefined;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return undefined;
      throw err;
    }
  }

  /** The term of entry `i`. Throws `CompactedError` or `UnavailableError` outside [firstIndex() - 1, lastIndex()]. */
  term(i: number): number {
    const t = this.maybeTerm(i);
    if (t !== undefined) return t;
    if (i + 1 < this.firstIndex()) throw new CompactedError(i);
    throw new UnavailableError(i);
  }

  /** The term of entry `i`, 0 if unknown. */
  termOrZero(i: number): number {
    return this.maybeTerm(i) ?? 0;
  }

  /** Entries from `i` to the end, at most `maxSize` bytes (at least one). Throws `CompactedError` if `i` is compacted. */
  entries(i: number, maxSize: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxSize);
  }

  /** Every entry from the first index on (tests and debugging). */
  allEntries(): Entry[] {
    return this.entries(this.firstIndex(), Number.MAX_SAFE_INTEGER);
  }

  /** Whether a candidate whose last entry is (index, term) has a log at least as up to date as ours (§5.4.1). */
  isUpToDate(index: number, term: number): boolean {
    const our = this.lastEntryId();
    return term > our.term || (term === our.term && index >= our.index);
  }

  matchTerm(index: number, term: number): boolean {
    const t = this.maybeTerm(index);
    return t !== undefined && t === term;
  }

  /** Commits up to `index` if the entry there has term `term` (the leader passes its own term: §5.4.2). */
  maybeCommit(index: number, term: number): boolean {
    if (term !== 0 && index > this.committed && this.matchTerm(index, term)) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Replaces the log with a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.logger.info(`log [${this.toString()}] starts to restore snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`);
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Calls `visit` with consecutive pages (each at most `pageSize` bytes, at least one entry) covering [lo, hi); stops if it returns true. */
  scan(lo: number, hi: number, pageSize: number, visit: (ents: Entry[]) => boolean): void {
    while (lo < hi) {
      const ents = this.slice(lo, hi, pageSize);
      if (ents.length === 0) throw new RaftInvariantError(`got 0 entries in [${lo}, ${hi})`);
      if (visit(ents)) return;
      lo += ents.length;
    }
  }

  /** Entries in [lo, hi), at most `maxSize` bytes (but at least one). Throws `CompactedError` if lo is compacted. */
  slice(lo: number, hi: number, maxSize: number): Entry[] {
    this.checkOutOfBounds(lo, hi);
    if (lo === hi) return [];
    const uOffset = this.unstable.offset;
    if (lo >= uOffset) return limitSize(this.unstable.slice(lo, hi), maxSize);
    const cut = Math.min(hi, uOffset);
    let ents: Entry[];
    try {
      ents = this.storage.entries(lo, cut, maxSize);
    } catch (err) {
      if (err instanceof UnavailableError) throw new RaftInvariantError(`entries[${lo}:${cut}) is unavailable from storage`, { cause: err });
      throw err;
    }
    if (hi <= uOffset || ents.length < cut - lo) return ents;
    const size = entriesSize(ents);
    if (size >= maxSize) return ents;
    const tail = limitSize(this.unstable.slice(uOffset, hi), maxSize - size);
    if (tail.length === 1 && size + entrySize(tail[0]!) > maxSize) return ents;
    return ents.concat(tail);
  }

  private checkOutOfBounds(lo: number, hi: number): void {
    if (lo > hi) throw new RaftInvariantError(`invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw new CompactedError(lo);
    const last = this.lastIndex();
    if (hi > last + 1) throw new RaftInvariantError(`slice[${lo},${hi}) out of bound [${fi},${last}]`);
  }
}
