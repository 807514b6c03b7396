import { Role, type CoreEntry, type CoreHardState, type CoreMessage, type CoreReady, type RaftCore } from './raft-core.js';

/**
 * Raft with exactly one voter, reduced to what that means: the member is leader of a new term at every start,
 * an entry is committed once it is durable locally, and a read index is the commit index.
 *
 * It follows the same Ready contract as the full core, including the rule that an entry is handed out as
 * committed only in a Ready after the one that asked for it to be persisted (so nothing is applied, and no client
 * is answered, before its entry is on disk).
 *
 * Invariant: applied <= commit <= stable <= lastIndex.
 */
export class SoloRaft implements RaftCore {
  private readonly term: number;
  private commit: number;
  private lastIndex: number;
  /** Highest index known durable (its Ready was advanced). */
  private stable: number;
  /** Highest index handed out for persistence in the Ready being processed. */
  private persisting: number;
  private applied: number;
  /** Entries not yet handed out for persistence. */
  private unstable: CoreEntry[] = [];
  /** Durable entries not yet handed out for application, in index order. */
  private toApply: CoreEntry[] = [];
  private hsDirty = true;
  /** The term (and vote) changed since the last Ready: the hard state must be synced (etcd's MustSync rule). */
  private termDirty = true;
  private softDirty = true;
  private readCtxs: Uint8Array[] = [];

  /**
   * @param recovered entries recovered from the WAL (all durable), in index order
   * @param applied the applied index recovered from the backend
   */
  constructor(
    readonly id: bigint,
    hardState: CoreHardState | undefined,
    recovered: readonly CoreEntry[],
    applied: number,
    snapshotIndex = 0,
  ) {
    // Every start is a new election won by the only voter.
    this.term = (hardState?.term ?? 0) + 1;
    this.lastIndex = recovered.length > 0 ? recovered[recovered.length - 1]!.index : Math.max(snapshotIndex, applied);
    // Everything in the WAL is durable on the only voter, hence committed.
    this.stable = this.persisting = this.commit = this.lastIndex;
    this.applied = applied;
    this.toApply = recovered.filter((e) => e.index > applied);
    // Like any new leader, open the term with an empty entry.
    this.propose(new Uint8Array(0));
  }

  tick(): void {}

  step(_m: CoreMessage): void {}

  propose(data: Uint8Array): void {
    this.unstable.push({ term: this.term, index: ++this.lastIndex, type: 0, data });
  }

  readIndex(ctx: Uint8Array): void {
    this.readCtxs.push(ctx);
  }

  hasReady(): boolean {
    return this.softDirty || this.hsDirty || this.unstable.length > 0 || this.readCtxs.length > 0 || this.commit > this.applied;
  }

  ready(): CoreReady {
    const entries = this.unstable;
    this.unstable = [];
    if (entries.length > 0) this.persisting = entries[entries.length - 1]!.index;
    const committed = this.toApply.filter((e) => e.index <= this.commit);
    const rd: CoreReady = {
      softState: this.softDirty ? { lead: this.id, raftState: Role.Leader } : undefined,
      hardState: this.hsDirty || entries.length > 0 ? { term: this.term, vote: this.id, commit: this.commit } : undefined,
      readStates: this.readCtxs.map((requestCtx) => ({ index: this.commit, requestCtx })),
      entries,
      committedEntries: committed,
      messages: [],
      // A commit-index-only change need not be synced: the commit index can be recovered from a quorum.
      mustSync: this.termDirty || entries.length > 0,
    };
    this.termDirty = false;
    this.toApply = this.toApply.slice(committed.length);
    this.toApply.push(...entries);
    this.readCtxs = [];
    this.softDirty = false;
    this.hsDirty = false;
    return rd;
  }

  advance(rd: CoreReady): void {
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last) this.applied = last.index;
    if (this.persisting > this.stable) {
      this.stable = this.persisting;
      this.commit = this.stable;
      this.hsDirty = true;
    }
  }
}
