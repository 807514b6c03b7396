import { ClusterService, EtcdError, type Member } from '@latchkey/proto';
import type { EtcdServer } from '../../node/etcd-server.js';
import type { MemberInfo } from '../../node/membership.js';
import { WireStatusError } from '../errors.js';
import { clusterHeader } from '../header.js';
import type { ServiceImpl } from './h2-server.js';

export function toMember(m: MemberInfo): Member {
  return { ID: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}

export function clusterService(s: EtcdServer): ServiceImpl<typeof ClusterService> {
  const unsupported = async (): Promise<never> => {
    throw new WireStatusError(EtcdError.NotCapable);
  };
  return {
    async MemberList(req) {
      if (req.linearizable) await s.linearizableRead();
      return { header: clusterHeader(s), members: s.memberList().map(toMember) };
    },
    MemberAdd: unsupported,
    MemberRemove: unsupported,
    MemberUpdate: unsupported,
    MemberPromote: unsupported,
  };
}
