import { committedIndex } from './quorum/majority.js';
import { emptyBytes, type Message, type NodeId } from './types.js';

/** A ReadIndex request waiting for the leader to confirm it is still the leader. */
export interface ReadIndexRequest {
  /** The MsgReadIndex (from a follower, or local with `from` None/self). */
  req: Message;
  /** The leader's commit index when the request arrived: the read may be served once applied >= index. */
  index: number;
}

/**
 * Linearizable reads (Raft thesis §6.4, "ReadIndex"): the leader records its commit index when a read arrives, then
 * confirms with a heartbeat round that it was still the leader at that moment; a quorum acknowledging a heartbeat
 * sent after the read arrived proves no newer leader had committed anything yet.
 *
 * Each read gets a position (1, 2, 3, … within one leadership). Heartbeats carry the highest position added so far
 * as their context; a follower's response echoes it. A read at position p is confirmed once a quorum (the leader
 * included) has echoed a position >= p. Positions rather than request contexts identify reads, so a retried request
 * that reuses a context can never be answered by the confirmation of an older one (etcd#20418).
 *
 * ```
 *   read A arrives (commit 7)  → position 1, heartbeat ctx=1
 *   read B arrives (commit 9)  → position 2, heartbeat ctx=2
 *   acks: self=2, follower2=1  → quorum of 3 confirms position 1: A is answered with index 7; B waits
 *   ack follower3=2            → quorum confirms 2: B is answered with index 9
 * ```
 *
 * Invariant: confirmedReads + unconfirmed.length === the number of reads added in this leadership.
 * A new instance is made for every term (`Raft.reset`), so positions never mix leaderships.
 */
export class ReadOnly {
  /** Highest position echoed by each peer. */
  private readonly acks = new Map<NodeId, number>();
  private unconfirmed: ReadIndexRequest[] = [];
  private confirmedReads = 0;

  /** Records a read that arrived while the commit index was `commitIndex`. */
  addRequest(commitIndex: number, req: Message): void {
    this.unconfirmed.push({ req, index: commitIndex });
  }

  /** `from` echoed heartbeat context `ctx` (ignored if empty). */
  recvAck(from: NodeId, ctx: Uint8Array): void {
    if (ctx.length !== 8) return;
    const pos = decodePosition(ctx);
    if (pos > (this.acks.get(from) ?? 0)) this.acks.set(from, pos);
  }

  /** The reads newly confirmed by a quorum of `voters`, oldest first. */
  maybeAdvance(voters: readonly NodeId[]): ReadIndexRequest[] {
    const confirmed = Math.min(committedIndex(voters, (id) => this.acks.get(id)), this.confirmedReads + this.unconfirmed.length);
    if (confirmed <= this.confirmedReads) return [];
    const n = confirmed - this.confirmedReads;
    const done = this.unconfirmed.slice(0, n);
    this.unconfirmed = this.unconfirmed.slice(n);
    this.confirmedReads = confirmed;
    return done;
  }

  /** The context for the next heartbeat: the newest read position, or empty if no read is waiting. */
  heartbeatCtx(): Uint8Array {
    if (this.unconfirmed.length === 0) return emptyBytes;
    return encodePosition(this.confirmedReads + this.unconfirmed.length);
  }

  /** Number of reads waiting for confirmation. */
  get pending(): number {
    return this.unconfirmed.length;
  }
}

/** 8 bytes, little-endian unsigned. */
function encodePosition(pos: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, pos % 0x1_0000_0000, true);
  v.setUint32(4, Math.floor(pos / 0x1_0000_0000), true);
  return b;
}

function decodePosition(b: Uint8Array): number {
  const v = new DataView(b.buffer, b.byteOffset, 8);
  return v.getUint32(0, true) + v.getUint32(4, true) * 0x1_0000_0000;
}
