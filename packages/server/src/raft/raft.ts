import type { Logger, ValidConfig } from './config.js';
import { describeConfState } from './describe.js';
import { ProposalDroppedError, RaftInvariantError, RaftUsageError, SnapshotTemporarilyUnavailableError, CompactedError } from './errors.js';
import { RaftLog } from './log.js';
import { VoteResult, voteResult } from './quorum/majority.js';
import { ReadOnly } from './read-only.js';
import { ProgressState, type Progress } from './tracker/progress.js';
import { ProgressTracker } from './tracker/tracker.js';
import {
  CAMPAIGN_TRANSFER_CONTEXT,
  ConfChangeType,
  decodeConfChange,
  emptyBytes,
  entriesSize,
  EntryType,
  isEmptyHardState,
  MessageType,
  newMessage,
  None,
  payloadSize,
  StateType,
  voteResponseType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
} from './types.js';

/** How an election was started. */
export enum CampaignType {
  /** Pre-vote round: ask whether we could win, without raising the term. */
  PreElection = 'CampaignPreElection',
  /** A real election. */
  Election = 'CampaignElection',
  /** A real election ordered by the leader (MsgTimeoutNow): voters skip their leader-lease check. */
  Transfer = 'CampaignTransfer',
}

/** A role's message handler. Swapped by the `becomeX` methods; never chosen by `if (state === …)`. */
type StepFn = (r: Raft, m: Message) => void;

/**
 * The Raft protocol for one node: pure and synchronous. Inputs are messages (`step`) and ticks (`tick`); outputs
 * accumulate in `msgs`/`msgsAfterAppend`, the unstable log and `readStates` until `RawNode` packages them into a
 * `Ready`. Nothing here performs I/O, reads a clock or draws randomness except through `config.random`.
 *
 * Role behaviour lives in `stepFn`/`tickFn`, which only `becomeFollower`, `becomeCandidate`, `becomePreCandidate` and
 * `becomeLeader` assign; each of those logs exactly one line.
 *
 * Use `RawNode`, which adds the Ready/advance bookkeeping; `Raft` is exported for tests and tools.
 */
export class Raft {
  readonly id: NodeId;
  /** Current term. Persisted (HardState). Never decreases. */
  term = 0;
  /** Vote cast in `term`, or None. Persisted. Invariant: once persisted, never changes within a term. */
  vote: NodeId = None;
  /** ReadIndex answers for requests made on this node, not yet handed out in a Ready. */
  readStates: ReadState[] = [];
  readonly raftLog: RaftLog;
  trk: ProgressTracker;
  state: StateType = StateType.Follower;
  /** Whether this node is a learner in the current configuration. */
  isLearner = false;
  /** Messages to send once the current Ready is persisted. */
  msgs: Message[] = [];
  /**
   * Messages that may only be delivered after the entries/hard state they acknowledge are durable: append
   * acknowledgements and vote responses. Those addressed to this node itself (the leader's own append ack, a
   * candidate's own vote) are stepped back in by `RawNode.advance`, so a node never counts itself before its own
   * write is durable (the etcd#14370 rule).
   */
  msgsAfterAppend: Message[] = [];
  /** The leader of `term` as far as we know, or None. */
  lead: NodeId = None;
  /** Leader only: the node leadership is being transferred to, or None. Proposals are dropped meanwhile. */
  leadTransferee: NodeId = None;
  /**
   * Leader only: index of the latest conf change entry it has appended, or of the empty entry it appended when
   * elected. A new conf change is accepted only once `applied` >= this: no conf change is pending (uncommitted or
   * unapplied), and the leader has committed (and applied) an entry of its own term.
   */
  pendingConfIndex = 0;
  /** Leader only: bytes of entry data appended but not yet committed-and-applied (see maxUncommittedEntriesSize). */
  uncommittedSize = 0;
  readOnly = new ReadOnly();
  /**
   * Ticks since the last election timeout reset. Leader: since the last quorum check. Follower: since it last heard
   * from a leader (or granted a vote).
   */
  electionElapsed = 0;
  /** Leader only: ticks since the last heartbeat. */
  heartbeatElapsed = 0;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly heartbeatTimeout: number;
  readonly electionTimeout: number;
  /** Randomized in [electionTimeout, 2 * electionTimeout) at every reset. */
  randomizedElectionTimeout = 0;
  readonly disableProposalForwarding: boolean;
  readonly stepDownOnRemoval: boolean;
  private readonly commitOnlyAppends: boolean;
  readonly logger: Logger;
  /** ReadIndex requests that arrived before this leader committed an entry of its term (etcd#12762: queue, don't drop). */
  pendingReadIndexMessages: Message[] = [];

  private tickFn: () => void;
  private stepFn: StepFn;
  private readonly random: () => number;
  private readonly maxMsgSize: number;
  private readonly maxUncommittedSize: number;
  /** Switches of the bug zoo (all false in production). */
  readonly bug: Readonly<{
    commitOldTerm: boolean;
    doubleVote: boolean;
    truncateOnStaleAppend: boolean;
    readIndexBeforeTermCommit: boolean;
    skipFsync: boolean;
    readIndexWithoutHeartbeat: boolean;
    removedLeaderKeepsLeading: boolean;
    voteIgnoresLog: boolean;
    acceptStaleTermAppend: boolean;
    forwardedReadWithoutQuorum: boolean;
    commitOnlyUnmatched: boolean;
  }>;

