import type { ResponseHeader } from '@latchkey/proto';
import type { EtcdServer } from '../node/etcd-server.js';

/**
 * The response header etcd puts on every reply: cluster and member ids, the store revision (the one the request
 * was served at, or the current one), and the Raft term. Cluster-service replies carry no revision.
 */
export function header(s: EtcdServer, revision: bigint | undefined = s.store.currentRev): ResponseHeader {
  return { clusterId: s.identity.clusterId, memberId: s.identity.memberId, revision: revision ?? 0n, raftTerm: BigInt(s.term) };
}

export function clusterHeader(s: EtcdServer): ResponseHeader {
  return { clusterId: s.identity.clusterId, memberId: s.identity.memberId, revision: 0n, raftTerm: BigInt(s.term) };
}
