import { KVService } from '@latchkey/proto';
import type { EtcdServer } from '../../node/etcd-server.js';
import { header } from '../header.js';
import { checkDeleteRange, checkPut, checkRange, checkTxn } from '../validate.js';
import type { ServiceImpl } from './h2-server.js';

/**
 * KV: validate → authorize → call the server → fill the header. Errors are mapped by the service wrapper.
 * Writes carry the requester's identity into the log, where the applier authorizes them again.
 */
export function kvService(s: EtcdServer, maxTxnOps: number): ServiceImpl<typeof KVService> {
  return {
    async Range(req, ctx) {
      checkRange(req);
      s.auth.checkRange(s.auth.identify(ctx.metadata), req);
      const res = await s.range(req);
      res.header = header(s, res.header?.revision);
      return res;
    },
    async Put(req, ctx) {
      checkPut(req);
      const ai = s.auth.identify(ctx.metadata);
      s.auth.checkPut(ai, req);
      const res = await s.put(req, ai);
      res.header = header(s, res.header?.revision);
      return res;
    },
    async DeleteRange(req, ctx) {
      checkDeleteRange(req);
      const ai = s.auth.identify(ctx.metadata);
      s.auth.checkDeleteRange(ai, req);
      const res = await s.deleteRange(req, ai);
      res.header = header(s, res.header?.revision);
      return res;
    },
    async Txn(req, ctx) {
      checkTxn(req, maxTxnOps);
      const ai = s.auth.identify(ctx.metadata);
      s.auth.checkTxn(ai, req);
      const res = await s.txn(req, ai);
      res.header = header(s, res.header?.revision);
      return res;
    },
    async Compact(req, ctx) {
      const ai = s.auth.identify(ctx.metadata);
      s.auth.requireAdmin(ai);
      await s.compact(req, ai);
      return { header: header(s) };
    },
  };
}