  constructor(c: ValidConfig) {
    this.id = c.id;
    this.logger = c.logger;
    this.random = c.random;
    this.raftLog = new RaftLog(c.storage, c.logger, c.maxCommittedSizePerReady);
    this.maxMsgSize = c.maxSizePerMsg;
    this.maxUncommittedSize = c.maxUncommittedEntriesSize;
    this.trk = new ProgressTracker(c.maxInflightMsgs, c.maxInflightBytes);
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum;
    this.preVote = c.preVote;
    this.disableProposalForwarding = c.disableProposalForwarding;
    this.stepDownOnRemoval = c.stepDownOnRemoval;
    this.commitOnlyAppends = c.commitOnlyAppends;
    const b = c.bugs;
    this.bug = {
      commitOldTerm: b.has('commit-old-term-by-counting'),
      doubleVote: b.has('double-vote'),
      truncateOnStaleAppend: b.has('truncate-on-stale-append'),
      readIndexBeforeTermCommit: b.has('read-index-before-term-commit'),
      skipFsync: b.has('skip-fsync-flag'),
      readIndexWithoutHeartbeat: b.has('read-index-without-heartbeat'),
      removedLeaderKeepsLeading: b.has('removed-leader-keeps-leading'),
      voteIgnoresLog: b.has('vote-ignores-log'),
      acceptStaleTermAppend: b.has('accept-stale-term-append'),
      forwardedReadWithoutQuorum: b.has('forwarded-read-without-quorum'),
      commitOnlyUnmatched: b.has('commit-only-append-unmatched'),
    };
    this.tickFn = this.tickElection;
    this.stepFn = stepFollower;

    const { hardState, confState } = c.storage.initialState();
    const last = this.raftLog.lastEntryId();
    this.trk.restore(confState, last.index);
    this.switchToConfig();
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (c.applied > this.raftLog.committed) {
      // Only committed entries are applied, so an applied index ahead of the persisted commit index (whose update
      // was not synced before a crash) raises it.
      this.logger.info(`${this.id} raising commit index ${this.raftLog.committed} to applied index ${c.applied}`);
      this.raftLog.commitTo(c.applied);
    }
    if (c.applied > 0) this.raftLog.appliedTo(c.applied, 0);
    this.becomeFollower(this.term, None);
    this.logger.info(
      `newRaft ${this.id} [peers: [${this.trk.voters.join(',')}], term: ${this.term}, commit: ${this.raftLog.committed}, applied: ${this.raftLog.applied}, lastindex: ${last.index}, lastterm: ${last.term}]`,
    );
  }

  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  /** One logical clock tick. */
  tick(): void {
    this.tickFn();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Sending

  /**
   * Queues `m` for sending, stamping `from` and (except for proposals and read requests, which are not bound to a
   * term) the current term. Vote messages carry their term explicitly: a pre-vote is for a future term.
   */
  send(m: Message): void {
    if (m.from === None) m.from = this.id;
    const t = m.type;
    if (t === MessageType.MsgVote || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVote || t === MessageType.MsgPreVoteResp) {
      if (m.term === 0) throw new RaftInvariantError(`term should be set when sending ${MessageType[t]}`);
    } else {
      if (m.term !== 0) throw new RaftInvariantError(`term should not be set when sending ${MessageType[t]} (was ${m.term})`);
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) m.term = this.term;
    }
    if (t === MessageType.MsgAppResp || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVoteResp) {
      this.msgsAfterAppend.push(m);
    } else {
      if (m.to === this.id) throw new RaftInvariantError(`message should not be self-addressed when sending ${MessageType[t]}`);
      this.msgs.push(m);
    }
  }

