/**
 * Errors of the Raft core. Storage errors are sentinels the core reacts to (a compacted index makes the leader send a
 * snapshot); `ProposalDroppedError` is what a caller of `propose` sees; `RaftInvariantError` means the core or its
 * storage is broken and the process must stop (fail-stop: never catch it and continue).
 */

/** Base class: every error thrown on purpose by the core. */
export abstract class RaftError extends Error {
  /** Whether trying the same operation again later may succeed. */
  abstract readonly retryable: boolean;
}

/** Storage: the requested index is older than the first index still kept (it was compacted into a snapshot). */
export class CompactedError extends RaftError {
  override readonly retryable = false;
  constructor(
    readonly index: number,
    opts?: ErrorOptions,
  ) {
    super(`requested index ${index} is unavailable due to compaction`, opts);
    this.name = 'CompactedError';
  }
}

/** Storage: the requested index is beyond the last index. */
export class UnavailableError extends RaftError {
  override readonly retryable = false;
  constructor(
    readonly index: number,
    opts?: ErrorOptions,
  ) {
    super(`requested entry at index ${index} is unavailable`, opts);
    this.name = 'UnavailableError';
  }
}

/** Storage: no snapshot can be produced right now; the leader tries again later. */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  override readonly retryable = true;
  constructor(opts?: ErrorOptions) {
    super('snapshot is temporarily unavailable', opts);
    this.name = 'SnapshotTemporarilyUnavailableError';
  }
}

/** Storage: applying or creating a snapshot older than the one already held. */
export class SnapshotOutOfDateError extends RaftError {
  override readonly retryable = false;
  constructor(
    readonly index: number,
    readonly current: number,
    opts?: ErrorOptions,
  ) {
    super(`requested snapshot index ${index} is older than the existing snapshot ${current}`, opts);
    this.name = 'SnapshotOutOfDateError';
  }
}

/** Why a proposal was not appended. */
export type ProposalDropReason =
  | 'no-leader'
  | 'forwarding-disabled'
  | 'leader-transfer'
  | 'not-a-member'
  | 'uncommitted-size-limit'
  | 'not-leader';

/**
 * A proposal was not accepted: there is no leader, leadership is being transferred, forwarding is disabled, the node
 * was removed, or the uncommitted-entries budget is exhausted. Nothing was appended; retry (possibly elsewhere).
 */
export class ProposalDroppedError extends RaftError {
  override readonly retryable = true;
  constructor(
    readonly reason: ProposalDropReason,
    opts?: ErrorOptions,
  ) {
    super(`raft proposal dropped (${reason})`, opts);
    this.name = 'ProposalDroppedError';
  }
}

/** A `Config` that cannot work (zero id, heartbeat >= election timeout, …). */
export class ConfigError extends RaftError {
  override readonly retryable = false;
  constructor(message: string, opts?: ErrorOptions) {
    super(`invalid raft config: ${message}`, opts);
    this.name = 'ConfigError';
  }
}

/** A caller broke the API contract (stepped a local message from the network, two Readys without advance, …). */
export class RaftUsageError extends RaftError {
  override readonly retryable = false;
  constructor(message: string, opts?: ErrorOptions) {
    super(message, opts);
    this.name = 'RaftUsageError';
  }
}

/** An internal invariant does not hold: a bug in the core, or storage that lost or corrupted data. Fail-stop. */
export class RaftInvariantError extends RaftError {
  override readonly retryable = false;
  constructor(message: string, opts?: ErrorOptions) {
    super(message, opts);
    this.name = 'RaftInvariantError';
  }
}

/** Throws a `RaftInvariantError` with `message` unless `cond` holds. */
export function invariant(cond: boolean, message: string | (() => string)): asserts cond {
  if (!cond) throw new RaftInvariantError(typeof message === 'string' ? message : message());
}
