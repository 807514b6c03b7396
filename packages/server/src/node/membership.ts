import { createHash } from 'node:crypto';
import { internalpb } from '@latchkey/proto';
import { type Backend, Table } from '../backend/backend.js';
import { prefixEnd } from '../mvcc/keys.js';

/** A member as the cluster records it. */
export interface MemberInfo {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/**
 * A member's id, computed as etcd computes it so that every member derives the same ids from the same
 * `--initial-cluster` and `--initial-cluster-token`: the first 8 bytes (big-endian) of SHA-1 over the member's
 * sorted peer URLs concatenated, followed by the cluster token (and, for members added at runtime, a timestamp).
 */
export function computeMemberId(peerURLs: readonly string[], token: string, nowSeconds?: number): bigint {
  const parts = [...peerURLs].sort().join('') + token + (nowSeconds === undefined ? '' : String(nowSeconds));
  return createHash('sha1').update(parts).digest().readBigUInt64BE(0);
}

/** The cluster id: the first 8 bytes of SHA-1 over the sorted member ids, each as 8 big-endian bytes. */
export function computeClusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.allocUnsafe(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, i * 8));
  return createHash('sha1').update(buf).digest().readBigUInt64BE(0);
}

/** The replicated membership table (backend table Members), read by MemberList and the transport. */
export class Membership {
  /**
   * The removed ids, read from the backend on first use and dropped whenever `remove` runs (so an aborted batch
   * cannot leave a wrong answer behind: the next question reads the backend again). The transport asks for every
   * batch of Raft messages it receives; this keeps that question off the backend.
   */
  private removed: Set<bigint> | undefined;

  constructor(private readonly backend: Backend) {}

  list(): MemberInfo[] {
    const out: MemberInfo[] = [];
    this.backend.scan(Table.Members, undefined, undefined, (_k, v) => {
      const r = internalpb.MemberRecord.decode(v);
      out.push({ id: r.id, name: r.name, peerURLs: r.peerUrls, clientURLs: r.clientUrls, isLearner: r.isLearner });
    });
    return out;
  }

  get(id: bigint): MemberInfo | undefined {
    return this.list().find((m) => m.id === id);
  }

  /** Writes a member record; must run inside a backend batch. */
  put(m: MemberInfo): void {
    this.backend.put(
      Table.Members,
      idKey(m.id),
      internalpb.MemberRecord.encode({ id: m.id, name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, isLearner: m.isLearner }),
    );
  }

  /** Removes a member record and remembers the id as removed for good; must run inside a backend batch. */
  remove(id: bigint): void {
    this.backend.del(Table.Members, idKey(id));
    this.backend.put(Table.Meta, removedKey(id), Buffer.of(1));
    this.removed = undefined;
  }

  /** Whether `id` was a member and has been removed (such a member must stop, as etcd's removed members do). */
  isRemoved(id: bigint): boolean {
    if (!this.removed) {
      const ids = new Set<bigint>();
      const prefix = Buffer.from(REMOVED_PREFIX);
      this.backend.scan(Table.Meta, prefix, prefixEnd(prefix), (k) => {
        ids.add(BigInt(`0x${k.subarray(REMOVED_PREFIX.length).toString()}`));
      });
      this.removed = ids;
    }
    return this.removed.has(id);
  }
}

const REMOVED_PREFIX = 'removed/';

function removedKey(id: bigint): Buffer {
  return Buffer.from(`${REMOVED_PREFIX}${id.toString(16)}`);
}

function idKey(id: bigint): Buffer {
  const k = Buffer.allocUnsafe(8);
  k.writeBigUInt64BE(id);
  return k;
}

/**
 * Applies a membership-change entry to the replicated table (inside the apply batch), mirroring what the entry
 * does to Raft's configuration: add (voter or learner), promote, remove, or update a member's peer URLs. Returns
 * the waiting request's id (0n for none) with the table after the change.
 */
export function applyMemberChange(
  members: Membership,
  cc: { type: number; nodeId: bigint; context: Uint8Array },
): { requestId: bigint; members: MemberInfo[] } {
  let requestId = 0n;
  let record: internalpb.MemberRecord | undefined;
  if (cc.context.length > 0) {
    try {
      const ctx = internalpb.ConfChangeContext.decode(cc.context);
      requestId = ctx.requestId;
      record = ctx.member;
    } catch {
      // A foreign or empty context: the change still applies to Raft; the table keeps what it has.
    }
  }
  const existing = members.get(cc.nodeId);
  switch (cc.type) {
    case ConfChangeKind.AddNode:
      if (existing) members.put({ ...existing, isLearner: false });
      else if (record) members.put({ id: cc.nodeId, name: record.name, peerURLs: record.peerUrls, clientURLs: record.clientUrls, isLearner: false });
      break;
    case ConfChangeKind.AddLearnerNode:
      if (existing) members.put({ ...existing, isLearner: true });
      else if (record) members.put({ id: cc.nodeId, name: record.name, peerURLs: record.peerUrls, clientURLs: record.clientUrls, isLearner: true });
      break;
    case ConfChangeKind.RemoveNode:
      members.remove(cc.nodeId);
      break;
    case ConfChangeKind.UpdateNode:
      if (existing && record) members.put({ ...existing, peerURLs: record.peerUrls });
      break;
  }
  return { requestId, members: members.list() };
}

/** Raft's ConfChangeType numbering (kept here so the membership table does not depend on the Raft core). */
export enum ConfChangeKind {
  AddNode = 0,
  RemoveNode = 1,
  UpdateNode = 2,
  AddLearnerNode = 3,
}
