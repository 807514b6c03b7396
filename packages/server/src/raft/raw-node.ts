import { validate, type Config } from './config.js';
import { ProposalDroppedError, RaftUsageError } from './errors.js';
import type { EntryId } from './log.js';
import { Raft } from './raft.js';
import { ProgressState } from './tracker/progress.js';
import {
  encodeConfChange,
  entriesSize,
  EntryType,
  hardStatesEqual,
  isEmptyHardState,
  isLocalMessage,
  isResponseMessage,
  MessageType,
  newMessage,
  payloadSize,
  StateType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type ReadState,
  type Message,
  type NodeId,
  type Ready,
  type Snapshot,
  type SoftState,
} from './types.js';

/** The leader's view of one peer, as reported by `status()`. */
export interface ProgressStatus {
  match: number;
  next: number;
  state: 'probe' | 'replicate' | 'snapshot';
  isLearner: boolean;
  recentActive: boolean;
  paused: boolean;
  pendingSnapshot: number;
  /** Appends in flight. */
  inflight: number;
}

/** A snapshot of a node's state, for monitoring and tests. */
export interface Status {
  id: NodeId;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  /** Per peer (this node included); empty unless this node is the leader. */
  progress: Map<NodeId, ProgressStatus>;
  /** The node leadership is being transferred to, or None. */
  leadTransferee: NodeId;
  /** The current membership. */
  config: ConfState;
}

/** `status()` without the allocation-heavy parts (progress, config). */
export interface BasicStatus {
  id: NodeId;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  leadTransferee: NodeId;
}

/** What `advance` must do for the Ready that was taken. */
interface Accepted {
  /** The last entry handed out for persisting: once advanced, everything up to it is stable. */
  stable: EntryId | undefined;
  snapshot: Snapshot | undefined;
  /** Index, size and payload size of the committed entries handed out. */
  appliedIndex: number;
  appliedSize: number;
  appliedPayload: number;
  /** Messages to ourselves that may only be stepped once the Ready is durable (own append ack, own vote). */
  steps: Message[];
}

/**
 * A Raft node without threads, timers or I/O: the application calls `tick`, `step` and the request methods, then
 * processes `ready()` and calls `advance`. Not reentrant; call it from one place (the driver loop).
 */
export class RawNode {
  /** The protocol state machine. Exposed for tests and tools; applications use the RawNode methods. */
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private accepted: Accepted | undefined = undefined;

