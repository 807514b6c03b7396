/**
 * The waiting step shared by locks and elections (etcd's `waitDeletes`, hardened): wait until no key under
 * `prefix` has a create revision below ours, watching only the immediate predecessor each time (no herd), and
 * checking in the same read that our own key still exists with our revision (so a lost session or a deleted key
 * ends the wait with `LockLostError` instead of a phantom success).
 */
import { type Client } from '../client.js';
import { abortErrorFor } from '../connection.js';
import { CompactedError, LatchkeyError, LockLostError } from '../errors.js';
import { Cmp, Op } from '../ops.js';

export interface QueueEntry {
  /** Our key (namespaced view of the client). */
  key: Uint8Array;
  /** Its create revision: our place in the queue. */
  revision: bigint;
}

/**
 * Resolves once `entry` is the first key under `prefix` (lowest create revision). Rejects with `LockLostError`
 * when `entry.key` disappears, and with the signal's reason when `signal` aborts.
 */
export async function waitForTurn(client: Client, prefix: Uint8Array, entry: QueueEntry, signal: AbortSignal): Promise<bigint> {
  for (;;) {
    if (signal.aborted) throw abortErrorFor(signal);
    const r = await client.rawTxn(
      [Cmp.createRevision(entry.key, '=', entry.revision)],
      [Op.get(prefix, { prefix: true, maxCreateRevision: entry.revision - 1n, sort: { target: 'create', order: 'descend' }, limit: 1, keysOnly: true })],
      [],
      { signal, idempotent: true },
    );
    if (!r.succeeded) throw new LockLostError('our queue key was deleted while waiting (session lost or key removed)');
    const first = r.responses[0];
    const pred = first?.type === 'range' ? first.kvs[0] : undefined;
    if (pred === undefined) return r.header.revision;
    await waitDeleted(client, pred.key, r.header.revision + 1n, signal);
  }
}

/** Resolves when `key` is deleted at a revision ≥ `fromRevision`. Compaction of that revision ends the wait too
 * (the caller re-reads the queue, so a spurious wake-up is harmless while a missed delete would hang). */
export async function waitDeleted(client: Client, key: Uint8Array, fromRevision: bigint, signal: AbortSignal): Promise<void> {
  const ac = new AbortController();
  const onAbort = (): void => ac.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const w = client.watch(key, { startRevision: fromRevision, noPut: true, signal: ac.signal });
  try {
    for await (const ev of w) {
      if (ev.type === 'delete') return;
    }
    if (signal.aborted) throw abortErrorFor(signal);
  } catch (err) {
    if (err instanceof CompactedError) return;
    if (signal.aborted) throw abortErrorFor(signal);
    if (err instanceof LatchkeyError) throw err;
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    w.cancel();
  }
}
