/**
 * Several locks held as one (Curator's `InterProcessMultiLock`): `client.lock.acquireAll(['/a', '/b'])` resolves
 * once every named lock is held, each by the fair algorithm of `lock.ts`.
 *
 * Contract:
 * - Names are taken in one global order (their bytes, ascending), whatever order the caller lists them in, so
 *   two callers wanting overlapping sets never wait on each other in a cycle: no deadlock between multi-locks.
 * - All or nothing: if any acquisition fails, aborts or times out, the locks already taken are released before
 *   the call rejects. No key is left behind.
 * - The hold's `signal` aborts as soon as any of the locks may be lost; `condition` checks every lock's
 *   fencing token, so `guard()` commits only while all are still held.
 * - `release()` releases every lock (in the reverse order), and is idempotent.
 */
import { type TxnResult } from '../client.js';
import { abortErrorFor, deriveSignal } from '../connection.js';
import { LockLostError } from '../errors.js';
import { type Condition, type Operation } from '../ops.js';
import { type AcquireOptions, type LockApi, type LockHold } from './lock.js';

/** The locks of one `acquireAll`, held together. */
export class MultiLockHold {
  private releasing: Promise<void> | undefined;
  private controller: AbortController | undefined;

  /** @internal */
  constructor(
    /** The holds, in acquisition (byte) order of their names. */
    readonly holds: readonly LockHold[],
  ) {}

  /** The lock names, in acquisition order. */
  get names(): string[] {
    return this.holds.map((h) => h.name);
  }

  /** Each lock's fencing token, by name. */
  get fencingTokens(): Map<string, bigint> {
    return new Map(this.holds.map((h) => [h.name, h.fencingToken]));
  }

  /** Aborts as soon as any of the locks may be lost (or when released); the reason is that lock's. */
  get signal(): AbortSignal {
    if (!this.controller) {
      const ac = new AbortController();
      this.controller = ac;
      for (const h of this.holds) {
        const s = h.signal;
        if (s.aborted) ac.abort(s.reason);
        else s.addEventListener('abort', () => ac.abort(s.reason), { once: true, signal: ac.signal });
      }
    }
    return this.controller.signal;
  }

  /** Every lock's ownership condition. */
  get conditions(): Condition[] {
    return this.holds.map((h) => h.condition);
  }

  /** Runs `ops` in one txn that commits only while every lock is held; rejects with `LockLostError` otherwise. */
  async guard(ops: Operation[]): Promise<TxnResult> {
    const first = this.holds[0];
    if (!first) throw new LockLostError('no locks held');
    const r = await first.clientRef.rawTxn(this.conditions, ops, []);
    if (!r.succeeded) throw new LockLostError(`locks ${this.names.join(', ')} are no longer all held`);
    return r;
  }

  /** Releases every lock (last taken first). Idempotent. */
  release(): Promise<void> {
    this.releasing ??= releaseAll(this.holds);
    return this.releasing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/** Releases `holds` last first; every release is attempted, the first failure is reported after. */
async function releaseAll(holds: readonly LockHold[]): Promise<void> {
  let failure: unknown;
  for (const h of [...holds].reverse()) {
    try {
      await h.release();
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** `LockApi.acquireAll`: see the module contract. */
export async function acquireAll(api: LockApi, names: readonly string[], options: AcquireOptions = {}): Promise<MultiLockHold> {
  const ordered = [...new Set(names)].sort(byBytes);
  if (ordered.length === 0) throw new RangeError('acquireAll needs at least one lock name');
  // One deadline for the whole set, not one per lock.
  const signal = deriveSignal(options.signal, options.timeoutMs);
  const { timeoutMs: _, ...rest } = options;
  const each: AcquireOptions = signal ? { ...rest, signal } : rest;
  const held: LockHold[] = [];
  try {
    for (const name of ordered) {
      if (signal?.aborted) throw abortErrorFor(signal);
      held.push(await api.acquire(name, each));
    }
    return new MultiLockHold(held);
  } catch (err) {
    await releaseAll(held).catch(() => undefined);
    throw err;
  }
}
