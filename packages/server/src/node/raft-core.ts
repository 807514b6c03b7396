/**
 * What the driver loop needs from a Raft state machine; `RawNode` in ../raft satisfies it structurally. Index and
 * term are numbers (exact up to 2^53); node ids are bigints.
 */
export interface CoreEntry {
  term: number;
  index: number;
  type: number;
  data: Uint8Array;
}

export interface CoreHardState {
  term: number;
  vote: bigint;
  commit: number;
}

export interface CoreSoftState {
  lead: bigint;
  raftState: number;
}

export interface CoreReadState {
  index: number;
  requestCtx: Uint8Array;
}

export interface CoreSnapshot {
  metadata: { index: number; term: number; confState: { voters: bigint[]; learners: bigint[] } };
  data: Uint8Array;
}

export interface CoreMessage {
  type: number;
  to: bigint;
  from: bigint;
  term: number;
  logTerm: number;
  index: number;
  entries: CoreEntry[];
  commit: number;
  snapshot?: CoreSnapshot | undefined;
  reject: boolean;
  rejectHint: number;
  context: Uint8Array;
  commitOnly: boolean;
}

/**
 * The Ready contract (etcd-io/raft): persist `entries` and `hardState` (fsync if `mustSync`) → send
 * `messages` → install `snapshot` / apply `committedEntries` → call `advance(rd)`. Committed entries are already
 * durable on a quorum.
 */
export interface CoreReady<M extends CoreMessage = CoreMessage> {
  softState?: CoreSoftState | undefined;
  hardState?: CoreHardState | undefined;
  readStates: CoreReadState[];
  entries: CoreEntry[];
  snapshot?: CoreSnapshot | undefined;
  committedEntries: CoreEntry[];
  messages: M[];
  mustSync: boolean;
}

export interface RaftCore<M extends CoreMessage = CoreMessage> {
  tick(): void;
  step(m: M): void;
  /** Throws if the proposal cannot be accepted (no leader, leadership transfer in progress, …). */
  propose(data: Uint8Array): void;
  readIndex(ctx: Uint8Array): void;
  /** Read states produced since the last call (or Ready), taken out of the next Ready. */
  takeReadStates(): CoreReadState[];
  /** Messages that need nothing persisted first, produced since the last call (or Ready), taken out of the next Ready. */
  takeMessages(): M[];
  hasReady(): boolean;
  ready(): CoreReady<M>;
  /** Entries committed while the last Ready is in progress, to apply before it completes (RawNode's contract). */
  takeCommittedEntries(): CoreEntry[];
  advance(rd: CoreReady<M>): void;
}

/** Raft roles as `SoftState.raftState` reports them (etcd's StateType numbering). */
export enum Role {
  Follower = 0,
  Candidate = 1,
  Leader = 2,
  PreCandidate = 3,
}
