/**
 * The values the Raft core exchanges with its driver: log entries, persistent state, snapshots, messages, and the
 * `Ready` bundle.
 *
 * Numbers: log index and term are JS `number`s. They are exact integers up to 2^53 - 1
 * (`Number.MAX_SAFE_INTEGER`): at one million entries per second that lasts for ~285 years, so the core never checks
 * for overflow. Node ids are 64-bit values chosen by the cluster (often random), so they are `bigint`s, and `0n`
 * (`None`) means "no node".
 *
 * Ownership: the core never mutates an `Entry`, `Snapshot` or byte array after it has handed it out, and it assumes
 * the driver does not mutate what it passes in (entries appended to storage, messages stepped).
 */

/** A member of the cluster. `None` (0n) means "no node": no leader known, no vote cast. */
export type NodeId = bigint;

/** The absent node id. */
export const None: NodeId = 0n;

export enum EntryType {
  /** Application data (or an empty entry appended by a new leader). */
  Normal = 0,
  /** `data` is an encoded `ConfChange` (see `encodeConfChange`). */
  ConfChange = 1,
}

/** One log entry. Invariant: within one log, `index` values are consecutive. */
export interface Entry {
  /** Term of the leader that created the entry. */
  term: number;
  /** Position in the log, starting at 1. */
  index: number;
  type: EntryType;
  /** Opaque to Raft. Empty for the entry a new leader appends. */
  data: Uint8Array;
}

/** What must survive a crash, besides the log. */
export interface HardState {
  /** Latest term this node has seen. Never decreases. */
  term: number;
  /** The candidate this node voted for in `term`, or `None`. Never changes within a term once persisted. */
  vote: NodeId;
  /** Highest index known to be committed. May lag after a crash (it is synced lazily); never goes backwards in memory. */
  commit: number;
}

/** A membership configuration: who votes, who only receives the log. Ids are sorted ascending. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMetadata {
  /** The snapshot covers every entry up to and including this index. */
  index: number;
  /** Term of the entry at `index`. */
  term: number;
  /** Membership as of `index`. */
  confState: ConfState;
}

/** A point-in-time image of the application's state machine, replacing the log prefix it covers. */
export interface Snapshot {
  metadata: SnapshotMetadata;
  /** The application's state, opaque to Raft. */
  data: Uint8Array;
}

export enum ConfChangeType {
  /** Add a voter, or promote the learner with this id to voter. */
  AddNode = 0,
  /** Remove a voter or a learner. */
  RemoveNode = 1,
  /** No-op for Raft; lets the application change its own per-member metadata through the log. */
  UpdateNode = 2,
  /** Add a learner, or demote the voter with this id to learner. */
  AddLearnerNode = 3,
}

/** A single-member change of the configuration. Only one may be in flight at a time. */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to Raft (e.g. the new member's URLs). */
  context: Uint8Array;
}

/**
 * Binary format of a `ConfChange` carried as the data of an `EntryType.ConfChange` entry:
 *
 * ```
 *   offset  size  field
 *   0       1     format version, always 1
 *   1       1     ConfChangeType
 *   2       8     nodeId, unsigned 64-bit big-endian
 *   10      n     context (the rest of the bytes)
 * ```
 */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  if (cc.nodeId < 0n || cc.nodeId > 0xffff_ffff_ffff_ffffn) throw new RangeError(`conf change node id ${cc.nodeId} is not a uint64`);
  const out = new Uint8Array(10 + cc.context.length);
  const view = new DataView(out.buffer);
  out[0] = CONF_CHANGE_FORMAT;
  out[1] = cc.type;
  view.setBigUint64(2, cc.nodeId, false);
  out.set(cc.context, 10);
  return out;
}

