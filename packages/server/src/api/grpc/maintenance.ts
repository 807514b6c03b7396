import { crc32 } from 'node:zlib';
import { AlarmRequest_AlarmAction, type AlarmMember } from '@latchkey/proto';
import { EtcdError, MaintenanceService, type StatusResponse } from '@latchkey/proto';
import type { EtcdServer } from '../../node/etcd-server.js';
import { ETCD_VERSION } from '../../version.js';
import { WireStatusError } from '../errors.js';
import { header } from '../header.js';
import type { ServiceImpl } from './h2-server.js';

export function maintenanceService(s: EtcdServer, snapshot: ServiceImpl<typeof MaintenanceService>['Snapshot']): ServiceImpl<typeof MaintenanceService> {
  return {
    async Status() {
      const size = s.backend.size();
      const res: StatusResponse = {
        header: header(s),
        version: ETCD_VERSION,
        dbSize: BigInt(size.total),
        leader: s.leader,
        raftIndex: BigInt(s.committedIndex),
        raftTerm: BigInt(s.term),
        raftAppliedIndex: BigInt(s.applier.appliedIndex),
        errors: s.applier.activeAlarms().map((a) => `memberID:${a.memberID} alarm:${a.alarm === 1 ? 'NOSPACE' : 'CORRUPT'} `),
        dbSizeInUse: BigInt(size.inUse),
        isLearner: false,
      };
      return res;
    },
    async Alarm(req, ctx) {
      if (req.action === AlarmRequest_AlarmAction.GET) {
        const alarms = s.applier.activeAlarms();
        // etcd answers a GET with no alarms with an entirely empty message.
        if (alarms.length === 0) return {};
        return { header: header(s), alarms: [...alarms] };
      }
      const ai = s.auth.identify(ctx.metadata);
      s.auth.requireAdmin(ai);
      const res = (await s.propose({ alarm: req }, ai)) as { alarms: AlarmMember[] };
      return { header: header(s), alarms: res.alarms };
    },
    async Defragment(_req, ctx) {
      s.auth.requireAdmin(s.auth.identify(ctx.metadata));
      // LMDB reuses freed pages itself; there is nothing to rewrite.
      return { header: header(s) };
    },
    async Hash(_req, ctx) {
      s.auth.requireAdmin(s.auth.identify(ctx.metadata));
      let h = 0;
      s.store.forEachRecord(s.store.currentRev, (k, v) => {
        h = crc32(v, crc32(k, h));
      });
      return { header: header(s), hash: h >>> 0 };
    },
    async HashKV(req, ctx) {
      s.auth.requireAdmin(s.auth.identify(ctx.metadata));
      const { hash, compactRevision } = s.store.hashKV(req.revision);
      return { header: header(s), hash, compactRevision };
    },
    Snapshot: snapshot,
    async MoveLeader(req, ctx) {
      s.auth.requireAdmin(s.auth.identify(ctx.metadata));
      await s.moveLeader(req.targetID);
      return { header: header(s) };
    },
    async Downgrade() {
      throw new WireStatusError({ code: 12, message: 'etcdserver: downgrade is not supported' });
    },
  };
}
