/**
 * A barrier (etcd's `recipes.Barrier`): while the key `<name>` exists, `wait()` blocks; deleting it releases every
 * waiter at once (one delete, one event per waiter).
 *
 *   hold()    creates `<name>` bound to the holder's session lease (create-if-absent, so retries are safe) and
 *             returns a hold; another holder's existing key makes it reject with `BarrierHeldError`;
 *   release() deletes the key if it is still the one this hold created;
 *   wait()    resolves once `<name>` does not exist: at once when absent, else on the delete event for exactly
 *             that key (not a prefix: etcd's #16156) watched from the revision of the read that saw it.
 *
 * Beyond etcd: the key is lease-bound, so a holder that dies opens the barrier after its TTL instead of closing it
 * forever (liveness over safety — a waiter cannot tell "released" from "holder died"; check the hold's work
 * yourself if that matters); a compacted or broken watch re-reads instead of reporting success; every wait takes
 * an AbortSignal/timeout.
 */
import { toBytes, toText } from '../bytes.js';
import { type Client } from '../client.js';
import { abortErrorFor, deriveSignal, type CallOptions } from '../connection.js';
import { LockedError } from '../errors.js';
import { Cmp, Op } from '../ops.js';
import { LockHold } from './lock.js';
import { forever, nextEvent, recipeContext, recipeError, type RecipeOptions } from './wait.js';

/** `hold()` found the barrier held by another session. */
export class BarrierHeldError extends LockedError {
  override name = 'BarrierHeldError';
}

export class Barrier {
  readonly key: Uint8Array;

  constructor(
    private readonly client: Client,
    readonly name: string,
  ) {
    this.key = toBytes(name);
  }

  /**
   * Closes the barrier: creates its key on the session's lease. The hold's `fencingToken` is the key's create
   * revision; `release()` (or `await using`) opens the barrier again. Holding twice on one session returns a
   * second handle on the same key.
   */
  async hold(options: RecipeOptions = {}): Promise<LockHold> {
    const { session, signal } = await recipeContext(this.client, options);
    try {
      const r = await this.client.rawTxn([Cmp.absent(this.key)], [Op.put(this.key, '', { lease: session.leaseId })], [Op.get(this.key)], {
        signal,
        idempotent: true,
      });
      let rev = r.header.revision;
      if (!r.succeeded) {
        const got = r.responses[0];
        const kv = got?.type === 'range' ? got.kvs[0] : undefined;
        if (kv === undefined || kv.lease !== session.leaseId) {
          throw new BarrierHeldError(`barrier ${this.name} is already held${kv ? ` (lease ${kv.lease.toString(16)})` : ''}`);
        }
        rev = kv.modRevision;
      }
      return new LockHold(this.client, this.name, this.key, rev, session, (h) => this.releaseHold(h));
    } catch (err) {
      throw recipeError(err, session, signal);
    }
  }

  /** Resolves once the barrier is open (its key absent). Rejects on `signal`/`timeoutMs`. */
  async wait(options: CallOptions = {}): Promise<void> {
    const signal = deriveSignal(options.signal, options.timeoutMs) ?? forever();
    try {
      for (;;) {
        const r = await this.client.range(this.key, { signal });
        if (r.kvs.length === 0) return;
        const ev = await nextEvent(this.client, [{ key: this.key, options: { startRevision: r.header.revision + 1n, noPut: true } }], signal);
        if (ev !== undefined) return;
        // The watch ended without the delete (compaction, cancel): read again.
      }
    } catch (err) {
      if (signal.aborted) throw abortErrorFor(signal);
      throw err;
    }
  }

  /** True while the barrier key exists (a linearizable read). */
  async isHeld(options: CallOptions = {}): Promise<boolean> {
    return (await this.client.get(this.key, { ...options, keysOnly: true })) !== undefined;
  }

  private async releaseHold(h: LockHold): Promise<void> {
    await this.client.rawTxn([h.condition], [Op.delete(this.key)], [], { timeoutMs: 10_000, idempotent: true });
  }

  toString(): string {
    return `Barrier(${toText(this.key)})`;
  }
}