  /** Sends an append (or, if the entries are compacted, a snapshot) to `to`, even if it carries no entries. */
  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends an append with the entries `to` needs next, if its progress allows. With `sendIfEmpty` false, nothing is
   * sent when there are no new entries. Falls back to a snapshot when the entries are compacted. Returns whether a
   * message was sent.
   */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to)!;
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.maybeTerm(prevIndex);
    if (prevTerm === undefined) return this.maybeSendSnapshot(to, pr);
    let ents: Entry[] = [];
    if (pr.state !== ProgressState.Replicate || !pr.inflights.full()) {
      try {
        ents = this.raftLog.entries(pr.next, this.maxMsgSize);
      } catch (err) {
        if (err instanceof CompactedError) return this.maybeSendSnapshot(to, pr);
        throw err;
      }
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    const commit = this.raftLog.committed;
    // Nothing is in flight to `to` and nothing new is sent: its answer could only repeat its match.
    const commitOnly =
      this.commitOnlyAppends && ents.length === 0 && pr.state === ProgressState.Replicate && (pr.match === prevIndex || this.bug.commitOnlyUnmatched);
    this.send(newMessage({ type: MessageType.MsgApp, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit, commitOnly }));
    pr.sentEntries(ents.length, entriesSize(ents));
    pr.setSentCommit(commit);
    return true;
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) {
      this.logger.debug(`ignore sending snapshot to ${to} since it is not recently active`);
      return false;
    }
    let snapshot: Snapshot;
    try {
      snapshot = this.raftLog.snapshot();
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) {
        this.logger.debug(`${this.id} failed to send snapshot to ${to} because snapshot is temporarily unavailable`);
        return false;
      }
      throw err;
    }
    const { index, term } = snapshot.metadata;
    if (index === 0) throw new RaftInvariantError('need non-empty snapshot');
    this.logger.debug(
      `${this.id} [firstindex: ${this.raftLog.firstIndex()}, commit: ${this.raftLog.committed}] sent snapshot[index: ${index}, term: ${term}] to ${to} [${pr}]`,
    );
    pr.becomeSnapshot(index);
    this.send(newMessage({ type: MessageType.MsgSnap, to, snapshot }));
    return true;
  }

  /** Heartbeat to `to`. The commit index is capped at its match so it never commits entries it may not have. */
  private sendHeartbeat(to: NodeId, ctx: Uint8Array): void {
    const pr = this.trk.progress.get(to)!;
    const commit = Math.min(pr.match, this.raftLog.committed);
    this.send(newMessage({ type: MessageType.MsgHeartbeat, to, commit, context: ctx }));
    pr.setSentCommit(commit);
  }

  bcastAppend(): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.sendAppend(id);
    });
  }

  bcastHeartbeat(): void {
    const ctx = this.readOnly.heartbeatCtx();
    this.trk.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, ctx);
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Applying and committing

  /** The application applied entries up to `index` (of `size` bytes, see entriesSize). */
  appliedTo(index: number, size: number): void {
    this.raftLog.appliedTo(Math.max(index, this.raftLog.applied), size);
  }

  /** The snapshot handed out in a Ready is durable and installed. */
  appliedSnap(snap: Snapshot): void {
    const index = snap.metadata.index;
    this.raftLog.stableSnapTo(index);
    this.appliedTo(index, 0);
  }

  /**
   * Advances the commit index to what a quorum has replicated, but only through an entry of the current term
   * (§5.4.2): an entry of an older term is committed indirectly, when an entry after it is. Returns whether the
   * commit index moved.
   */
  maybeCommit(): boolean {
    const mci = this.trk.committed();
    if (this.bug.commitOldTerm) {
      if (mci > this.raftLog.committed && mci <= this.raftLog.lastIndex()) {
        this.raftLog.commitTo(mci);
        return true;
      }
      return false;
    }
    return this.raftLog.maybeCommit(mci, this.term);
  }

  /** Resets the volatile per-term state. A term change clears the vote. */
  reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = None;
    }
    this.lead = None;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    this.trk.resetProgress(this.raftLog.lastIndex(), this.id);
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly();
    // Reads queued for the first commit of a leadership die with it, like unconfirmed ones; the asker retries.
    this.pendingReadIndexMessages = [];
  }

  /**
   * Leader: appends `es` (stamping term and index) and queues its own acknowledgement, which counts only after the
   * entries are durable (it is delivered by `RawNode.advance`). Returns false (appending nothing) if the
   * uncommitted-size budget would be exceeded.
   */
  appendEntry(es: readonly Entry[]): boolean {
    const li = this.raftLog.lastIndex();
    const ents: Entry[] = es.map((e, i) => ({ term: this.term, index: li + 1 + i, type: e.type, data: e.data }));
    if (!this.increaseUncommittedSize(ents)) {
      this.logger.warn(`${this.id} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`);
      return false;
    }
    const last = this.raftLog.append(ents);
    this.send(newMessage({ type: MessageType.MsgAppResp, to: this.id, index: last }));
    return true;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Ticks

  /** Follower, candidate, pre-candidate: campaign when the randomized election timeout passes. */
  tickElection = (): void => {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MessageType.MsgHup, from: this.id }));
    }
  };

  /** Leader: heartbeat every heartbeatTimeout; every electionTimeout, check the quorum and give up a stuck transfer. */
  tickHeartbeat = (): void => {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(newMessage({ type: MessageType.MsgCheckQuorum, from: this.id }));
      // A transfer that has not completed within an election timeout is abandoned (no-op if we just stepped down).
      if (this.leadTransferee !== None) {
        this.logger.info(`${this.id} [term ${this.term}] abort transfer leadership to ${this.leadTransferee} after an election timeout`);
        this.abortLeaderTransfer();
      }
    }
    // The quorum check may have made us a follower, whose tick is no longer this one.
    if (this.tickFn !== this.tickHeartbeat) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MessageType.MsgBeat, from: this.id }));
    }
  };

  // ---------------------------------------------------------------------------------------------------------------
  // Role transitions

  becomeFollower(term: number, lead: NodeId): void {
    this.stepFn = stepFollower;
    this.reset(term);
    this.tickFn = this.tickElection;
    this.lead = lead;
    this.state = StateType.Follower;
    this.logger.info(`${this.id} became follower at term ${this.term}`);
  }

  becomeCandidate(): void {
    if (this.state === StateType.Leader) throw new RaftInvariantError('invalid transition [leader -> candidate]');
    this.stepFn = stepCandidate;
    this.reset(this.term + 1);
    this.tickFn = this.tickElection;
    this.vote = this.id;
    this.state = StateType.Candidate;
    this.logger.info(`${this.id} became candidate at term ${this.term}`);
  }

  becomePreCandidate(): void {
    if (this.state === StateType.Leader) throw new RaftInvariantError('invalid transition [leader -> pre-candidate]');
    // Neither the term nor the vote changes: a pre-candidate only asks. It does forget the leader, so that it grants
    // pre-votes to others as readily as it asks for them.
    this.stepFn = stepCandidate;
    this.trk.resetVotes();
    this.tickFn = this.tickElection;
    this.lead = None;
    this.state = StateType.PreCandidate;
    this.logger.info(`${this.id} became pre-candidate at term ${this.term}`);
  }

  becomeLeader(): void {
    if (this.state === StateType.Follower) throw new RaftInvariantError('invalid transition [follower -> leader]');
    this.stepFn = stepLeader;
    this.reset(this.term);
    this.tickFn = this.tickHeartbeat;
    this.lead = this.id;
    this.state = StateType.Leader;
    const self = this.trk.progress.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // The empty entry of the new term: committing it commits everything before it (§5.4.2, §8).
    if (!this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: emptyBytes }])) {
      throw new RaftInvariantError('empty entry was dropped');
    }
    // No conf change until the empty entry is applied: the leader must first commit an entry of its own term, which
    // also settles any conf change left unapplied by earlier leaders. (etcd-io/raft waits only for the entries before
    // the empty one; waiting for the empty entry itself is the rule as the Raft author states it.)
    this.pendingConfIndex = this.raftLog.lastIndex();
    this.logger.info(`${this.id} became leader at term ${this.term}`);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Elections

  /** Starts an election (or pre-election) if this node may. */
  hup(t: CampaignType): void {
    if (this.state === StateType.Leader) {
      this.logger.debug(`${this.id} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.logger.warn(`${this.id} is unpromotable and can not campaign`);
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger.warn(`${this.id} cannot campaign at term ${this.term} since there are still pending configuration changes to apply`);
      return;
    }
    this.logger.info(`${this.id} is starting a new election at term ${this.term}`);
    this.campaign(t);
  }

  /** Whether committed but unapplied entries hold a conf change (campaigning then could use a stale configuration). */
  private hasUnappliedConfChanges(): boolean {
    const { applied, committed } = this.raftLog;
    if (applied >= committed) return false;
    let found = false;
    this.raftLog.scan(applied + 1, committed + 1, 1024 * 1024, (ents) => {
      found = ents.some((e) => e.type === EntryType.ConfChange);
      return found;
    });
    return found;
  }

  campaign(t: CampaignType): void {
    let term: number;
    let voteMsg: MessageType.MsgVote | MessageType.MsgPreVote;
    if (t === CampaignType.PreElection) {
      this.becomePreCandidate();
      voteMsg = MessageType.MsgPreVote;
      // A pre-vote asks about the term we would campaign in, without moving to it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MsgVote;
      term = this.term;
    }
    const last = this.raftLog.lastEntryId();
    for (const id of this.trk.voters) {
      if (id === this.id) {
        // Our own vote counts once it is durable: it comes back through msgsAfterAppend on advance.
        this.send(newMessage({ type: voteResponseType(voteMsg), to: id, term }));
        continue;
      }
      this.logger.info(`${this.id} [logterm: ${last.term}, index: ${last.index}] sent ${MessageType[voteMsg]} request to ${id} at term ${this.term}`);
      const context = t === CampaignType.Transfer ? CAMPAIGN_TRANSFER_CONTEXT : emptyBytes;
      this.send(newMessage({ type: voteMsg, to: id, term, index: last.index, logTerm: last.term, context }));
    }
  }

  /** Records a vote answer and returns the tally. */
  poll(id: NodeId, t: MessageType, granted: boolean): { granted: number; rejected: number; result: VoteResult } {
    if (granted) this.logger.info(`${this.id} received ${MessageType[t]} from ${id} at term ${this.term}`);
    else this.logger.info(`${this.id} received ${MessageType[t]} rejection from ${id} at term ${this.term}`);
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The entry point for every message

  /**
   * Steps one message through the protocol. Throws `ProposalDroppedError` for a proposal that cannot be accepted
   * (RawNode turns that into its API contract); protocol-level rejections are answered with messages, never thrown.
   */
  step(m: Message): void {
    // The term check applies to every message, before any role-specific handling.
    if (m.term === 0) {
      // Local message, or a proposal/read request (not bound to a term).
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER_CONTEXT);
        const inLease = this.checkQuorum && this.lead !== None && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // Stickiness: with check-quorum, a node that has heard from a leader within an election timeout ignores
          // vote requests, so a partitioned node cannot depose a healthy leader. Leadership transfer is exempt.
          const last = this.raftLog.lastEntryId();
          this.logger.info(
            `${this.id} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote}] ignored ${MessageType[m.type]} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`,
          );
          return;
        }
      }
      if (m.type === MessageType.MsgPreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term we asked about; we move to it only when the real election starts.
      } else {
        this.logger.info(`${this.id} [term: ${this.term}] received a ${MessageType[m.type]} message with higher term from ${m.from} [term: ${m.term}]`);
        if (m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap) {
          this.becomeFollower(m.term, m.from);
        } else {
          this.becomeFollower(m.term, None);
        }
      }
    } else if (m.term < this.term) {
      if (this.bug.acceptStaleTermAppend && m.type === MessageType.MsgApp) {
        this.handleAppendEntries(m);
        return;
      }
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)) {
        // A deposed leader may be cut off from everyone who knows the new term; telling it (with our term) makes it
        // step down. Without this, with check-quorum or pre-vote, a node whose term was raised while partitioned
        // could never rejoin.
        this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from }));
      } else if (m.type === MessageType.MsgPreVote) {
        const last = this.raftLog.lastEntryId();
        this.logger.info(
          `${this.id} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote}] rejected ${MessageType[m.type]} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
        );
        this.send(newMessage({ type: MessageType.MsgPreVoteResp, to: m.from, term: this.term, reject: true }));
      } else {
        this.logger.info(`${this.id} [term: ${this.term}] ignored a ${MessageType[m.type]} message with lower term from ${m.from} [term: ${m.term}]`);
      }
      return;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? CampaignType.PreElection : CampaignType.Election);
        return;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        this.handleVoteRequest(m);
        return;
      default:
        this.stepFn(this, m);
    }
  }

  /** Grants or rejects a (pre-)vote request of the current or a future term (§5.2, §5.4.1). */
  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      // We have not voted in this term and do not follow a leader (with the double-vote bug: even if we voted).
      ((this.vote === None || this.bug.doubleVote) && this.lead === None) ||
      // A pre-vote for a future term: we would move to that term (and be free to vote) before the real request.
      (m.type === MessageType.MsgPreVote && m.term > this.term);
    const last = this.raftLog.lastEntryId();
    const upToDate = this.bug.voteIgnoresLog || this.raftLog.isUpToDate(m.index, m.logTerm);
    const kind = MessageType[m.type];
    if (canVote && upToDate) {
      this.logger.info(
        `${this.id} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote}] cast ${kind} for ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      // The response carries the request's term: for a pre-vote that is the future term the candidate asked about.
      this.send(newMessage({ type: voteResponseType(m.type as MessageType.MsgVote | MessageType.MsgPreVote), to: m.from, term: m.term }));
      if (m.type === MessageType.MsgVote) {
        // Only a real vote is recorded, and it restarts our election timer.
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.logger.info(
        `${this.id} [logterm: ${last.term}, index: ${last.index}, vote: ${this.vote}] rejected ${kind} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      this.send(
        newMessage({ type: voteResponseType(m.type as MessageType.MsgVote | MessageType.MsgPreVote), to: m.from, term: this.term, reject: true }),
      );
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Follower-side handling of leader messages

  handleAppendEntries(m: Message): void {
    const log = this.raftLog;
    if (m.index < log.committed) {
      // Everything up to our commit index matches the leader's log already; tell it where we are.
      this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: log.committed }));
      return;
    }
    let lastNew: number | undefined;
    if (this.bug.truncateOnStaleAppend && m.entries.length > 0) {
      lastNew = log.matchTerm(m.index, m.logTerm) ? log.append(m.entries) : undefined;
    } else {
      lastNew = log.maybeAppend(m.index, m.logTerm, m.entries);
    }
    if (lastNew !== undefined) {
      // Only what this append proved to match may be committed: entries we hold beyond lastNew may be stale.
      log.commitTo(Math.min(m.commit, lastNew));
      if (m.commitOnly && m.entries.length === 0) return; // the leader knows our match already (see Message.commitOnly)
      this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: lastNew }));
      return;
    }
    this.logger.debug(
      `${this.id} [logterm: ${log.termOrZero(m.index)}, index: ${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${m.from}`,
    );
    // Fast backtracking: hint the last index at or below the probe whose term is <= the leader's term there. The
    // leader skips every index it can prove does not match, instead of one index per round trip.
    //
    //   leader:   idx 1 2 3 4 5 6 7 8 9      follower: idx 1 2 3 4 5 6
    //             term 1 1 1 4 4 5 5 6 6               term 1 1 1 2 2 2
    //   probe (index 8, logTerm 6) → follower: min(8, 6) = 6, last index with term <= 6 is 6 (term 2) → hint (6, 2)
    //   leader: last index <= 6 with term <= 2 is 3 (term 1) → next probe (index 3, logTerm 1) matches.
    const hintIndex = Math.min(m.index, log.lastIndex());
    const hint = log.findConflictByTerm(hintIndex, m.logTerm);
    this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }));
  }

  handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.send(newMessage({ type: MessageType.MsgHeartbeatResp, to: m.from, context: m.context }));
  }

  handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (s === undefined) {
      this.logger.warn(`${this.id} ignored MsgSnap without a snapshot from ${m.from}`);
      return;
    }
    const { index, term } = s.metadata;
    if (this.restore(s)) {
      this.logger.debug(`${this.id} [commit: ${this.raftLog.committed}] restored snapshot [index: ${index}, term: ${term}]`);
      this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.lastIndex() }));
    } else {
      this.logger.info(`${this.id} [commit: ${this.raftLog.committed}] ignored snapshot [index: ${index}, term: ${term}]`);
      this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.committed }));
    }
  }

  /**
   * Replaces the log and configuration with snapshot `s`, unless the log already covers it. Returns whether it did.
   * Called on followers only.
   */
  restore(s: Snapshot): boolean {
    const { index, term, confState } = s.metadata;
    if (index <= this.raftLog.committed) return false;
    if (!confState.voters.includes(this.id) && !confState.learners.includes(this.id)) {
      this.logger.warn(`${this.id} attempted to restore snapshot but it is not in the ConfState ${describeConfState(confState)}; should never happen`);
      return false;
    }
    if (this.raftLog.matchTerm(index, term)) {
      // We have the entry the snapshot ends at, so the log up to it matches: just commit up to it.
      const last = this.raftLog.lastEntryId();
      this.logger.info(
        `${this.id} [commit: ${this.raftLog.committed}, lastindex: ${last.index}, lastterm: ${last.term}] fast-forwarded commit to snapshot [index: ${index}, term: ${term}]`,
      );
      this.raftLog.commitTo(index);
      return false;
    }
    this.raftLog.restore(s);
    this.trk = new ProgressTracker(this.trk.maxInflight, this.trk.maxInflightBytes);
    this.trk.restore(confState, this.raftLog.lastIndex());
    this.switchToConfig();
    const last = this.raftLog.lastEntryId();
    this.logger.info(
      `${this.id} [commit: ${this.raftLog.committed}, lastindex: ${last.index}, lastterm: ${last.term}] restored snapshot [index: ${index}, term: ${term}]`,
    );
    return true;
  }

  /** Whether this node may campaign: it is a voter and is not installing a snapshot. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasNextOrInProgressSnapshot();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Configuration

  /** Applies a committed conf change (the application calls this after applying its entry). */
  applyConfChange(cc: ConfChange): ConfState {
    this.trk.applyChange(cc, this.raftLog.lastIndex());
    return this.switchToConfig();
  }

  /** Reacts to a new configuration in `trk`: a removed leader steps down; a leader re-evaluates commit and sends. */
  switchToConfig(): ConfState {
    const cs = this.trk.confState();
    this.logger.info(`${this.id} switched to configuration ${describeConfState(cs)}`);
    const pr = this.trk.progress.get(this.id);
    this.isLearner = pr !== undefined && pr.isLearner;
    if ((pr === undefined || this.isLearner) && this.state === StateType.Leader) {
      // A leader that is no longer a voter cannot count itself, and (without a progress of its own) cannot take
      // proposals: by default it steps down so that the remaining voters elect a leader among themselves.
      if (this.stepDownOnRemoval && !this.bug.removedLeaderKeepsLeading) this.becomeFollower(this.term, None);
      return cs;
    }
    if (this.state !== StateType.Leader || cs.voters.length === 0) return cs;
    // The quorum changed: the commit index may move (e.g. a slow voter was removed).
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      this.trk.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false);
      });
    }
    if (this.leadTransferee !== None && !this.trk.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
    return cs;
  }

  loadState(hs: HardState): void {
    // A snapshot only ever holds committed entries, so a commit index behind it (its update was not synced before a
    // crash) is raised to it; a commit index beyond the log means the log lost entries.
    const commit = Math.max(hs.commit, this.raftLog.committed);
    if (commit > this.raftLog.lastIndex()) {
      throw new RaftInvariantError(`${this.id} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`);
    }
    this.raftLog.committed = commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  resetRandomizedElectionTimeout(): void {
    const r = this.random();
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(Math.min(Math.max(r, 0), 0.999999) * this.electionTimeout);
  }

  sendTimeoutNow(to: NodeId): void {
    this.send(newMessage({ type: MessageType.MsgTimeoutNow, to }));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = None;
  }

  /** Whether the commit index points at an entry of the current term (a new leader's first commit happened). */
  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term;
  }

  /** Answers a read: locally (a read state) if it was made on this node, else with a message to the asker. */
  responseToReadIndexReq(req: Message, readIndex: number): Message | undefined {
    if (req.from === None || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: req.entries[0]!.data });
      return undefined;
    }
    return newMessage({ type: MessageType.MsgReadIndexResp, to: req.from, index: readIndex, entries: req.entries });
  }

  increaseUncommittedSize(ents: readonly Entry[]): boolean {
    const s = payloadSize(ents);
    // An empty entry (or the first entry while nothing is pending) is always accepted, so progress is possible.
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) return false;
    this.uncommittedSize += s;
    return true;
  }

  reduceUncommittedSize(s: number): void {
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  /** Leader: serves a ReadIndex request once an entry of this term is committed. */
  readIndexAfterTermCommit(m: Message): void {
    // No heartbeat round is needed when the only voter is us (it cannot have been deposed without a conf change)
    // or when the forwarding follower completes a quorum by itself.
    if (this.trk.isSingleton() || this.bug.readIndexWithoutHeartbeat || this.requesterCompletesQuorum(m)) {
      const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
      if (resp !== undefined) this.send(resp);
      return;
    }
    this.readOnly.addRequest(this.raftLog.committed, m);
    // The leader acknowledges its own heartbeat round at once.
    this.readOnly.recvAck(this.id, this.readOnly.heartbeatCtx());
    this.bcastHeartbeat();
  }

  /**
   * Whether a follower's forwarded read confirms this leadership by itself, so that no heartbeat round is needed.
   *
   * The follower forwarded the request after the read began, carrying its own term (`logTerm`, see stepFollower).
   * A follower that voted for a newer leader would have moved to that leader's term first. So a request sent at
   * our term is the follower's acknowledgement, made after the read began, that it had voted for no newer leader.
   * A heartbeat answer gives the same evidence. If the follower and this leader form a quorum, no newer leader
   * can have been elected before the read began, and none can have committed a write the read must see. (The
   * caller has already waited for this leader's first commit in its term, as for every read.) In a 3-member
   * cluster any voter and the leader form a quorum.
   *
   * The evidence covers this request only. Another read may have begun after the follower sent its request,
   * so this is not recorded as an acknowledgement of a heartbeat position.
   */
  private requesterCompletesQuorum(m: Message): boolean {
    if (m.from === None || m.from === this.id) return false;
    if (m.logTerm !== this.term) return false;
    if (this.bug.forwardedReadWithoutQuorum) return true;
    const acks = new Map<NodeId, boolean>([
      [this.id, true],
      [m.from, true],
    ]);
    return voteResult(this.trk.voters, acks) === VoteResult.Won;
  }

  /** Leader: the first entry of this term was committed; serve the reads that waited for it. */
  releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return;
    if (!this.committedEntryInCurrentTerm()) {
      this.logger.error('pending MsgReadIndex should be released only after first commit in current term');
      return;
    }
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.readIndexAfterTermCommit(m);
  }
}

