/**
 * `@latchkey/server/raft`: a pure, synchronous Raft consensus core after etcd-io/raft. Feed it messages and ticks,
 * take `Ready`s, persist → send → apply → advance (the contract is on `RawNode.ready`).
 */
export * from './types.js';
export {
  CompactedError,
  ConfigError,
  ProposalDroppedError,
  RaftError,
  RaftInvariantError,
  RaftUsageError,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
  type ProposalDropReason,
} from './errors.js';
export { BUG_DESCRIPTIONS, BUG_NAMES, isBugName, type BugName } from './bugs.js';
export { noopLogger, validate, type Config, type Logger, type ValidConfig } from './config.js';
export { MemoryStorage, type Storage } from './storage.js';
export { RawNode, type BasicStatus, type ProgressStatus, type Status } from './raw-node.js';
export { Raft, CampaignType } from './raft.js';
export { ProgressState } from './tracker/progress.js';
export { committedIndex, voteResult, VoteResult } from './quorum/majority.js';
export {
  describeBytes,
  describeConfState,
  describeEntries,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
  describeSnapshot,
  describeSoftState,
} from './describe.js';
