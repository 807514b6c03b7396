import {
  Event_EventType,
  RangeRequest_SortOrder as SortOrder,
  RangeRequest_SortTarget as SortTarget,
  type Init,
  type RangeRequest,
  type ResponseHeader,
} from '@latchkey/proto';
import { prefixEnd } from '../mvcc/keys.js';
import { CanceledError } from '../node/errors.js';
import { RecipeError } from './errors.js';
import type { RecipeKV } from './port.js';

/**
 * The waiting half of etcd's lock and election recipes, shared by both. Waiters form a queue ordered by the
 * create revision of their keys under one prefix; each waits for the deletion of its predecessor only (the key
 * with the greatest create revision below its own), so a release wakes exactly one waiter.
 *
 * Worked example, prefix `L/`, keys created at revisions 5 (holder), 7 and 9:
 *   waiter 9 reads "last created under L/ with create_revision <= 8" → L/…7, and watches L/…7 from the read's
 *   revision; when 7 is deleted (or its lease expires) it reads again → L/…5, watches it; when 5 goes, the read
 *   finds nothing: 9 is first. Had 5 gone before 7, waiter 9 would still be watching 7 only; waiter 7 is woken.
 */

/** The oldest key under `prefix` (etcd's `WithFirstCreate`): the lock holder or the election leader. */
export function firstCreated(prefix: Uint8Array): Init<RangeRequest> {
  return { key: prefix, rangeEnd: prefixEnd(prefix), sortTarget: SortTarget.CREATE, sortOrder: SortOrder.ASCEND, limit: 1n };
}

/** The newest key under `prefix` created at or before `maxCreateRevision` (etcd's `WithLastCreate` + `WithMaxCreateRev`). */
export function lastCreatedUpTo(prefix: Uint8Array, maxCreateRevision: bigint): Init<RangeRequest> {
  return { key: prefix, rangeEnd: prefixEnd(prefix), sortTarget: SortTarget.CREATE, sortOrder: SortOrder.DESCEND, limit: 1n, maxCreateRevision };
}

/**
 * Waits until no key under `prefix` has a create revision <= `maxCreateRevision`; resolves with the header of the
 * read that found none. Throws `CanceledError` when `signal` aborts, and the read's or watch's error otherwise.
 */
export async function waitDeletes(kv: RecipeKV, prefix: Uint8Array, maxCreateRevision: bigint, signal: AbortSignal): Promise<ResponseHeader> {
  for (;;) {
    throwIfAborted(signal);
    const resp = await kv.range(lastCreatedUpTo(prefix, maxCreateRevision));
    throwIfAborted(signal);
    const predecessor = resp.kvs[0];
    if (!predecessor) return resp.header!;
    await waitDelete(kv, predecessor.key, resp.header!.revision, signal);
  }
}

/** Waits for a DELETE of `key` at or after revision `from` (the revision it was last read at: nothing is missed). */
async function waitDelete(kv: RecipeKV, key: Uint8Array, from: bigint, signal: AbortSignal): Promise<void> {
  for await (const batch of kv.watch({ key, startRevision: from }, signal)) {
    if (batch.events.some((e) => e.type === Event_EventType.DELETE)) return;
  }
  throw new RecipeError('LostWatcher');
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new CanceledError();
}

/** `prefix` + lowercase hex of the lease id, no padding: etcd's `fmt.Sprintf("%s%x", prefix, lease)`. */
export function ownKey(prefix: Uint8Array, lease: bigint): Uint8Array {
  const hex = lease < 0n ? `-${(-lease).toString(16)}` : lease.toString(16);
  return Buffer.concat([prefix, Buffer.from(hex, 'latin1')]);
}

/** `<name>/`: the prefix under which a lock's waiters or an election's candidates keep their keys. */
export function queuePrefix(name: Uint8Array): Uint8Array {
  return Buffer.concat([name, Buffer.from('/')]);
}

/** TTL of the lease granted when a request names lease 0 (etcd's default session TTL), in seconds. */
export const SESSION_TTL = 60n;

/**
 * The lease a request works under. etcd's services build a client session on the request's lease; lease 0 makes
 * the session grant a fresh 60 s lease, which nobody keeps alive (so what is created under it lasts ~60 s).
 */
export async function sessionLease(kv: RecipeKV, lease: bigint): Promise<bigint> {
  return lease === 0n ? kv.leaseGrant(SESSION_TTL) : lease;
}
