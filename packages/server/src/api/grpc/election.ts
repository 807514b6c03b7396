import { ElectionService, type LeaderKey, type LeaderRequest, type LeaderResponse } from '@latchkey/proto';
import type { MetadataLike } from '../../auth/guard.js';
import type { EtcdServer } from '../../node/etcd-server.js';
import { campaign, leader, observe, proclaim, resign } from '../../recipes/election.js';
import { RecipeError } from '../../recipes/errors.js';
import type { RecipeKV } from '../../recipes/port.js';
import type { WatchHub } from '../../watch/hub.js';
import type { ServerCall, ServiceImpl } from './h2-server.js';
import { asInProcessClient, recipeKV } from './recipe-kv.js';

/**
 * v3electionpb.Election, as etcd's server-side election service. Campaign blocks until the caller leads;
 * Proclaim and Resign act for the leader named by a LeaderKey; Observe streams the leader and its changes.
 * Errors reach the caller as etcd's do: code Unknown with etcd's message.
 */
export function electionService(s: EtcdServer, hub: WatchHub, maxTxnOps: number): ServiceImpl<typeof ElectionService> {
  const kvFor = (md: MetadataLike): RecipeKV => recipeKV(s, hub, s.auth.identify(md), maxTxnOps);
  return {
    Campaign: (req, ctx) => asInProcessClient((async () => campaign(kvFor(ctx.metadata), req.name, req.lease, req.value, ctx.signal))()),
    Proclaim: (req, ctx) =>
      asInProcessClient(
        (async () => {
          const leaderKey = required(req.leader);
          return { header: await proclaim(kvFor(ctx.metadata), leaderKey, req.value) };
        })(),
      ),
    Leader: (req, ctx) => asInProcessClient((async () => leader(kvFor(ctx.metadata), req.name))()),
    Resign: (req, ctx) =>
      asInProcessClient(
        (async () => {
          const leaderKey = required(req.leader);
          return { header: await resign(kvFor(ctx.metadata), leaderKey) };
        })(),
      ),
    Observe(call) {
      const stream = call as ServerCall<LeaderRequest, LeaderResponse>;
      const ac = new AbortController();
      const cancel = (): void => ac.abort();
      stream.on('cancelled', cancel);
      stream.on('close', cancel);
      void (async () => {
        try {
          for await (const state of observe(kvFor(stream.metadata), stream.request.name, ac.signal)) {
            if (!stream.writable) break;
            if (!stream.write(state)) {
              await new Promise<void>((resolve) => {
                stream.once('drain', resolve);
                stream.once('cancelled', resolve);
              });
            }
          }
        } catch {
          // etcd's Observe ends its stream without an error when one of its reads or watches fails (a bad token
          // or a denied permission included): the observer just stops getting leaders.
        }
        if (!ac.signal.aborted) stream.end();
      })();
    },
  };
}

function required(leader: LeaderKey | undefined): LeaderKey {
  if (!leader) throw new RecipeError('ElectionMissingLeader');
  return leader;
}
