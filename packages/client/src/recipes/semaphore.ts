/**
 * A fair counting semaphore: at most `permits` holders at a time, granted in FIFO order, each permit bound to its
 * holder's session lease (a dead holder's permit frees itself after the TTL).
 *
 * Layout:
 *   <name>/limit                              the permit count, as decimal text (no lease)
 *   <name>/permits/<lease hex>-<random>       one per holder or waiter, bound to its session's lease
 *
 * Rule: order the permit keys by create revision; the first `permits` of them hold a permit, the rest wait.
 * Keys created before ours can only disappear, so a read that shows fewer than `permits` keys ahead of ours
 * proves we hold a permit from then until we delete our key or lose the lease — no txn can race it.
 *
 * Who watches what (no thundering herd). A waiter with `permits` keys ahead of it (the head of the queue) gets a
 * permit when *any* holder goes — no single key must go — so it alone watches the permit range for deletions.
 * A waiter further back cannot be served before the waiter right in front of it, and that one leaves the queue in
 * one of two ways: it withdraws (its key is deleted) or it gets a permit. So each other waiter watches only its
 * immediate predecessor, and a waiter that got its permit after waiting re-puts its own key once ("promoted"),
 * which wakes its successor, now the head. Each release therefore wakes one watcher (the head), each promotion
 * one (the new head). Worked example, 2 permits, keys in create-revision order:
 *
 *   h1 h2 | w3 w4 w5      h1, h2 hold; w3 (2 ahead) watches the range; w4 watches w3; w5 watches w4
 *   h1 releases           w3 wakes, reads 1 ahead: holds; re-puts its key → w4 wakes, reads 2 ahead: the head,
 *   h2 w3 | w4 w5         watches the range; w5 slept through both steps
 *   w4 times out          its key is deleted → w5 wakes, reads 2 ahead: the head, watches the range
 *
 * The limit is stored and compared in the registration txn, so processes that disagree on `permits` fail loudly
 * with `SemaphoreLimitError` instead of silently over-admitting (the limit can change only while no permit key
 * exists). A permit is a `LockHold`: `fencingToken` is its key's mod revision when it began (its create revision,
 * or the promotion's revision after a wait: unique per permit and increasing with the time it was granted),
 * `signal` aborts on possible loss, and `guard()`/`put()`/`txn()` write only while the permit is held. Note that with N concurrent holders a resource cannot simply reject "older" tokens; use guarded
 * writes, or track the set of live tokens.
 */
import { leaseHex, toBytes, toText } from '../bytes.js';
import { type Client } from '../client.js';
import { type CallOptions } from '../connection.js';
import { InvalidArgumentError, LockLostError } from '../errors.js';
import { Cmp, Op } from '../ops.js';
import { LockHold, type LockHolder } from './lock.js';
import { type Session } from './session.js';
import { nextEvent, recipeContext, recipeError, uniqueSuffix, type RecipeOptions } from './wait.js';

/** The semaphore exists with a different permit count (and is in use). */
export class SemaphoreLimitError extends InvalidArgumentError {
  override name = 'SemaphoreLimitError';
}

export interface SemaphoreStatus {
  name: string;
  /** The stored permit count, or undefined if none is stored. */
  limit: number | undefined;
  /** Permit keys that hold a permit (the first `limit` by create revision). */
  holders: LockHolder[];
  /** Permit keys waiting, in the order they will be served. */
  waiters: LockHolder[];
  revision: bigint;
}

export class Semaphore {
  private readonly limitKey: Uint8Array;
  private readonly permitsPrefix: string;

  constructor(
    private readonly client: Client,
    readonly name: string,
    /** How many holders at once. */
    readonly permits: number,
  ) {
    if (!Number.isInteger(permits) || permits < 1) throw new RangeError(`semaphore permits must be a positive integer, got ${permits}`);
    this.limitKey = toBytes(`${name}/limit`);
    this.permitsPrefix = `${name}/permits/`;
  }

  /**
   * Waits for a permit (FIFO). Rejects with the abort reason / `DeadlineExceededError` on `signal`/`timeoutMs`
   * (our key is removed first), `LockLostError`/`SessionExpiredError` when the session ends while waiting,
   * `SemaphoreLimitError` when the stored permit count differs.
   */
  async acquire(options: RecipeOptions = {}): Promise<LockHold> {
    return (await this.take(options, false))!;
  }

  /** A permit if one is free right now (nobody queued ahead); otherwise undefined, leaving no key behind. */
  async tryAcquire(options: RecipeOptions = {}): Promise<LockHold | undefined> {
    return this.take(options, true);
  }

  /** Runs `fn` while holding a permit (use `permit.signal` to stop work on loss); releases it afterwards. */
  async withPermit<T>(fn: (permit: LockHold) => Promise<T> | T, options: RecipeOptions = {}): Promise<T> {
    const permit = await this.acquire(options);
    try {
      return await fn(permit);
    } finally {
      await permit.release().catch(() => undefined);
    }
  }

  async status(options: CallOptions = {}): Promise<SemaphoreStatus> {
    const r = await this.client.rawTxn(
      [],
      [Op.get(this.limitKey), Op.get(this.permitsPrefix, { prefix: true, keysOnly: true, sort: { target: 'create', order: 'ascend' } })],
      [],
      { ...options, idempotent: true },
    );
    const [limitR, permitsR] = r.responses;
    const limitKv = limitR?.type === 'range' ? limitR.kvs[0] : undefined;
    const limit = limitKv === undefined ? undefined : Number(toText(limitKv.value));
    const kvs = permitsR?.type === 'range' ? permitsR.kvs : [];
    const ttls = new Map<bigint, bigint>();
    await Promise.all([...new Set(kvs.map((kv) => kv.lease))].map(async (id) => ttls.set(id, (await this.client.leases.timeToLive(id, options)).ttl)));
    const all = kvs.map((kv) => ({ key: toText(kv.key), lease: kv.lease, revision: kv.modRevision, ttl: ttls.get(kv.lease) ?? -1n }));
    const n = limit ?? this.permits;
    return { name: this.name, limit, holders: all.slice(0, n), waiters: all.slice(n), revision: r.header.revision };
  }

