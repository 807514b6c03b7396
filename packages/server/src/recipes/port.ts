import type {
  DeleteRangeRequest,
  DeleteRangeResponse,
  Event,
  Init,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
  TxnRequest,
  TxnResponse,
} from '@latchkey/proto';

/**
 * What the lock and election recipes need from the server, declared here by the consumer (the API layer binds it
 * to the member's request facade, the watch hub and the caller's identity; see api/grpc/recipe-kv.ts).
 *
 * Every call is made on behalf of one caller, with that caller's permissions: a recipe never does more than the
 * caller could do with KV, Lease and Watch requests of its own. Reads are linearizable.
 */
export interface RecipeKV {
  range(req: Init<RangeRequest>): Promise<RangeResponse>;
  txn(req: Init<TxnRequest>): Promise<TxnResponse>;
  deleteRange(req: Init<DeleteRangeRequest>): Promise<DeleteRangeResponse>;
  /** Grants a lease with this TTL (seconds) and a server-chosen id; resolves with the id. */
  leaseGrant(ttl: bigint): Promise<bigint>;
  /**
   * Watches [key, rangeEnd) (the single key when rangeEnd is absent) from `startRevision` on, inclusive. Each
   * batch holds the events of one or more whole revisions, in revision order, with the header they were sent
   * under. The iteration throws `CompactedError` if `startRevision` was compacted, and `CanceledError` when
   * `signal` aborts; leaving the loop (break/return) stops the watch.
   */
  watch(req: { key: Uint8Array; rangeEnd?: Uint8Array; startRevision: bigint }, signal: AbortSignal): AsyncIterable<WatchBatch>;
}

export interface WatchBatch {
  readonly header: ResponseHeader;
  readonly events: readonly Event[];
}