/** Inverse of `encodeConfChange`. Throws a `RangeError` on bytes that are not a version-1 encoding. */
export function decodeConfChange(bytes: Uint8Array): ConfChange {
  if (bytes.length < 10 || bytes[0] !== CONF_CHANGE_FORMAT) throw new RangeError('not an encoded ConfChange (version 1)');
  const type = bytes[1]!;
  if (!(type in ConfChangeType)) throw new RangeError(`unknown ConfChangeType ${type}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { type, nodeId: view.getBigUint64(2, false), context: bytes.slice(10) };
}

const CONF_CHANGE_FORMAT = 1;

/**
 * Message types. The numbering follows etcd-io/raft's raftpb so that traces read the same; etcd's 19-22 are its
 * async-storage local messages, which this core does not have.
 *
 * "Local" messages (MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus, MsgCheckQuorum, MsgForgetLeader) are made by the
 * core or its RawNode for itself and are never sent over the network.
 */
export enum MessageType {
  /** Local: start an election. */
  MsgHup = 0,
  /** Local: leader, send heartbeats. */
  MsgBeat = 1,
  /** A proposal of new entries (local, or forwarded by a follower to the leader). */
  MsgProp = 2,
  /** Leader → follower: append `entries` after (`index`, `logTerm`); `commit` is the leader's commit index. */
  MsgApp = 3,
  /** Follower → leader: accepted up to `index`, or (reject) mismatch at `index` with hint (`rejectHint`, `logTerm`). */
  MsgAppResp = 4,
  /** Candidate → voter: vote for me in `term`; my last entry is (`index`, `logTerm`). */
  MsgVote = 5,
  MsgVoteResp = 6,
  /** Leader → follower: install `snapshot`. */
  MsgSnap = 7,
  /** Leader → follower: I am alive; commit up to `commit`; `context` tags a ReadIndex round. */
  MsgHeartbeat = 8,
  MsgHeartbeatResp = 9,
  /** Local: the transport could not reach `from`. */
  MsgUnreachable = 10,
  /** Local: sending a snapshot to `from` succeeded (or failed if `reject`). */
  MsgSnapStatus = 11,
  /** Local: leader, check that a quorum was recently active. */
  MsgCheckQuorum = 12,
  /** Make `from` the leader (sent to the leader, or forwarded to it). */
  MsgTransferLeader = 13,
  /** Leader → transferee: campaign now, skipping pre-vote and lease checks. */
  MsgTimeoutNow = 14,
  /** Ask the leader for a read index; `entries[0].data` is the request context. */
  MsgReadIndex = 15,
  /** Leader → asker: the read index is `index` for context `entries[0].data`. */
  MsgReadIndexResp = 16,
  /** Pre-candidate → voter: would you vote for me in `term` (not yet my term)? */
  MsgPreVote = 17,
  MsgPreVoteResp = 18,
  /** Local: follower, forget the current leader (its connection broke) so votes are granted at once. */
  MsgForgetLeader = 23,
}

/**
 * One Raft message. Every field is always present (zero values when unused) so that all messages share one shape.
 * `term` 0 marks a local message or a proposal/read request that is not bound to a term.
 */
export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  /**
   * MsgApp: term of the entry at `index`. Vote requests: term of the candidate's last entry. Rejects: hint term.
   * MsgReadIndex forwarded by a follower: the follower's term when it forwarded the request (0 if unknown).
   */
  logTerm: number;
  /** MsgApp: index of the entry preceding `entries`. MsgAppResp: see MsgAppResp. Votes: candidate's last index. */
  index: number;
  entries: Entry[];
  commit: number;
  snapshot?: Snapshot | undefined;
  reject: boolean;
  /** Rejected MsgAppResp: the follower's guess of the highest index that may match (with term `logTerm`). */
  rejectHint: number;
  context: Uint8Array;
  /**
   * MsgApp: no entries, only a commit index, sent while the leader already knows the follower holds everything up
   * to `index` (see `Config.commitOnlyAppends`). A follower whose log matches applies the commit index and does not
   * answer: the answer could tell the leader nothing. A follower whose log does not match still rejects.
   */
  commitOnly: boolean;
}

/** The answer to a ReadIndex request: a read with context `requestCtx` may be served once applied >= `index`. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

/** A node's role. Numbered like etcd-io/raft. */
export enum StateType {
  Follower = 0,
  Candidate = 1,
  Leader = 2,
  PreCandidate = 3,
}

/** Volatile state the application may want to observe; never persisted. */
export interface SoftState {
  /** The leader this node follows (itself when leader), or `None`. */
  lead: NodeId;
  raftState: StateType;
}

/**
 * Everything the driver must do after the core has changed. Obtained with `RawNode.ready()`, handed back with
 * `RawNode.advance(rd)`. The full contract is written on `RawNode.ready`.
 */
export interface Ready {
  /** Present if the role or the known leader changed since the previous Ready. Informational; not persisted. */
  softState?: SoftState | undefined;
  /** Present if term, vote or commit changed since the previous Ready: persist it (with `entries`). */
  hardState?: HardState | undefined;
  /** Answers to ReadIndex requests made on this node. */
  readStates: ReadState[];
  /** Entries to append to stable storage before sending `messages`. May overwrite a suffix of the stored log. */
  entries: Entry[];
  /** A snapshot received from the leader: persist it (and install it in the state machine) before anything else. */
  snapshot?: Snapshot | undefined;
  /**
   * Entries to apply to the state machine, in order. Each is committed (durable on a quorum) and already durable
   * locally (it was in `entries` of an earlier Ready that has been advanced).
   */
  committedEntries: Entry[];
  /** Messages to send once `entries`, `hardState` and `snapshot` are durable. */
  messages: Message[];
  /** Whether `entries`/`hardState`/`snapshot` must be fsynced before `messages` are sent. */
  mustSync: boolean;
}

/** The `context` a candidate puts on its vote requests when leadership is being transferred to it. */
export const CAMPAIGN_TRANSFER_CONTEXT: Uint8Array = new TextEncoder().encode('CampaignTransfer');

const EMPTY_ENTRIES: Entry[] = Object.freeze([]) as unknown as Entry[];
const EMPTY_BYTES = new Uint8Array(0);

/** An empty, frozen entry list; pushing into it throws. */
export function emptyEntries(): Entry[] {
  return EMPTY_ENTRIES;
}

/** A zero-length byte array shared by all empty contexts and data. Never written to. */
export const emptyBytes: Uint8Array = EMPTY_BYTES;

/** Builds a message with every field present; unspecified fields take their zero value. */
export function newMessage(init: Partial<Message> & { type: MessageType }): Message {
  return {
    type: init.type,
    to: init.to ?? None,
    from: init.from ?? None,
    term: init.term ?? 0,
    logTerm: init.logTerm ?? 0,
    index: init.index ?? 0,
    entries: init.entries ?? EMPTY_ENTRIES,
    commit: init.commit ?? 0,
    snapshot: init.snapshot,
    reject: init.reject ?? false,
    rejectHint: init.rejectHint ?? 0,
    context: init.context ?? EMPTY_BYTES,
    commitOnly: init.commitOnly ?? false,
  };
}

/** Whether `t` is generated by a node for itself and must never come from the network. */
export function isLocalMessage(t: MessageType): boolean {
  return (
    t === MessageType.MsgHup ||
    t === MessageType.MsgBeat ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgSnapStatus ||
    t === MessageType.MsgCheckQuorum ||
    t === MessageType.MsgForgetLeader
  );
}

/** Whether `t` answers a request (and so is only meaningful from a known peer). */
export function isResponseMessage(t: MessageType): boolean {
  return (
    t === MessageType.MsgAppResp ||
    t === MessageType.MsgVoteResp ||
    t === MessageType.MsgHeartbeatResp ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgPreVoteResp
  );
}

/** The response type for a vote request type. */
export function voteResponseType(t: MessageType.MsgVote | MessageType.MsgPreVote): MessageType {
  return t === MessageType.MsgVote ? MessageType.MsgVoteResp : MessageType.MsgPreVoteResp;
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === None && hs.commit === 0;
}

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0;
}

export function hardStatesEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Sorts node ids ascending, in place, and returns the array. */
export function sortIds(ids: NodeId[]): NodeId[] {
  return ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Size of an entry as counted against byte limits (`maxSizePerMsg`, `maxCommittedSizePerReady`, in-flight bytes):
 * its data plus a fixed 16 bytes standing for term, index and type.
 */
export function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
}

/** Sum of `entrySize` over `ents`. */
export function entriesSize(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += e.data.byteLength + 16;
  return n;
}

/** Sum of the data sizes only, as counted against `maxUncommittedEntriesSize` (empty entries are free). */
export function payloadSize(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += e.data.byteLength;
  return n;
}

/**
 * Returns the longest prefix of `ents` whose total `entrySize` is at most `maxBytes`, but always at least one entry
 * (a single entry larger than the limit still has to travel).
 */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entrySize(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]!);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}