  constructor(config: Config) {
    this.raft = new Raft(validate(config));
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  /** Advances the logical clock by one tick (heartbeat and election timeouts are counted in ticks). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (with a pre-vote round when pre-vote is on). */
  campaign(): void {
    this.raft.step(newMessage({ type: MessageType.MsgHup }));
  }

  /**
   * Proposes `data` for appending to the log. The leader appends it; a follower forwards it to the leader (unless
   * forwarding is disabled). Throws `ProposalDroppedError` if it cannot be accepted now (no leader, transfer in
   * progress, …). Acceptance is no promise of commit: the application learns the outcome from committed entries.
   */
  propose(data: Uint8Array): void {
    this.raft.step(
      newMessage({ type: MessageType.MsgProp, from: this.raft.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data }] }),
    );
  }

  /**
   * Proposes a membership change. The leader accepts one only when no other is pending and it has applied an entry
   * of its term; otherwise the entry is turned into an empty normal entry (logged). The change takes effect when the
   * application applies the committed entry and calls `applyConfChange`.
   */
  proposeConfChange(cc: ConfChange): void {
    this.raft.step(
      newMessage({
        type: MessageType.MsgProp,
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }],
      }),
    );
  }

  /** Applies a committed conf change; call it when applying its entry. Returns the new configuration. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * Steps a message received from a peer. Throws `RaftUsageError` for a local message type (those never come from
   * the network). Responses from peers not in the configuration are dropped; a forwarded proposal this node cannot
   * take is dropped (its proposer times out). Protocol rejections are answered with messages, never thrown.
   */
  step(m: Message): void {
    if (isLocalMessage(m.type)) throw new RaftUsageError(`raft: cannot step raft local message ${MessageType[m.type]}`);
    if (isResponseMessage(m.type) && !this.raft.trk.progress.has(m.from)) {
      this.raft.logger.debug(`${this.raft.id} dropped ${MessageType[m.type]} from ${m.from}: peer not found`);
      return;
    }
    try {
      this.raft.step(m);
    } catch (err) {
      if (err instanceof ProposalDroppedError) return;
      throw err;
    }
  }

  /**
   * Asks for a read index. The answer comes back as a `ReadState` with this `ctx` in a later Ready: the read may be
   * served once the applied index reaches `ReadState.index`. Make `ctx` unique per attempt (a retry gets a new one).
   * A follower without a known leader drops the request (logged); retry after a timeout.
   */
  readIndex(ctx: Uint8Array): void {
    this.raft.step(newMessage({ type: MessageType.MsgReadIndex, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: ctx }] }));
  }

  /**
   * Takes the read states produced so far, outside of a Ready. They do not depend on anything being persisted
   * (a read state only says "serve once applied >= index"), so the driver may hand them out as soon as a step
   * produces them instead of waiting for the Ready being persisted to finish.
   */
  takeReadStates(): ReadState[] {
    const rs = this.raft.readStates;
    if (rs.length > 0) this.raft.readStates = [];
    return rs;
  }

  /**
   * Takes the messages that may leave at any time — every kind except append acknowledgements and votes, which
   * wait for persistence (`msgsAfterAppend`) — outside of a Ready. A driver persisting one Ready can send what
   * later steps produce (heartbeats and their responses, read-index traffic, a leader's appends) without
   * waiting for that fsync; the rest stays for the next Ready.
   */
  takeMessages(): Message[] {
    const msgs = this.raft.msgs;
    if (msgs.length > 0) this.raft.msgs = [];
    return msgs;
  }

  /** Asks the leader (this node, or forwarded) to hand leadership to `transferee`. */
  transferLeader(transferee: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.MsgTransferLeader, from: transferee }));
  }

  /**
   * Follower: forget the current leader, so that (pre-)votes are granted at once instead of after the leader lease
   * expires. Use it when the connection to the leader breaks because its process died. No-op on a leader or
   * candidate. The leader is re-learnt from its next message if it is in fact alive.
   */
  forgetLeader(): void {
    this.raft.step(newMessage({ type: MessageType.MsgForgetLeader }));
  }

  /** The transport failed to deliver to `id`: the leader stops streaming to it and probes instead. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.MsgUnreachable, from: id }));
  }

  /** Reports the outcome of sending a snapshot (a MsgSnap from a Ready) to `id`. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(newMessage({ type: MessageType.MsgSnapStatus, from: id, reject: !ok }));
  }

  basicStatus(): BasicStatus {
    const r = this.raft;
    return { id: r.id, hardState: r.hardState(), softState: r.softState(), applied: r.raftLog.applied, leadTransferee: r.leadTransferee };
  }

  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, ProgressStatus>();
    if (r.state === StateType.Leader) {
      r.trk.visit((id, pr) => {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state === ProgressState.Probe ? 'probe' : pr.state === ProgressState.Replicate ? 'replicate' : 'snapshot',
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          paused: pr.isPaused(),
          pendingSnapshot: pr.pendingSnapshot,
          inflight: pr.inflights.length,
        });
      });
    }
    return { ...this.basicStatus(), progress, config: r.trk.confState() };
  }

  /** Whether `ready()` would return something to do. */
  hasReady(): boolean {
    const r = this.raft;
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState) return true;
    const hs = r.hardState();
    if (!isEmptyHardState(hs) && !hardStatesEqual(hs, this.prevHardState)) return true;
    if (r.raftLog.nextUnstableSnapshot() !== undefined) return true;
    if (r.msgs.length > 0 || r.msgsAfterAppend.length > 0) return true;
    if (r.raftLog.hasNextUnstableEnts() || r.raftLog.hasNextCommittedEnts(false)) return true;
    return r.readStates.length > 0;
  }

  /**
   * Takes the work accumulated since the previous Ready. **The Ready contract** — the driver must, in this order:
   *
   * 1. **Persist.** Write `snapshot` (if any), then append `entries` (replacing any stored entries at the same or
   *    later indexes), then `hardState` (if any) to stable storage and make them visible to the `Storage` the core
   *    reads. If `mustSync`, fsync before going on; one fsync may cover the whole Ready (group commit). `mustSync`
   *    is true whenever there are entries or a snapshot, or the term or vote changed: a vote or an append
   *    acknowledgement must never leave the node before what it promises is durable. A commit-index-only change
   *    needs no sync (it can be recomputed from the quorum).
   * 2. **Send** `messages`. Acknowledgements and votes (MsgAppResp, MsgVoteResp, MsgPreVoteResp) must not leave
   *    before step 1 is durable. The others may be sent in parallel with step 1: a leader's appends in particular
   *    (Raft thesis §10.2.1), since its own acknowledgement only counts after `advance`. For each MsgSnap sent,
   *    call `reportSnapshot` with the outcome.
   * 3. **Apply.** Install `snapshot` in the state machine, then apply `committedEntries` in order; for each
   *    `EntryType.ConfChange` entry, call `applyConfChange`. Serve reads whose `ReadState.index` <= applied index.
   * 4. **Advance**: call `advance(rd)`. Only then may `ready()` be called again. Other calls (`step`, `tick`,
   *    `propose`, …) are allowed between `ready()` and `advance()`.
   *
   * Guarantees: every entry in `committedEntries` is committed, i.e. durable on a quorum, **and** already durable on
   * this node: it was in `entries` of an earlier Ready that has been advanced (or it is covered by a persisted
   * snapshot). So applying committed entries before, or in parallel with, step 1 is also safe. In particular a
   * single-voter cluster never hands out an entry as committed in the Ready that first asks to persist it: its own
   * acknowledgement is only counted by `advance` (the etcd#14370 rule), so the commit shows up in the next Ready.
   */
  ready(): Ready {
    if (this.accepted !== undefined) throw new RaftUsageError('raft: ready() called twice without advance()');
    const r = this.raft;
    const log = r.raftLog;
    const entries = log.nextUnstableEnts();
    const committedEntries = log.nextCommittedEnts(false);
    const snapshot = log.nextUnstableSnapshot();
    const messages = r.msgs;
    const steps: Message[] = [];
    for (const m of r.msgsAfterAppend) {
      if (m.to === r.id) steps.push(m);
      else messages.push(m);
    }
    const rd: Ready = {
      softState: undefined,
      hardState: undefined,
      readStates: r.readStates,
      entries,
      snapshot,
      committedEntries,
      messages,
      mustSync: false,
    };
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState) {
      rd.softState = ss;
      this.prevSoftState = ss;
    }
    const hs = r.hardState();
    const prev = this.prevHardState;
    if (!isEmptyHardState(hs) && !hardStatesEqual(hs, prev)) {
      rd.hardState = hs;
      this.prevHardState = hs;
    }
    rd.mustSync = !r.bug.skipFsync && (entries.length > 0 || snapshot !== undefined || hs.term !== prev.term || hs.vote !== prev.vote);

    // Accept: everything above is now "in progress" until advance.
    r.readStates = [];
    r.msgs = [];
    r.msgsAfterAppend = [];
    const stable = log.hasNextOrInProgressUnstableEnts() ? log.lastEntryId() : undefined;
    log.acceptUnstable();
    let appliedIndex = 0;
    let appliedSize = 0;
    let appliedPayload = 0;
    if (committedEntries.length > 0) {
      appliedIndex = committedEntries[committedEntries.length - 1]!.index;
      appliedSize = entriesSize(committedEntries);
      appliedPayload = payloadSize(committedEntries);
      log.acceptApplying(appliedIndex, appliedSize, false);
    }
    this.accepted = { stable, snapshot, appliedIndex, appliedSize, appliedPayload, steps };
    return rd;
  }

  /**
   * Committed entries that became appliable after the last `ready()`, while its Ready is being processed (a
   * follower learning a commit index, a leader counting acknowledgements, during its fsync). They are handed out
   * at once rather than in the next Ready, so the application can apply them without waiting for that fsync; the
   * same guarantees hold as for `Ready.committedEntries` (committed, and already durable on this node), and the
   * same duty: apply them in order — after that Ready's own `committedEntries`, before those of any later Ready —
   * calling `applyConfChange` for each conf change. They are not handed out again, and `advance` counts them applied. Outside a Ready it returns nothing
   * (the next `ready()` carries them).
   */
  takeCommittedEntries(): Entry[] {
    const a = this.accepted;
    if (a === undefined) return [];
    const log = this.raft.raftLog;
    const ents = log.nextCommittedEnts(false);
    if (ents.length === 0) return ents;
    const size = entriesSize(ents);
    a.appliedIndex = ents[ents.length - 1]!.index;
    a.appliedSize += size;
    a.appliedPayload += payloadSize(ents);
    log.acceptApplying(a.appliedIndex, size, false);
    return ents;
  }

  /**
   * Reports that the Ready returned by the last `ready()` has been fully processed (persisted, sent, applied).
   * Marks its entries stable and its committed entries applied, then delivers this node's own append
   * acknowledgement and vote, which may commit entries or win an election (visible in the next Ready).
   */
  advance(_rd: Ready): void {
    const a = this.accepted;
    if (a === undefined) throw new RaftUsageError('raft: advance() called without a ready()');
    this.accepted = undefined;
    const r = this.raft;
    if (a.stable !== undefined) r.raftLog.stableTo(a.stable);
    if (a.snapshot !== undefined) r.appliedSnap(a.snapshot);
    if (a.appliedIndex > 0) {
      r.appliedTo(a.appliedIndex, a.appliedSize);
      r.reduceUncommittedSize(a.appliedPayload);
    }
    for (const m of a.steps) r.step(m);
  }
}
