import type { BugName } from './bugs.js';
import { ConfigError } from './errors.js';
import type { Storage } from './storage.js';
import { None, type NodeId } from './types.js';

/** Where the core writes its log lines. Each role transition writes exactly one `info` line. */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Discards everything. The default. */
export const noopLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/** How to start a Raft node. Units are given per field; "tick" is one call of `RawNode.tick()`. */
export interface Config {
  /** This node's id. Must not be `None` (0n). */
  id: NodeId;
  /**
   * Ticks a follower waits without hearing from a leader before campaigning. The actual timeout is randomized in
   * [electionTick, 2 * electionTick). Must exceed `heartbeatTick`; 10 × heartbeatTick is the usual choice.
   */
  electionTick: number;
  /** Ticks between leader heartbeats. Usually 1. */
  heartbeatTick: number;
  /** The node's log and persistent state. The core reads it; the driver writes it. */
  storage: Storage;
  /**
   * Index of the last entry already applied to the state machine (on restart). Default 0. Must be at least the
   * storage's snapshot index and at most its last index; if it is beyond the persisted commit index, the commit
   * index is raised to it (an applied entry is committed).
   */
  applied?: number;
  /**
   * Upper bound, in bytes (see `entrySize`), of the entries in one MsgApp. A single larger entry is still sent, so 0
   * means one entry per message. Default 1 MiB. Small values make catch-up cheap to lose; large ones speed up replication.
   */
  maxSizePerMsg?: number;
  /** Upper bound, in bytes, of `committedEntries` in one Ready (at least one entry is always returned, so 0 means one at a time). Default `maxSizePerMsg`. */
  maxCommittedSizePerReady?: number;
  /** Upper bound on unacknowledged MsgApp messages per follower in replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Upper bound, in bytes, on unacknowledged entries per follower; 0 means no limit. Must be >= `maxSizePerMsg` when set. Default 0. */
  maxInflightBytes?: number;
  /** Upper bound, in bytes of entry data, of the leader's uncommitted log tail; proposals beyond it are dropped. 0 means no limit. Default 0. */
  maxUncommittedEntriesSize?: number;
  /** The leader steps down when a quorum has not been heard from for an election timeout; followers with a live leader ignore vote requests. Default true. */
  checkQuorum?: boolean;
  /** Run a pre-vote round before a real election so that a partitioned node does not disrupt the cluster on return. Default true. */
  preVote?: boolean;
  /** Followers drop proposals instead of forwarding them to the leader. Default false. */
  disableProposalForwarding?: boolean;
  /** A leader steps down when it applies its own removal or demotion. Default true. */
  stepDownOnRemoval?: boolean;
  /**
   * The leader marks an append that only carries a commit index, to a follower it knows holds everything up to the
   * append point, as `commitOnly`, and the follower does not answer it (one message fewer per commit and follower).
   * Its liveness rests on the leader knowing the follower's match: a lost answer to an earlier append leaves the
   * match behind, so the next empty append is not marked and gets an answer. Default false (etcd-io/raft's
   * protocol, which the scripted scenarios follow).
   */
  commitOnlyAppends?: boolean;
  /** Source of randomness for election timeouts: returns a number in [0, 1). Injected so runs are reproducible. */
  random: () => number;
  /** Default: `noopLogger`. */
  logger?: Logger;
  /** Bugs to switch on, for testing the checkers only. Default: none. */
  bugs?: ReadonlySet<BugName>;
}

/** A `Config` with every default filled in. */
export interface ValidConfig extends Required<Omit<Config, 'bugs'>> {
  bugs: ReadonlySet<BugName>;
}

/** Upper bound standing for "no limit" in byte limits. */
export const NO_LIMIT = Number.MAX_SAFE_INTEGER;

const NO_BUGS: ReadonlySet<BugName> = new Set();

/** Fills defaults and rejects nonsense. Throws `ConfigError`. */
export function validate(c: Config): ValidConfig {
  if (c.id === None) throw new ConfigError('cannot use none (0) as id');
  if (c.id < 0n) throw new ConfigError('id must be a positive uint64');
  if (!Number.isInteger(c.heartbeatTick) || c.heartbeatTick <= 0) throw new ConfigError('heartbeat tick must be a positive integer');
  if (!Number.isInteger(c.electionTick) || c.electionTick <= c.heartbeatTick) {
    throw new ConfigError('election tick must be an integer greater than heartbeat tick');
  }
  if (c.storage === undefined || c.storage === null) throw new ConfigError('storage cannot be missing');
  if (typeof c.random !== 'function') throw new ConfigError('random must be a function returning [0, 1)');
  const applied = c.applied ?? 0;
  if (!Number.isSafeInteger(applied) || applied < 0) throw new ConfigError('applied must be a non-negative integer');
  const maxSizePerMsg = c.maxSizePerMsg ?? 1024 * 1024;
  if (!(maxSizePerMsg >= 0)) throw new ConfigError('max size per message must be >= 0');
  const maxInflightMsgs = c.maxInflightMsgs ?? 256;
  if (!Number.isInteger(maxInflightMsgs) || maxInflightMsgs <= 0) throw new ConfigError('max inflight messages must be greater than 0');
  const maxInflightBytes = c.maxInflightBytes ?? 0;
  if (maxInflightBytes !== 0 && maxInflightBytes < maxSizePerMsg) throw new ConfigError('max inflight bytes must be >= max message size');
  const maxUncommitted = c.maxUncommittedEntriesSize ?? 0;
  if (maxUncommitted < 0) throw new ConfigError('max uncommitted entries size must be >= 0');
  const maxCommitted = c.maxCommittedSizePerReady ?? maxSizePerMsg;
  if (maxCommitted < 0) throw new ConfigError('max committed size per ready must be >= 0');
  return {
    id: c.id,
    electionTick: c.electionTick,
    heartbeatTick: c.heartbeatTick,
    storage: c.storage,
    applied,
    maxSizePerMsg,
    maxCommittedSizePerReady: maxCommitted,
    maxInflightMsgs,
    maxInflightBytes: maxInflightBytes === 0 ? NO_LIMIT : maxInflightBytes,
    maxUncommittedEntriesSize: maxUncommitted === 0 ? NO_LIMIT : maxUncommitted,
    checkQuorum: c.checkQuorum ?? true,
    preVote: c.preVote ?? true,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    stepDownOnRemoval: c.stepDownOnRemoval ?? true,
    commitOnlyAppends: c.commitOnlyAppends ?? false,
    random: c.random,
    logger: c.logger ?? noopLogger,
    bugs: c.bugs ?? NO_BUGS,
  };
}
