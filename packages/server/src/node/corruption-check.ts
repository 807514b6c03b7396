/**
 * etcd's periodic corruption check (--experimental-corrupt-check-time), the leader's decision half. The leader
 * hashes its store (`before`), asks every peer for its hash at that revision, waits for a linearizable read, and
 * hashes again (`after`). One member is marked CORRUPT per check — the first of, in etcd 3.4's order:
 *  - the leader itself, if its hash changed while its revision and compaction did not (its own data moved);
 *  - a peer that is ahead of the leader (a higher revision, or a higher compaction revision): impossible unless
 *    its history diverged;
 *  - a peer that compacted where the leader had and yet hashes differently at the same revision.
 * Peers that did not answer, or compacted elsewhere, prove nothing. Pure; the caller raises the alarm.
 */

export interface HashAt {
  hash: number;
  /** The revision the hash covers (for a peer's answer: its own newest revision, from the response header). */
  revision: bigint;
  compactRevision: bigint;
}

export interface PeerHash extends HashAt {
  memberId: bigint;
}

export function corruptMember(self: bigint, before: HashAt, after: HashAt, peers: readonly PeerHash[]): bigint | undefined {
  if (after.hash !== before.hash && after.revision === before.revision && after.compactRevision === before.compactRevision) return self;
  for (const p of peers) {
    if (p.revision > after.revision || p.compactRevision > after.compactRevision) return p.memberId;
    if (p.compactRevision === before.compactRevision && p.hash !== before.hash) return p.memberId;
  }
  return undefined;
}
