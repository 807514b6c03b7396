import { AlarmRequest_AlarmAction, AlarmType, type HashKVResponse } from '@latchkey/proto';
import { corruptMember, type PeerHash } from './corruption-check.js';
import type { EtcdServer, Logger } from './etcd-server.js';

/** A peer's KV hash at a revision (the peer RPC; its errors as they come). */
export type PeerHashKV = (peer: bigint, revision: bigint, timeoutMs: number) => Promise<HashKVResponse>;

/**
 * etcd's two corruption checks, which both compare this member's KV hash with its peers':
 *  - `initial` (--experimental-initial-corrupt-check): before a restarting member joins; a peer that compacted
 *    at the same revision and hashes differently stops the start. Peers that are down, behind or compacted
 *    elsewhere are skipped with a warning.
 *  - `periodic` (--experimental-corrupt-check-time, on the leader): corruption-check.ts decides which member, if
 *    any, gets the CORRUPT alarm, which goes through the log.
 */
export class HashChecks {
  constructor(
    private readonly srv: EtcdServer,
    private readonly memberId: bigint,
    private readonly peerHashKV: PeerHashKV,
    private readonly log: Logger,
  ) {}

  async initial(timeoutMs: number): Promise<void> {
    const mine = this.srv.store.hashKV(0n);
    let mismatches = 0;
    const answers = await this.askPeers(mine.revision, timeoutMs);
    for (const [peer, theirs] of answers) {
      const id = peer.toString(16);
      if (theirs instanceof Error) {
        this.log.warn('cannot get the KV hash of a peer', { peer: id, err: theirs.message });
      } else if (theirs.hash !== mine.hash && theirs.compactRevision !== mine.compactRevision) {
        this.log.warn('cannot compare the KV hash with a peer: different compact revisions', { peer: id, compactRevision: mine.compactRevision, peerCompactRevision: theirs.compactRevision });
      } else if (theirs.hash !== mine.hash) {
        mismatches++;
        this.log.error('found a KV hash mismatch with a peer', { peer: id, revision: mine.revision, hash: mine.hash, peerHash: theirs.hash });
      }
    }
    if (mismatches > 0) throw new Error(`${this.memberId.toString(16)} found data inconsistency with peers`);
    this.log.info('initial corruption check passed', { revision: mine.revision, hash: mine.hash, peers: answers.length });
  }

  async periodic(timeoutMs: number): Promise<void> {
    const before = this.srv.store.hashKV(0n);
    const answers = await this.askPeers(before.revision, timeoutMs);
    await this.srv.linearizableRead();
    const after = this.srv.store.hashKV(0n);
    const peers = answers.flatMap(([id, r]): PeerHash[] =>
      r instanceof Error ? [] : [{ memberId: r.header?.memberId ?? id, revision: r.header?.revision ?? 0n, hash: r.hash, compactRevision: r.compactRevision }],
    );
    const bad = corruptMember(this.memberId, before, after, peers);
    if (bad === undefined) return;
    this.log.error('found a data inconsistency; raising the CORRUPT alarm', { member: bad.toString(16), revision: before.revision, hash: before.hash });
    await this.srv.propose({ alarm: { action: AlarmRequest_AlarmAction.ACTIVATE, memberID: bad, alarm: AlarmType.CORRUPT }, system: true });
  }

  /** Every other member's hash at `revision`, or the error asking it gave. */
  private askPeers(revision: bigint, timeoutMs: number): Promise<[bigint, HashKVResponse | Error][]> {
    const peers = this.srv.memberList().filter((m) => m.id !== this.memberId);
    return Promise.all(
      peers.map((p) =>
        this.peerHashKV(p.id, revision, timeoutMs).then(
          (r): [bigint, HashKVResponse] => [p.id, r],
          (err: unknown): [bigint, Error] => [p.id, err instanceof Error ? err : new Error(String(err))],
        ),
      ),
    );
  }
}
