import { Compare_CompareResult as Result, Compare_CompareTarget as Target, type ResponseHeader } from '@latchkey/proto';
import { RecipeError } from './errors.js';
import type { RecipeKV } from './port.js';
import { firstCreated, ownKey, queuePrefix, sessionLease, waitDeletes } from './wait.js';

export interface HeldLock {
  /** Header of the request that proved ownership (the acquiring txn, or the read after waiting). */
  readonly header: ResponseHeader;
  /** `<name>/<lease hex>`: exists exactly as long as the lock is held; usable in the caller's compares. */
  readonly key: Uint8Array;
}

/**
 * etcd's mutex (server-side `v3lock.Lock`): joins the queue under `<name>/` with the key `<name>/<lease hex>`
 * (reusing it if this lease already queued), then waits until it has the lowest create revision.
 *
 * - One txn: if our key does not exist, create it with the lease; either way read the current owner. If the
 *   owner is us, done (one round trip when uncontended).
 * - Otherwise wait for every older key to go (`waitDeletes`), then check that our own key survived the wait: if
 *   its lease expired meanwhile, fail with `SessionExpired` rather than report a lock nobody holds.
 * - If the wait fails or `signal` aborts, our key is deleted so that the queue does not stall behind it.
 */
export async function lock(kv: RecipeKV, name: Uint8Array, lease: bigint, signal: AbortSignal): Promise<HeldLock> {
  const id = await sessionLease(kv, lease);
  const prefix = queuePrefix(name);
  const key = ownKey(prefix, id);
  const owner = firstCreated(prefix);
  const resp = await kv.txn({
    compare: [{ key, target: Target.CREATE, result: Result.EQUAL, createRevision: 0n }],
    success: [{ requestPut: { key, lease: id } }, { requestRange: owner }],
    failure: [{ requestRange: { key } }, { requestRange: owner }],
  });
  const myRev = resp.succeeded ? resp.header!.revision : resp.responses[0]!.responseRange!.kvs[0]!.createRevision;
  const first = resp.responses[1]!.responseRange!.kvs[0];
  if (!first || first.createRevision === myRev) return { header: resp.header!, key };
  try {
    await waitDeletes(kv, prefix, myRev - 1n, signal);
    const mine = await kv.range({ key });
    if (mine.kvs.length === 0) throw new RecipeError('SessionExpired');
    return { header: mine.header!, key };
  } catch (err) {
    if (!(err instanceof RecipeError && err.kind === 'SessionExpired')) {
      // Leave the queue: a waiter that gave up must not hold up those behind it.
      await kv.deleteRange({ key }).catch(() => undefined);
    }
    throw err;
  }
}

/** Releases a lock: deletes its key (no ownership check, as etcd's Unlock). */
export async function unlock(kv: RecipeKV, key: Uint8Array): Promise<ResponseHeader> {
  return (await kv.deleteRange({ key })).header!;
}