// -----------------------------------------------------------------------------------------------------------------
// Role step functions

function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.MsgBeat:
      r.bcastHeartbeat();
      return;
    case MessageType.MsgCheckQuorum:
      if (!r.trk.quorumActive()) {
        r.logger.warn(`${r.id} stepped down to follower since quorum is not active`);
        r.becomeFollower(r.term, None);
      }
      // Start a new observation period (a no-op after stepping down: progress was reset).
      r.trk.visit((id, pr) => {
        if (id !== r.id) pr.recentActive = false;
      });
      return;
    case MessageType.MsgProp:
      leaderPropose(r, m);
      return;
    case MessageType.MsgReadIndex:
      // A new leader's commit index may lag its predecessor's until it commits an entry of its own term (etcd#7331):
      // queue the read until then.
      if (!r.committedEntryInCurrentTerm() && !r.bug.readIndexBeforeTermCommit) {
        r.pendingReadIndexMessages.push(m);
        return;
      }
      r.readIndexAfterTermCommit(m);
      return;
    case MessageType.MsgForgetLeader:
      return; // a leader has no leader to forget
  }

  const pr = r.trk.progress.get(m.from);
  if (pr === undefined) {
    r.logger.debug(`${r.id} no progress available for ${m.from}`);
    return;
  }
  switch (m.type) {
    case MessageType.MsgAppResp:
      leaderHandleAppResp(r, m, pr);
      return;
    case MessageType.MsgHeartbeatResp: {
      pr.recentActive = true;
      pr.msgAppFlowPaused = false;
      // A heartbeat answer is a chance to resume a probe, or to send what the follower is missing.
      if (pr.match < r.raftLog.lastIndex() || pr.state === ProgressState.Probe) r.sendAppend(m.from);
      if (m.context.length === 0) return;
      r.readOnly.recvAck(m.from, m.context);
      for (const rs of r.readOnly.maybeAdvance(r.trk.voters)) {
        const resp = r.responseToReadIndexReq(rs.req, rs.index);
        if (resp !== undefined) r.send(resp);
      }
      return;
    }
    case MessageType.MsgSnapStatus:
      if (pr.state !== ProgressState.Snapshot) return;
      if (m.reject) {
        pr.pendingSnapshot = 0;
        pr.becomeProbe();
        r.logger.debug(`${r.id} snapshot failed, resumed sending replication messages to ${m.from} [${pr}]`);
      } else {
        pr.becomeProbe();
        r.logger.debug(`${r.id} snapshot succeeded, resumed sending replication messages to ${m.from} [${pr}]`);
      }
      // Wait for the next heartbeat answer before probing: the snapshot may still be being applied.
      pr.msgAppFlowPaused = true;
      return;
    case MessageType.MsgUnreachable:
      // Appends in flight were probably lost: stop streaming and probe.
      if (pr.state === ProgressState.Replicate) pr.becomeProbe();
      r.logger.debug(`${r.id} failed to send message to ${m.from} because it is unreachable [${pr}]`);
      return;
    case MessageType.MsgTransferLeader:
      leaderTransfer(r, m, pr);
      return;
  }
}

