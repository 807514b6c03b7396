import type { Logger } from './config.js';
import { RaftInvariantError } from './errors.js';
import type { Entry, Snapshot } from './types.js';

/**
 * The part of the log that is not yet known to be in stable storage: entries (and possibly a snapshot received
 * from the leader) that the driver has not yet confirmed persisted by advancing the Ready that carried them.
 *
 * Entries move through three stages:
 *
 * ```
 *        stable (in Storage)     |  in progress (handed out   |  not yet handed out
 *                                |  in a Ready, not advanced) |
 *   ... 3    4    5    6         |  7    8                    |  9    10
 *                                ^ offset                     ^ offsetInProgress
 * ```
 *
 * `ready()` moves "not yet handed out" to "in progress" (`acceptInProgress`); `advance()` moves "in progress" to
 * stable (`stableTo`). A new leader may overwrite entries in any unstable stage (`truncateAndAppend`), which pulls
 * `offsetInProgress` back so that the replacement entries are handed out again.
 *
 * Invariants: entries[k].index === offset + k; offset <= offsetInProgress <= offset + entries.length; if `snapshot`
 * is set, offset === snapshot.metadata.index + 1.
 */
export class Unstable {
  /** A snapshot received from the leader and not yet persisted. */
  snapshot: Snapshot | undefined = undefined;
  /** Entries not yet persisted. */
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;
  /** Whether `snapshot` has been handed out in a Ready (and not yet advanced). */
  snapshotInProgress = false;
  /** Entries with index < offsetInProgress have been handed out in a Ready. */
  offsetInProgress: number;

  constructor(
    offset: number,
    private readonly logger: Logger,
  ) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** The first index, if a snapshot is pending (else the stable storage knows). */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  /** The last index, if there are unstable entries or a pending snapshot. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index;
  }

  /** The term of entry `i`, if the unstable part knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      const s = this.snapshot;
      return s !== undefined && s.metadata.index === i ? s.metadata.term : undefined;
    }
    const e = this.entries[i - this.offset];
    return e === undefined ? undefined : e.term;
  }

  /** Entries not yet handed out in a Ready. */
  nextEntries(): Entry[] {
    const inProgress = this.offsetInProgress - this.offset;
    if (this.entries.length === inProgress) return [];
    return this.entries.slice(inProgress);
  }

  hasNextEntries(): boolean {
    return this.entries.length > this.offsetInProgress - this.offset;
  }

  /** The pending snapshot, if not yet handed out in a Ready. */
  nextSnapshot(): Snapshot | undefined {
    return this.snapshotInProgress ? undefined : this.snapshot;
  }

  /** Marks everything currently unstable as handed out (called when a Ready is taken). */
  acceptInProgress(): void {
    if (this.entries.length > 0) this.offsetInProgress = this.offset + this.entries.length;
    if (this.snapshot !== undefined) this.snapshotInProgress = true;
  }

  /**
   * The entries up to (index, term) are durable: drop them from the unstable part. Ignored if the log no longer
   * has that entry (it was overwritten meanwhile): by the log matching property, an entry with the same index and
   * term also means the same entries before it, so matching on (index, term) is enough.
   */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === undefined) {
      this.logger.debug(`entry at index ${index} missing from unstable log; ignoring`);
      return;
    }
    if (index < this.offset) {
      this.logger.debug(`entry at index ${index} matched unstable snapshot; ignoring`);
      return;
    }
    if (t !== term) {
      this.logger.debug(`entry at (index,term)=(${index},${term}) mismatched with entry at (${index},${t}) in unstable log; ignoring`);
      return;
    }
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  /** The snapshot at `index` is durable. */
  stableSnapTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  /** Replaces everything with a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = s;
    this.snapshotInProgress = false;
  }

  /**
   * Appends `ents` (consecutive, non-empty), first discarding any unstable entries at or after `ents[0].index`.
   *
   * ```
   *   entries 5 6 7 (offset 5), append [6' 7' 8']  →  5 6' 7' 8'   (offsetInProgress pulled back to <= 6)
   *   entries 5 6 7 (offset 5), append [4' 5']     →  4' 5'         (offset 4: storage's 4.. will be overwritten)
   * ```
   */
  truncateAndAppend(ents: readonly Entry[]): void {
    const from = ents[0]!.index;
    const end = this.offset + this.entries.length;
    if (from === end) {
      for (const e of ents) this.entries.push(e);
    } else if (from <= this.offset) {
      this.logger.info(`replace the unstable entries from index ${from}`);
      this.entries = ents.slice();
      this.offset = from;
      this.offsetInProgress = from;
    } else if (from < end) {
      this.logger.info(`truncate the unstable entries before index ${from}`);
      const keep = this.entries.slice(0, from - this.offset);
      for (const e of ents) keep.push(e);
      this.entries = keep;
      this.offsetInProgress = Math.min(this.offsetInProgress, from);
    } else {
      throw new RaftInvariantError(`unstable append at ${from} leaves a gap after ${end - 1}`);
    }
  }

  /** Entries in [lo, hi), which must lie within the unstable entries. */
  slice(lo: number, hi: number): Entry[] {
    const upper = this.offset + this.entries.length;
    if (lo > hi || lo < this.offset || hi > upper) {
      throw new RaftInvariantError(`unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`);
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
