import { EtcdError, LeaseService, type LeaseKeepAliveRequest, type LeaseKeepAliveResponse } from '@latchkey/proto';
import type { EtcdServer } from '../../node/etcd-server.js';
import { MAX_LEASE_TTL } from '../../lease/lessor.js';
import { keyBytes } from '../../mvcc/keys.js';
import { WireStatusError } from '../errors.js';
import { header } from '../header.js';
import type { ServerCall, ServiceImpl } from './h2-server.js';

export function leaseService(s: EtcdServer): ServiceImpl<typeof LeaseService> {
  return {
    async LeaseGrant(req, ctx) {
      const ai = s.auth.identify(ctx.metadata);
      if (req.TTL > MAX_LEASE_TTL) throw new WireStatusError(EtcdError.LeaseTTLTooLarge);
      const res = await s.leaseGrant(req.TTL, req.ID, ai);
      return { ...res, header: header(s) };
    },
    async LeaseRevoke(req, ctx) {
      const ai = s.auth.identify(ctx.metadata);
      const lease = s.lessor.lookup(req.ID);
      if (lease) s.auth.checkLeaseRevoke(ai, [...lease.keys].map(keyBytes));
      await s.leaseRevoke(req.ID, ai);
      return { header: header(s) };
    },
    async LeaseTimeToLive(req, ctx) {
      s.auth.identify(ctx.metadata);
      return { ...(await s.leaseTimeToLive(req)), header: header(s) };
    },
    async LeaseLeases(_req, ctx) {
      s.auth.identify(ctx.metadata);
      await s.linearizableRead();
      return { header: header(s), leases: s.lessor.ids().map((ID) => ({ ID })) };
    },
    LeaseKeepAlive(call) {
      const stream = call as ServerCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>;
      try {
        s.auth.identify(stream.metadata);
      } catch (err) {
        stream.fail(err);
        return;
      }
      let chain = Promise.resolve();
      stream.on('data', (req: LeaseKeepAliveRequest) => {
        // Answer in request order.
        chain = chain.then(async () => {
          try {
            const ttl = await s.leaseRenew(req.ID);
            if (!stream.writable) return;
            stream.write({ header: header(s), ID: req.ID, TTL: ttl });
          } catch (err) {
            stream.fail(err);
          }
        });
      });
      stream.on('end', () => {
        void chain.then(() => stream.end());
      });
    },
  };
}