function leaderPropose(r: Raft, m: Message): void {
  if (m.entries.length === 0) throw new RaftUsageError(`${r.id} stepped empty MsgProp`);
  if (!r.trk.progress.has(r.id)) {
    // Removed (and still leading because step-down on removal is off): we cannot count ourselves.
    throw new ProposalDroppedError('not-a-member');
  }
  if (r.leadTransferee !== None) {
    r.logger.debug(`${r.id} [term ${r.term}] transfer leadership to ${r.leadTransferee} is in progress; dropping proposal`);
    throw new ProposalDroppedError('leader-transfer');
  }
  let ents = m.entries;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i]!;
    if (e.type !== EntryType.ConfChange) continue;
    let cc: ConfChange;
    try {
      cc = decodeConfChange(e.data);
    } catch (err) {
      throw new RaftUsageError(`${r.id} proposed a malformed conf change`, { cause: err });
    }
    let failed: string | undefined;
    if (r.pendingConfIndex > r.raftLog.applied) {
      failed = `possible unapplied conf change at index ${r.pendingConfIndex} (applied to ${r.raftLog.applied})`;
    } else {
      failed = r.trk.checkChange(cc);
    }
    if (failed !== undefined) {
      // Keep the position (the proposal may hold other entries) but make it a no-op.
      r.logger.info(`${r.id} ignoring conf change ${ConfChangeType[cc.type]} ${cc.nodeId} at config ${describeConfState(r.trk.confState())}: ${failed}`);
      if (ents === m.entries) ents = ents.slice();
      ents[i] = { term: 0, index: 0, type: EntryType.Normal, data: emptyBytes };
    } else {
      r.pendingConfIndex = r.raftLog.lastIndex() + i + 1;
    }
  }
  if (!r.appendEntry(ents)) throw new ProposalDroppedError('uncommitted-size-limit');
  r.bcastAppend();
}

