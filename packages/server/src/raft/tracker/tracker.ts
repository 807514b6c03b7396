import { RaftInvariantError } from '../errors.js';
import { committedIndex, voteResult, VoteResult } from '../quorum/majority.js';
import { ConfChangeType, sortIds, type ConfChange, type ConfState, type NodeId } from '../types.js';
import { Progress } from './progress.js';

/**
 * The current membership configuration and the leader's per-peer progress, plus the votes of an election.
 *
 * Membership changes one member at a time (no joint consensus). Worked example of the changes and what they do to
 * the progress entries:
 *
 * ```
 *   voters (1 2 3)   learners ()     progress {1, 2, 3}
 *   AddLearnerNode 4  → voters (1 2 3)   learners (4)   progress {1, 2, 3, 4L}   4 gets the log, never votes
 *   AddNode 4         → voters (1 2 3 4) learners ()    progress {1, 2, 3, 4}    promotion: 4's match/next are kept
 *   AddLearnerNode 3  → voters (1 2 4)   learners (3)   progress {1, 2, 3L, 4}   demotion: 3 stops counting at once
 *   RemoveNode 3      → voters (1 2 4)   learners ()    progress {1, 2, 4}
 *   RemoveNode 4, RemoveNode 2, then RemoveNode 1 → rejected: a configuration needs at least one voter
 * ```
 *
 * Invariant: `voters` and `learners` are sorted and disjoint; `progress` has exactly their ids.
 */
export class ProgressTracker {
  /** Sorted ascending. */
  voters: NodeId[] = [];
  /** Sorted ascending. */
  learners: NodeId[] = [];
  readonly progress = new Map<NodeId, Progress>();
  /** Votes received in the current election: granted (true) or rejected (false). */
  readonly votes = new Map<NodeId, boolean>();
  /** Sorted ids of `progress`, for deterministic visiting order. */
  private ids: NodeId[] = [];

  constructor(
    readonly maxInflight: number,
    readonly maxInflightBytes: number,
  ) {}

  confState(): ConfState {
    return { voters: this.voters.slice(), learners: this.learners.slice() };
  }

  /** Whether the configuration has exactly one voter (who therefore decides alone). */
  isSingleton(): boolean {
    return this.voters.length === 1;
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** The highest index replicated on a majority of voters. */
  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match);
  }

  /** Calls `fn` for every peer (voters and learners), in ascending id order. */
  visit(fn: (id: NodeId, pr: Progress) => void): void {
    for (const id of this.ids) fn(id, this.progress.get(id)!);
  }

  /** Whether a majority of voters was recently active (the leader counts itself active). */
  quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.voters) active.set(id, this.progress.get(id)?.recentActive ?? false);
    return voteResult(this.voters, active) === VoteResult.Won;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records `id`'s answer; only its first answer in an election counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Counts the votes of voters, and whether the election is won, lost or pending. */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: voteResult(this.voters, this.votes) };
  }

  /**
   * Resets every progress for a new term: nothing known about followers, `next` optimistically after our last
   * index; our own match is our last index.
   */
  resetProgress(lastIndex: number, selfId: NodeId): void {
    for (const id of this.ids) {
      const old = this.progress.get(id)!;
      const pr = this.newProgress(lastIndex + 1, old.isLearner);
      if (id === selfId) pr.match = lastIndex;
      this.progress.set(id, pr);
    }
  }

  /** Replaces the configuration with `cs` (from a snapshot or the initial state); all progress is fresh. */
  restore(cs: ConfState, lastIndex: number): void {
    this.voters = [];
    this.learners = [];
    this.progress.clear();
    this.ids = [];
    for (const id of cs.voters) this.applyChange({ type: ConfChangeType.AddNode, nodeId: id, context: new Uint8Array(0) }, lastIndex);
    for (const id of cs.learners) this.applyChange({ type: ConfChangeType.AddLearnerNode, nodeId: id, context: new Uint8Array(0) }, lastIndex);
  }

  /** Why `cc` cannot be applied to the current configuration, or undefined if it can. */
  checkChange(cc: ConfChange): string | undefined {
    if (cc.nodeId === 0n) return 'conf change for node id 0';
    const onlyVoter = this.voters.length === 1 && this.voters[0] === cc.nodeId;
    if (onlyVoter && (cc.type === ConfChangeType.RemoveNode || cc.type === ConfChangeType.AddLearnerNode)) {
      return 'removed all voters';
    }
    return undefined;
  }

  /** Applies one single-member change. `lastIndex` seeds a new member's progress. Throws if `checkChange` objects. */
  applyChange(cc: ConfChange, lastIndex: number): void {
    const why = this.checkChange(cc);
    if (why !== undefined) throw new RaftInvariantError(`cannot apply conf change ${ConfChangeType[cc.type]} ${cc.nodeId}: ${why}`);
    const id = cc.nodeId;
    switch (cc.type) {
      case ConfChangeType.AddNode: {
        if (this.isVoter(id)) return;
        const pr = this.progress.get(id);
        if (pr !== undefined) {
          pr.isLearner = false; // promotion keeps the learner's progress
          this.learners = this.learners.filter((x) => x !== id);
        } else {
          this.addProgress(id, lastIndex, false);
        }
        this.voters = sortIds([...this.voters, id]);
        return;
      }
      case ConfChangeType.AddLearnerNode: {
        if (this.learners.includes(id)) return;
        const pr = this.progress.get(id);
        if (pr !== undefined) {
          pr.isLearner = true; // demotion keeps the voter's progress
          this.voters = this.voters.filter((x) => x !== id);
        } else {
          this.addProgress(id, lastIndex, true);
        }
        this.learners = sortIds([...this.learners, id]);
        return;
      }
      case ConfChangeType.RemoveNode:
        if (!this.progress.has(id)) return;
        this.voters = this.voters.filter((x) => x !== id);
        this.learners = this.learners.filter((x) => x !== id);
        this.progress.delete(id);
        this.ids = this.ids.filter((x) => x !== id);
        return;
      case ConfChangeType.UpdateNode:
        return;
    }
  }

  private addProgress(id: NodeId, lastIndex: number, isLearner: boolean): void {
    const pr = this.newProgress(lastIndex + 1, isLearner);
    // A new member counts as recently active, so that the leader may send it a snapshot at once and a freshly
    // changed configuration does not make the leader step down at the next quorum check.
    pr.recentActive = true;
    this.progress.set(id, pr);
    this.ids = sortIds([...this.ids, id]);
  }

  private newProgress(next: number, isLearner: boolean): Progress {
    return new Progress(next, this.maxInflight, this.maxInflightBytes, isLearner);
  }
}
