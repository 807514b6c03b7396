import { LockService } from '@latchkey/proto';
import type { EtcdServer } from '../../node/etcd-server.js';
import { lock, unlock } from '../../recipes/lock.js';
import type { WatchHub } from '../../watch/hub.js';
import type { ServiceImpl } from './h2-server.js';
import { asInProcessClient, recipeKV } from './recipe-kv.js';

/**
 * v3lockpb.Lock, as etcd's server-side lock service: Lock waits (event-driven, on the caller's RPC) until the
 * caller's key `<name>/<lease hex>` is the oldest under `<name>/`; a caller that cancels leaves the queue.
 * Every step runs with the caller's identity and permissions; errors reach the caller as etcd's do (code Unknown).
 */
export function lockService(s: EtcdServer, hub: WatchHub, maxTxnOps: number): ServiceImpl<typeof LockService> {
  return {
    Lock: (req, ctx) =>
      asInProcessClient(
        (async () => {
          const kv = recipeKV(s, hub, s.auth.identify(ctx.metadata), maxTxnOps);
          return lock(kv, req.name, req.lease, ctx.signal);
        })(),
      ),
    Unlock: (req, ctx) =>
      asInProcessClient(
        (async () => {
          const kv = recipeKV(s, hub, s.auth.identify(ctx.metadata), maxTxnOps);
          return { header: await unlock(kv, req.key) };
        })(),
      ),
  };
}