function leaderHandleAppResp(r: Raft, m: Message, pr: Progress): void {
  pr.recentActive = true;
  if (m.reject) {
    r.logger.debug(`${r.id} received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${m.from} for index ${m.index}`);
    let nextProbe = m.rejectHint;
    if (m.logTerm > 0) nextProbe = r.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
    if (pr.maybeDecrTo(m.index, nextProbe)) {
      r.logger.debug(`${r.id} decreased progress of ${m.from} to [${pr}]`);
      if (pr.state === ProgressState.Replicate) pr.becomeProbe();
      r.sendAppend(m.from);
    }
    return;
  }
  if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressState.Probe))) return;
  switch (pr.state) {
    case ProgressState.Probe:
      pr.becomeReplicate();
      break;
    case ProgressState.Snapshot:
      // The follower caught up past what was compacted (e.g. it applied the snapshot): resume appends.
      if (pr.match + 1 >= r.raftLog.firstIndex()) {
        r.logger.debug(`${r.id} recovered from needing snapshot, resumed sending replication messages to ${m.from} [${pr}]`);
        pr.becomeProbe();
        pr.becomeReplicate();
      }
      break;
    case ProgressState.Replicate:
      pr.inflights.freeLE(m.index);
      break;
  }
  if (r.maybeCommit()) {
    r.releasePendingReadIndexMessages();
    r.bcastAppend();
  } else if (m.from !== r.id && pr.canBumpCommit(r.raftLog.committed)) {
    // Tell the follower about the commit index it has not heard of yet.
    r.sendAppend(m.from);
  }
  if (m.from !== r.id) {
    // Fill the window again.
    while (r.maybeSendAppend(m.from, false)) {
      // keep sending
    }
  }
  if (m.from === r.leadTransferee && pr.match === r.raftLog.lastIndex()) {
    r.logger.info(`${r.id} sent MsgTimeoutNow to ${m.from} after received MsgAppResp`);
    r.sendTimeoutNow(m.from);
  }
}