  private async take(options: RecipeOptions, tryOnly: boolean): Promise<LockHold | undefined> {
    const { session, signal } = await recipeContext(this.client, options);
    const key = toBytes(`${this.permitsPrefix}${leaseHex(session.leaseId)}-${uniqueSuffix()}`);
    let rev = 0n;
    try {
      rev = await this.register(key, session, signal);
      let waited = false;
      for (;;) {
        const { ahead, revision } = await this.position(key, rev, signal);
        if (ahead.length < this.permits) break;
        if (tryOnly) {
          await this.withdraw(key, rev);
          return undefined;
        }
        waited = true;
        const from = revision + 1n;
        const own = { key, options: { startRevision: from, noPut: true } }; // our own key going: fail fast
        await nextEvent(
          this.client,
          ahead.length === this.permits
            ? // Head of the queue: any holder's departure may be ours to take (the range includes our key).
              [{ key: this.permitsPrefix, options: { prefix: true, noPut: true, startRevision: from } }]
            : // Our predecessor withdraws (delete) or is promoted (put): either way we look again.
              [{ key: ahead[0]!, options: { startRevision: from } }, own],
          signal,
        );
      }
      const token = waited ? await this.promote(key, rev, session, signal) : rev;
      return new LockHold(this.client, this.name, key, token, session, (h) => this.release(h));
    } catch (err) {
      if (rev > 0n) await this.withdraw(key, rev).catch(() => undefined);
      throw recipeError(err, session, signal);
    }
  }

  /** Creates our permit key while the stored limit equals ours (storing it first if absent or unused). */
  private async register(key: Uint8Array, session: Session, signal: AbortSignal): Promise<bigint> {
    const wanted = String(this.permits);
    for (;;) {
      const r = await this.client.rawTxn(
        [Cmp.value(this.limitKey, '=', wanted), Cmp.absent(key)],
        [Op.put(key, '', { lease: session.leaseId })],
        [Op.get(this.limitKey), Op.get(key, { keysOnly: true }), Op.get(this.permitsPrefix, { prefix: true, countOnly: true })],
        { signal, idempotent: true },
      );
      if (r.succeeded) return r.header.revision;
      const [limitR, ownR, countR] = r.responses;
      const mine = ownR?.type === 'range' ? ownR.kvs[0] : undefined;
      if (mine !== undefined) return mine.createRevision; // an earlier attempt of ours committed
      const limitKv = limitR?.type === 'range' ? limitR.kvs[0] : undefined;
      const inUse = countR?.type === 'range' && countR.count > 0n;
      if (limitKv !== undefined && toText(limitKv.value) !== wanted && inUse) {
        throw new SemaphoreLimitError(`semaphore ${this.name} has ${toText(limitKv.value)} permits, not ${wanted}`);
      }
      // Absent, or different but unused: store ours if nothing changed meanwhile, then register again.
      await this.client.rawTxn(
        [Cmp.modRevision(this.limitKey, '=', limitKv?.modRevision ?? 0n), ...(limitKv ? [Cmp.createRevision(this.permitsPrefix, '=', 0n, { prefix: true })] : [])],
        [Op.put(this.limitKey, wanted)],
        [],
        { signal, idempotent: true },
      );
    }
  }

  /** Up to `permits + 1` keys ahead of ours, closest first. Rejects with `LockLostError` if our key is gone. */
  private async position(key: Uint8Array, rev: bigint, signal: AbortSignal): Promise<{ ahead: Uint8Array[]; revision: bigint }> {
    const r = await this.client.rawTxn(
      [Cmp.createRevision(key, '=', rev)],
      [Op.get(this.permitsPrefix, { prefix: true, keysOnly: true, maxCreateRevision: rev - 1n, sort: { target: 'create', order: 'descend' }, limit: this.permits + 1 })],
      [],
      { signal, idempotent: true },
    );
    if (!r.succeeded) throw new LockLostError(`our permit key ${toText(key)} vanished while waiting (session lost or key removed)`);
    const got = r.responses[0];
    return { ahead: got?.type === 'range' ? got.kvs.map((kv) => kv.key) : [], revision: r.header.revision };
  }

  /** Re-puts our key so the waiter behind us learns it is now the head; its revision is the fencing token. */
  private async promote(key: Uint8Array, rev: bigint, session: Session, signal: AbortSignal): Promise<bigint> {
    const r = await this.client.rawTxn([Cmp.createRevision(key, '=', rev)], [Op.put(key, 'held', { lease: session.leaseId })], [], { signal, idempotent: true });
    if (!r.succeeded) throw new LockLostError(`our permit key ${toText(key)} vanished while being granted`);
    return r.header.revision;
  }

  private async release(h: LockHold): Promise<void> {
    await this.client.rawTxn([h.condition], [Op.delete(h.keyBytes)], [], { timeoutMs: 10_000, idempotent: true });
  }

  private async withdraw(key: Uint8Array, rev: bigint): Promise<void> {
    await this.client.rawTxn([Cmp.createRevision(key, '=', rev)], [Op.delete(key)], [], { timeoutMs: 5_000, idempotent: true });
  }
}
