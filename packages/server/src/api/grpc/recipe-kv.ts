import { DeleteRangeRequest, EMPTY_BYTES, GrpcCode, RangeRequest, TxnRequest } from '@latchkey/proto';
import { AuthError } from '../../auth/store.js';
import type { AuthInfo } from '../../auth/guard.js';
import { keyString } from '../../mvcc/keys.js';
import { CompactedError } from '../../mvcc/errors.js';
import type { EtcdServer } from '../../node/etcd-server.js';
import { CanceledError } from '../../node/errors.js';
import type { RecipeKV, WatchBatch } from '../../recipes/port.js';
import type { HubWatcher, WatchHub } from '../../watch/hub.js';
import { toWireError, WireStatusError } from '../errors.js';
import { header } from '../header.js';
import { checkDeleteRange, checkRange, checkTxn } from '../validate.js';

/**
 * The lock and election recipes' view of the member, acting for one caller: the same validation, permission checks
 * and facade calls as the KV service (so reads are linearizable and writes are forwarded to the leader and
 * re-authorized when applied), plus watches registered directly with the member's watch hub.
 */
export function recipeKV(s: EtcdServer, hub: WatchHub, ai: AuthInfo | undefined, maxTxnOps: number): RecipeKV {
  return {
    async range(init) {
      const req = RangeRequest.create(init);
      checkRange(req);
      s.auth.checkRange(ai, req);
      const res = await s.range(req);
      res.header = header(s, res.header?.revision);
      return res;
    },
    async txn(init) {
      const req = TxnRequest.create(init);
      checkTxn(req, maxTxnOps);
      s.auth.checkTxn(ai, req);
      const res = await s.txn(req, ai);
      res.header = header(s, res.header?.revision);
      return res;
    },
    async deleteRange(init) {
      const req = DeleteRangeRequest.create(init);
      checkDeleteRange(req);
      s.auth.checkDeleteRange(ai, req);
      const res = await s.deleteRange(req, ai);
      res.header = header(s, res.header?.revision);
      return res;
    },
    async leaseGrant(ttl) {
      return (await s.leaseGrant(ttl, 0n, ai)).ID;
    },
    watch(req, signal) {
      if (!s.auth.mayWatch(ai, req.key, req.rangeEnd ?? EMPTY_BYTES)) throw new AuthError('PermissionDenied');
      return { [Symbol.asyncIterator]: () => new HubSubscription(s, hub, req, signal) };
    },
  };
}

/**
 * etcd serves Lock and Election through an in-process client, which turns every error it meets (a missing lease, an
 * empty key, a permission denied) into a plain Go error: callers of these services see gRPC code Unknown with the
 * original message. Unexpected errors (bugs) keep their own mapping so that they are logged.
 */
export async function asInProcessClient<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const w = toWireError(err);
    if (w.unexpected) throw err;
    throw Object.assign(new WireStatusError({ code: GrpcCode.UNKNOWN, message: w.message }), { cause: err });
  }
}

/**
 * One watcher on the hub, read as an async iterator: deliveries queue up until the recipe asks for them (they are
 * few and small: one key's changes). Ends with an error on compaction or abort; `return()` unregisters it.
 */
class HubSubscription implements AsyncIterator<WatchBatch> {
  private readonly queue: WatchBatch[] = [];
  private error: Error | undefined;
  private waiter: { resolve: (r: IteratorResult<WatchBatch>) => void; reject: (e: Error) => void } | undefined;
  private readonly watcher: HubWatcher;
  private readonly onAbort = (): void => this.fail(new CanceledError());

  constructor(
    private readonly s: EtcdServer,
    private readonly hub: WatchHub,
    req: { key: Uint8Array; rangeEnd?: Uint8Array; startRevision: bigint },
    private readonly signal: AbortSignal,
  ) {
    const self = this;
    this.watcher = {
      key: keyString(req.key),
      end: req.rangeEnd && req.rangeEnd.length > 0 ? (req.rangeEnd.length === 1 && req.rangeEnd[0] === 0 ? '' : keyString(req.rangeEnd)) : undefined,
      nextRev: req.startRevision > 0n ? req.startRevision : s.store.currentRev + 1n,
      noPut: false,
      noDelete: false,
      prevKv: false,
      deliver(batch, rev) {
        self.push({ header: header(self.s, rev), events: batch.events });
        return true;
      },
      compacted(compactRev) {
        self.fail(new CompactedError(compactRev));
      },
      canDeliver: () => true,
    };
    if (signal.aborted) {
      this.error = new CanceledError();
      return;
    }
    signal.addEventListener('abort', this.onAbort, { once: true });
    hub.add(this.watcher);
  }

  next(): Promise<IteratorResult<WatchBatch>> {
    const batch = this.queue.shift();
    if (batch) return Promise.resolve({ value: batch, done: false });
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<WatchBatch>> {
    this.stop();
    return Promise.resolve({ value: undefined, done: true });
  }

  private push(batch: WatchBatch): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve({ value: batch, done: false });
    } else {
      this.queue.push(batch);
    }
  }

  private fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.stop();
    const w = this.waiter;
    if (w && this.queue.length === 0) {
      this.waiter = undefined;
      w.reject(err);
    }
  }

  private stop(): void {
    this.hub.remove(this.watcher);
    this.signal.removeEventListener('abort', this.onAbort);
  }
}