function leaderTransfer(r: Raft, m: Message, pr: Progress): void {
  if (pr.isLearner) {
    r.logger.debug(`${r.id} is learner. Ignored transferring leadership`);
    return;
  }
  const transferee = m.from;
  const previous = r.leadTransferee;
  if (previous !== None) {
    if (previous === transferee) {
      r.logger.info(`${r.id} [term ${r.term}] transfer leadership to ${transferee} is in progress, ignores request to same node ${transferee}`);
      return;
    }
    r.abortLeaderTransfer();
    r.logger.info(`${r.id} [term ${r.term}] abort previous transferring leadership to ${previous}`);
  }
  if (transferee === r.id) {
    r.logger.debug(`${r.id} is already leader. Ignored transferring leadership to self`);
    return;
  }
  r.logger.info(`${r.id} [term ${r.term}] starts to transfer leadership to ${transferee}`);
  // The transfer must complete within an election timeout (tickHeartbeat aborts it otherwise).
  r.electionElapsed = 0;
  r.leadTransferee = transferee;
  if (pr.match === r.raftLog.lastIndex()) {
    r.sendTimeoutNow(transferee);
    r.logger.info(`${r.id} sends MsgTimeoutNow to ${transferee} immediately as ${transferee} already has up-to-date log`);
  } else {
    // Catch the transferee up first; MsgTimeoutNow follows its acknowledgement of our last index.
    r.sendAppend(transferee);
  }
}

