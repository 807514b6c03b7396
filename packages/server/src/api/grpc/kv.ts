import { KVService } from '@latchkey/proto';
import type { EtcdServer } from '../../node/etcd-server.js';
import { header } from '../header.js';
import { checkDeleteRange, checkPut, checkRange, checkTxn } from '../validate.js';
import type { ServiceImpl } from './h2-server.js';

/** KV: validate → call the server → fill the header. Errors are mapped by the service wrapper. */
export function kvService(s: EtcdServer, maxTxnOps: number): ServiceImpl<typeof KVService> {
  return {
    async Range(req) {
      checkRange(req);
      const res = await s.range(req);
      res.header = header(s, res.header?.revision);
      return res;
    },
    async Put(req) {
      checkPut(req);
      const res = await s.put(req);
      res.header = header(s, res.header?.revision);
      return res;
    },
    async DeleteRange(req) {
      checkDeleteRange(req);
      const res = await s.deleteRange(req);
      res.header = header(s, res.header?.revision);
      return res;
    },
    async Txn(req) {
      checkTxn(req, maxTxnOps);
      const res = await s.txn(req);
      res.header = header(s, res.header?.revision);
      return res;
    },
    async Compact(req) {
      await s.compact(req);
      return { header: header(s) };
    },
  };
}
