import { RaftInvariantError } from '../errors.js';
import { Inflights } from './inflights.js';

/** How the leader replicates to one follower. */
export enum ProgressState {
  /**
   * Probe: the leader does not know where the follower's log matches. It sends at most one MsgApp per heartbeat
   * interval and waits for the answer (accept: switch to replicate; reject: step `next` back and probe again).
   */
  Probe = 0,
  /**
   * Replicate: the follower's log matches up to `match`. The leader streams appends optimistically, advancing
   * `next` as it sends, up to the in-flight window.
   */
  Replicate = 1,
  /**
   * Snapshot: the entries the follower needs are compacted; a snapshot is on its way. Nothing else is sent until
   * the follower acknowledges it (or the transport reports success or failure).
   */
  Snapshot = 2,
}

/**
 * The leader's view of one follower (or of itself).
 *
 * ```
 *                        reject / unreachable
 *              +------------------------------------+
 *              v                                    |
 *          [Probe] ---- accept (match known) ---> [Replicate]
 *            |  ^                                   |
 *  entries   |  |  snapshot acked or reported        | entries compacted
 *  compacted v  |                                   v
 *          [Snapshot] <-----------------------------+
 * ```
 *
 * Invariant: match < next. Invariant: in Replicate state, every index in (match, next) is in a message in flight.
 */
export class Progress {
  /** Highest index known to be replicated on the follower. Never decreases (within a leadership). */
  match = 0;
  /** Index of the next entry to send. */
  next: number;
  /** Highest commit index sent to the follower (its commit index is at least this, if all arrived). */
  sentCommit = 0;
  state: ProgressState = ProgressState.Probe;
  /** In Snapshot state: index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from in the current check-quorum period. */
  recentActive = false;
  /**
   * Sending is paused: in Probe, a probe is in flight; in Replicate, the in-flight window is full. Cleared by a
   * heartbeat response (Probe) or an acknowledgement (Replicate).
   */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;
  /** Whether this peer is a learner (receives the log, never votes, never counts toward a quorum). */
  isLearner: boolean;

  constructor(next: number, maxInflight: number, maxInflightBytes: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Go back to probing, from just after `match` (or after the snapshot that was being sent). */
  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
    this.sentCommit = snapshotIndex;
  }

  /** A MsgApp with `entries` entries (`bytes` bytes) was just sent. */
  sentEntries(entries: number, bytes: number): void {
    switch (this.state) {
      case ProgressState.Replicate:
        if (entries > 0) {
          this.next += entries;
          this.inflights.add(this.next - 1, bytes);
        }
        this.msgAppFlowPaused = this.inflights.full();
        break;
      case ProgressState.Probe:
        if (entries > 0) this.msgAppFlowPaused = true;
        break;
      default:
        throw new RaftInvariantError(`sending append in unhandled state ${ProgressState[this.state]}`);
    }
  }

  /** Whether an (empty) append is worth sending to tell the follower about commit index `index`. */
  canBumpCommit(index: number): boolean {
    return index > this.sentCommit && this.sentCommit < this.next - 1;
  }

  /** Records that commit index `commit` was sent. */
  setSentCommit(commit: number): void {
    this.sentCommit = commit;
  }

  /** The follower acknowledged up to `n`. Returns false if that is old news. */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * The follower rejected an append after index `rejected`, suggesting `matchHint` as the last index that may match.
   * Returns false if the rejection is stale (answers an older probe) and was ignored.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      // In replicate state only a rejection above match is news; go back to just after match.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      this.sentCommit = Math.min(this.sentCommit, this.next - 1);
      return true;
    }
    // In probe state only the answer to the latest probe (sent from next - 1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Whether the leader should refrain from sending appends now. */
  isPaused(): boolean {
    return this.state === ProgressState.Snapshot || this.msgAppFlowPaused;
  }

  toString(): string {
    let s = `${ProgressState[this.state]} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += ' learner';
    if (this.isPaused()) s += ' paused';
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) s += ' inactive';
    const n = this.inflights.length;
    if (n > 0) s += ` inflight=${n}${this.inflights.full() ? '[full]' : ''}`;
    return s;
  }
}