function stepCandidate(r: Raft, m: Message): void {
  // Shared by candidates and pre-candidates; only the answers to our own kind of request count.
  const myVoteResp = r.state === StateType.PreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp;
  switch (m.type) {
    case MessageType.MsgProp:
      r.logger.info(`${r.id} no leader at term ${r.term}; dropping proposal`);
      throw new ProposalDroppedError('no-leader');
    case MessageType.MsgApp:
      // A leader of our term exists (m.term === r.term here): follow it.
      r.becomeFollower(m.term, m.from);
      r.handleAppendEntries(m);
      return;
    case MessageType.MsgHeartbeat:
      r.becomeFollower(m.term, m.from);
      r.handleHeartbeat(m);
      return;
    case MessageType.MsgSnap:
      r.becomeFollower(m.term, m.from);
      r.handleSnapshot(m);
      return;
    case myVoteResp: {
      const { granted, rejected, result } = r.poll(m.from, m.type, !m.reject);
      r.logger.info(`${r.id} has received ${granted} ${MessageType[m.type]} votes and ${rejected} vote rejections`);
      if (result === VoteResult.Won) {
        if (r.state === StateType.PreCandidate) {
          r.campaign(CampaignType.Election);
        } else {
          r.becomeLeader();
          r.bcastAppend();
        }
      } else if (result === VoteResult.Lost) {
        // A pre-candidate that lost stays at its term; a candidate stays at its (raised) term.
        r.becomeFollower(r.term, None);
      }
      return;
    }
    case MessageType.MsgTimeoutNow:
      r.logger.debug(`${r.id} [term ${r.term} state ${StateType[r.state]}] ignored MsgTimeoutNow from ${m.from}`);
      return;
  }
}

function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.MsgProp:
      if (r.lead === None) {
        r.logger.info(`${r.id} no leader at term ${r.term}; dropping proposal`);
        throw new ProposalDroppedError('no-leader');
      }
      if (r.disableProposalForwarding) {
        r.logger.info(`${r.id} not forwarding to leader ${r.lead} at term ${r.term}; dropping proposal`);
        throw new ProposalDroppedError('forwarding-disabled');
      }
      r.send({ ...m, to: r.lead });
      return;
    case MessageType.MsgApp:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleAppendEntries(m);
      return;
    case MessageType.MsgHeartbeat:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleHeartbeat(m);
      return;
    case MessageType.MsgSnap:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleSnapshot(m);
      return;
    case MessageType.MsgTransferLeader:
      if (r.lead === None) {
        r.logger.info(`${r.id} no leader at term ${r.term}; dropping leader transfer msg`);
        return;
      }
      r.send({ ...m, to: r.lead });
      return;
    case MessageType.MsgForgetLeader:
      if (r.lead !== None) {
        r.logger.info(`${r.id} forgetting leader ${r.lead} at term ${r.term}`);
        r.lead = None;
      }
      return;
    case MessageType.MsgTimeoutNow:
      r.logger.info(`${r.id} [term ${r.term}] received MsgTimeoutNow from ${m.from} and starts an election to get leadership`);
      // Skips pre-vote, and the transfer context makes voters skip their lease check.
      r.hup(CampaignType.Transfer);
      return;
    case MessageType.MsgReadIndex:
      if (r.lead === None) {
        r.logger.info(`${r.id} no leader at term ${r.term}; dropping index reading msg`);
        return;
      }
      // Our term goes with the request: the leader may count it as our acknowledgement of its leadership.
      r.send({ ...m, to: r.lead, logTerm: r.term });
      return;
    case MessageType.MsgReadIndexResp:
      if (m.entries.length !== 1) {
        r.logger.error(`${r.id} invalid format of MsgReadIndexResp from ${m.from}, entries count: ${m.entries.length}`);
        return;
      }
      r.readStates.push({ index: m.index, requestCtx: m.entries[0]!.data });
      return;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
