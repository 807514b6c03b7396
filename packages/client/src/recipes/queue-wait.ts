/**
 * The waiting step shared by locks and elections (etcd's `waitDeletes`, hardened): wait until no key under
 * `prefix` has a create revision below ours, watching only the immediate predecessor each time (no herd), and
 * checking in the same read that our own key still exists with our revision (so a lost session or a deleted key
 * ends the wait with `LockLostError` instead of a phantom success). Our own key is watched too, so its deletion
 * ends the wait at once rather than when our turn would have come.
 */
import { type Client } from '../client.js';
import { abortErrorFor } from '../connection.js';
import { LockLostError } from '../errors.js';
import { Cmp, Op } from '../ops.js';
import { nextEvent } from './wait.js';

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
  // Keys created before ours can only disappear, never appear, so "no key below ours and ours present" read at
  // any revision ≥ the last change we waited for stays true: a serializable read (served by the member without
  // a quorum round) suffices when its revision is recent enough; otherwise the read is repeated linearizably.
  let minRevision = entry.revision;
  let serializable = true;
  for (;;) {
    if (signal.aborted) throw abortErrorFor(signal);
    const r = await client.rawTxn(
      [Cmp.createRevision(entry.key, '=', entry.revision)],
      [
        Op.get(prefix, {
          prefix: true,
          maxCreateRevision: entry.revision - 1n,
          sort: { target: 'create', order: 'descend' },
          limit: 1,
          keysOnly: true,
          serializable,
        }),
      ],
      [],
      { signal, idempotent: true },
    );
    if (r.header.revision < minRevision) {
      serializable = false; // this member lags behind what we already know: ask the quorum
      continue;
    }
    if (!r.succeeded) throw new LockLostError('our queue key was deleted while waiting (session lost or key removed)');
    const first = r.responses[0];
    const pred = first?.type === 'range' ? first.kvs[0] : undefined;
    if (pred === undefined) return r.header.revision;
    // The predecessor's deletion, or our own (session lost, key removed: fail fast instead of at our turn).
    const ev = await nextEvent(
      client,
      [
        { key: pred.key, options: { startRevision: r.header.revision + 1n, noPut: true } },
        { key: entry.key, options: { startRevision: r.header.revision + 1n, noPut: true } },
      ],
      signal,
    );
    if (ev === undefined) serializable = false;
    else {
      minRevision = ev.revision;
      serializable = true;
    }
  }
}
