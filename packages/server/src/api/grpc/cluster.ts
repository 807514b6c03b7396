import { ClusterService, type Member } from '@latchkey/proto';
import type { EtcdServer } from '../../node/etcd-server.js';
import type { MemberInfo } from '../../node/membership.js';
import { clusterHeader } from '../header.js';
import type { ServiceImpl } from './h2-server.js';

export function toMember(m: MemberInfo): Member {
  return { ID: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}

/** Cluster: membership changes go through the log as Raft configuration changes; replies carry no revision. */
export function clusterService(s: EtcdServer): ServiceImpl<typeof ClusterService> {
  const admin = (md: Parameters<typeof s.auth.identify>[0]): void => s.auth.requireAdmin(s.auth.identify(md));
  return {
    async MemberList(req) {
      if (req.linearizable) await s.linearizableRead();
      return { header: clusterHeader(s), members: s.memberList().map(toMember) };
    },
    async MemberAdd(req, ctx) {
      admin(ctx.metadata);
      const r = await s.memberAdd(req.peerURLs, req.isLearner);
      return { header: clusterHeader(s), member: toMember(r.member), members: r.members.map(toMember) };
    },
    async MemberRemove(req, ctx) {
      admin(ctx.metadata);
      return { header: clusterHeader(s), members: (await s.memberRemove(req.ID)).map(toMember) };
    },
    async MemberUpdate(req, ctx) {
      admin(ctx.metadata);
      return { header: clusterHeader(s), members: (await s.memberUpdate(req.ID, req.peerURLs)).map(toMember) };
    },
    async MemberPromote(req, ctx) {
      admin(ctx.metadata);
      return { header: clusterHeader(s), members: (await s.memberPromote(req.ID)).map(toMember) };
    },
  };
}
