import type { ServiceDesc } from '@latchkey/proto';
import { NoLeaderError } from '../node/errors.js';
import type { CallMetadata, ServerCall, ServiceImpl, StreamHandler, UnaryHandler } from './grpc/h2-server.js';

/**
 * etcd's "hasleader" call metadata (clientv3.WithRequireLeader; etcdctl watch sets it): such a call fails with
 * `etcdserver: no leader` when the member knows no leader, and such a stream is ended the same way once the member
 * has gone `NO_LEADER_CHECKS` checks (one per election timeout) without a leader, so that the client moves to a
 * member that has one instead of waiting on a cut-off member forever.
 */
export const NO_LEADER_CHECKS = 3;

export class RequireLeader {
  private readonly streams = new Set<ServerCall>();
  private withoutLeader = 0;

  constructor(private readonly hasLeader: () => boolean) {}

  /** The service with every method behind the check (the gateway and gRPC share the wrapped handlers). */
  wrap<S extends ServiceDesc>(desc: S, impl: ServiceImpl<S>): ServiceImpl<S> {
    const out: Record<string, unknown> = {};
    for (const [name, method] of Object.entries(desc)) {
      const h = impl[name as keyof S] as unknown;
      if (method.requestStream || method.responseStream) {
        const handler = h as StreamHandler;
        out[name] = ((call: ServerCall) => {
          if (!wantsLeader(call.metadata)) return handler(call);
          if (!this.hasLeader()) return call.fail(new NoLeaderError());
          this.streams.add(call);
          call.once('close', () => this.streams.delete(call));
          handler(call);
        }) satisfies StreamHandler;
      } else {
        const handler = h as UnaryHandler;
        out[name] = ((req, ctx) => (wantsLeader(ctx.metadata) && !this.hasLeader() ? Promise.reject(new NoLeaderError()) : handler(req, ctx))) satisfies UnaryHandler;
      }
    }
    return out as ServiceImpl<S>;
  }

  /** One check, every election timeout: after NO_LEADER_CHECKS in a row without a leader, the streams end. */
  check(): void {
    // Calls that ended without a 'close' (a gateway stream that finished normally) are dropped here.
    for (const call of this.streams) if (!call.writable) this.streams.delete(call);
    this.withoutLeader = this.hasLeader() ? 0 : this.withoutLeader + 1;
    if (this.withoutLeader < NO_LEADER_CHECKS) return;
    const ended = [...this.streams];
    this.streams.clear();
    for (const call of ended) call.fail(new NoLeaderError());
  }

  /** Streams that asked for a leader and are still open. */
  get size(): number {
    return this.streams.size;
  }
}

function wantsLeader(md: CallMetadata): boolean {
  return md.get('hasleader')[0] === 'true';
}
