/**
 * A work queue with at-least-once delivery and explicit ack: an item taken by a consumer stays in etcd, claimed
 * by the consumer's session lease, until the consumer acks it; if the consumer dies (or releases it) first, the
 * claim vanishes with the lease and the item is delivered again.
 *
 * Layout:
 *   <name>/items/<pp>/<id>      available items (no lease); pp = 255 − priority as two hex digits, id random
 *   <name>/inflight/<pp>/<id>   taken items (no lease); the key's version counts deliveries
 *   <name>/claims/<id>          the claim on an in-flight item, bound to the consumer's session lease
 *   <name>/waiters/<lease>-<r>  consumers blocked on an empty queue, in FIFO order (lease-bound)
 *
 * An in-flight item without a claim is *orphaned* (its consumer died or released it); orphans are delivered
 * before fresh items. Taking is one txn guarded on the item's mod revision: a fresh item moves from `items/` to
 * `inflight/` and gains a claim; an orphan gains a claim and bumps its version. Acking is one txn guarded on the
 * claim's create revision that deletes the in-flight item and the claim — and may carry the consumer's own writes.
 *
 * Guarantees (every enqueue that was acknowledged):
 *  - the item is delivered until a consumer acks it while its claim is still valid, and is then removed exactly
 *    once: an ack from a consumer whose claim was lost fails with `LockLostError`, never deletes the item twice;
 *  - while a claim is valid no other consumer is given the item; the claim ends with the consumer's session, and
 *    `delivery.signal` aborts before the server could expire it (as for locks, a paused consumer may still act
 *    after that: use the claim's `fencingToken`, or put your results in the ack txn);
 *  - `ack({ ops })` commits the consumer's writes to etcd together with the ack: exactly-once effects in etcd;
 *    effects elsewhere happen at least once (a consumer that dies after its side effect and before its ack is
 *    redelivered, with `attempt` + 1);
 *  - order: higher priority first; within a priority, FIFO by enqueue (create revision); orphans first.
 *  - enqueue is a create-if-absent of a client-chosen key, retried after ambiguous failures; if the first attempt
 *    had committed *and* been consumed before the retry, the item is enqueued twice (at-least-once again).
 * Blocked consumers queue: only the first of them watches the queue (puts of items, deletions of claims); the
 * others wait for their predecessor's waiter key to go (it goes in the same txn that takes an item), so one
 * enqueue wakes one consumer.
 */
import { randomBytes } from 'node:crypto';
import { type KeyValue } from '@latchkey/proto';
import { type Bytes, leaseHex, toBytes, toText } from '../bytes.js';
import { type Client, type TxnResult } from '../client.js';
import { type CallOptions } from '../connection.js';
import { LockLostError } from '../errors.js';
import { Cmp, Op, type Operation } from '../ops.js';
import { LockHold } from './lock.js';
import { waitForTurn } from './queue-wait.js';
import { type Session } from './session.js';
import { nextEvent, recipeContext, recipeError, uniqueSuffix, type RecipeOptions } from './wait.js';

export interface EnqueueOptions extends CallOptions {
  /** 0–255, higher is delivered first (default 0). */
  priority?: number;
}

export interface QueueStats {
  /** Items waiting to be taken. */
  available: bigint;
  /** Items taken and not yet acked (claimed or orphaned). */
  inflight: number;
  /** In-flight items whose claim is gone; they are delivered next. */
  orphaned: number;
  /** Consumers blocked on an empty queue. */
  waitingConsumers: bigint;
  revision: bigint;
}

/** A taken item. Ack it when done (`ack()`), or give it back (`release()`, also what `await using` does). */
export class Delivery {
  private acked = false;

  /** @internal */
  constructor(
    readonly id: string,
    readonly value: Uint8Array,
    readonly priority: number,
    /** 1 for the first delivery, 2 after one consumer died or released it, … */
    readonly attempt: number,
    private readonly inflightKey: Uint8Array,
    private readonly claim: LockHold,
  ) {}

  get text(): string {
    return toText(this.value);
  }

  /** The claim's create revision: strictly increasing over the deliveries of the queue. */
  get fencingToken(): bigint {
    return this.claim.fencingToken;
  }

  /** Aborts when the claim may be lost (session suspect/ended, claim deleted) or after ack/release. */
  get signal(): AbortSignal {
    return this.claim.signal;
  }

  /**
   * Removes the item for good, together with `ops` (the consumer's writes) in one txn that commits only while our
   * claim is valid. Rejects with `LockLostError` if the claim was lost (the item is or was redelivered).
   */
  async ack(options: CallOptions & { ops?: Operation[] } = {}): Promise<TxnResult> {
    let r: TxnResult;
    try {
      r = await this.claim.guard([Op.delete(this.inflightKey), Op.delete(this.claim.keyBytes), ...(options.ops ?? [])], options);
    } catch (err) {
      if (err instanceof LockLostError) throw new LockLostError(`queue item ${this.id}: our claim is gone (the item is or was delivered again)`, { cause: err });
      throw err;
    }
    this.acked = true;
    await this.claim.release();
    return r;
  }

  /** Gives the item back (it is delivered next, with `attempt` + 1). Idempotent; a no-op after `ack()`. */
  async release(): Promise<void> {
    await this.claim.release();
  }

  get done(): boolean {
    return this.acked || this.claim.released;
  }

  /** @internal */
  get isAcked(): boolean {
    return this.acked;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

interface Candidate {
  kv: KeyValue;
  orphan: boolean;
}

export class Queue {
  private readonly items: string;
  private readonly inflight: string;
  private readonly claims: string;
  private readonly waiters: string;

  constructor(
    private readonly client: Client,
    readonly name: string,
  ) {
    this.items = `${name}/items/`;
    this.inflight = `${name}/inflight/`;
    this.claims = `${name}/claims/`;
    this.waiters = `${name}/waiters/`;
  }

  /** Adds an item; resolves with its id and the revision it was written at. */
  async enqueue(value: Bytes, options: EnqueueOptions = {}): Promise<{ id: string; revision: bigint }> {
    const priority = options.priority ?? 0;
    if (!Number.isInteger(priority) || priority < 0 || priority > 255) throw new RangeError(`queue priority must be an integer in 0..255, got ${priority}`);
    const id = randomBytes(8).toString('hex');
    const key = `${this.items}${(255 - priority).toString(16).padStart(2, '0')}/${id}`;
    // Create-if-absent on a key chosen here: a retry after an ambiguous failure adds no second copy while the
    // first is still queued (see the module contract for the remaining case).
    const r = await this.client.rawTxn([Cmp.absent(key)], [Op.put(key, value)], [], { ...options, idempotent: true });
    return { id, revision: r.header.revision };
  }

  /**
   * Takes the next item, waiting while the queue is empty. Rejects on `signal`/`timeoutMs` or session loss. The
   * claim lives on the session (default: the client's shared session for `ttl`).
   */
  async dequeue(options: RecipeOptions = {}): Promise<Delivery> {
    return (await this.take(options, true))!;
  }

  /** Takes the next item if there is one right now, else undefined. */
  async tryDequeue(options: RecipeOptions = {}): Promise<Delivery | undefined> {
    return this.take(options, false);
  }

  /** Deliveries one after the other until `signal` aborts (iteration then ends normally). Ack each one. */
  async *deliveries(options: RecipeOptions = {}): AsyncGenerator<Delivery, void, undefined> {
    const signal = options.signal;
    while (!signal?.aborted) {
      let d: Delivery;
      try {
        d = await this.dequeue(options);
      } catch (err) {
        if (signal?.aborted) return;
        throw err;
      }
      yield d;
    }
  }

  async stats(options: CallOptions = {}): Promise<QueueStats> {
    const r = await this.client.rawTxn(
      [],
      [
        Op.get(this.items, { prefix: true, countOnly: true }),
        Op.get(this.inflight, { prefix: true, keysOnly: true }),
        Op.get(this.claims, { prefix: true, keysOnly: true }),
        Op.get(this.waiters, { prefix: true, countOnly: true }),
      ],
      [],
      { ...options, idempotent: true },
    );
    const [items, inflight, claims, waiters] = r.responses.map((x) => (x.type === 'range' ? x : undefined));
    const claimed = new Set((claims?.kvs ?? []).map((kv) => lastSegment(kv.key)));
    const inflightKvs = inflight?.kvs ?? [];
    return {
      available: items?.count ?? 0n,
      inflight: inflightKvs.length,
      orphaned: inflightKvs.filter((kv) => !claimed.has(lastSegment(kv.key))).length,
      waitingConsumers: waiters?.count ?? 0n,
      revision: r.header.revision,
    };
  }

  private async take(options: RecipeOptions, wait: boolean): Promise<Delivery | undefined> {
    const { session, signal } = await recipeContext(this.client, options);
    try {
      const first = await this.claimNext(session, signal, undefined);
      if (first instanceof Delivery || !wait) return first instanceof Delivery ? first : undefined;
      return await this.waitAndClaim(session, signal);
    } catch (err) {
      throw recipeError(err, session, signal);
    }
  }

  /** Joins the consumers' FIFO; as its head, watches the queue until an item can be claimed. */
  private async waitAndClaim(session: Session, signal: AbortSignal): Promise<Delivery> {
    const key = toBytes(`${this.waiters}${leaseHex(session.leaseId)}-${uniqueSuffix()}`);
    const reg = await this.client.rawTxn([Cmp.absent(key)], [Op.put(key, '', { lease: session.leaseId })], [Op.get(key, { keysOnly: true })], { signal, idempotent: true });
    const own = reg.responses[0];
    const rev = reg.succeeded ? reg.header.revision : ((own?.type === 'range' ? own.kvs[0]?.createRevision : undefined) ?? 0n);
    let claimed = false;
    try {
      await waitForTurn(this.client, toBytes(this.waiters), { key, revision: rev }, signal);
      for (;;) {
        const got = await this.claimNext(session, signal, { key, rev });
        if (got instanceof Delivery) {
          claimed = true;
          return got;
        }
        await nextEvent(
          this.client,
          [
            { key: this.items, options: { prefix: true, noDelete: true, startRevision: got.revision + 1n } },
            { key: this.claims, options: { prefix: true, noPut: true, startRevision: got.revision + 1n } },
            { key, options: { noPut: true, startRevision: got.revision + 1n } }, // our waiter key going: session lost
          ],
          signal,
        );
      }
    } finally {
      if (!claimed) {
        await this.client.rawTxn([Cmp.createRevision(key, '=', rev)], [Op.delete(key)], [], { timeoutMs: 5_000, idempotent: true }).catch(() => undefined);
      }
    }
  }

  /**
   * Claims the next item (orphans first, then the best priority, FIFO within it). Returns the delivery, or the
   * revision at which nothing was available. `waiter` (our waiter key) is deleted in the claiming txn.
   */
  private async claimNext(session: Session, signal: AbortSignal, waiter: { key: Uint8Array; rev: bigint } | undefined): Promise<Delivery | { revision: bigint }> {
    const dropWaiter = waiter ? [Op.txn([Cmp.createRevision(waiter.key, '=', waiter.rev)], [Op.delete(waiter.key)])] : [];
    for (;;) {
      const c = await this.next(signal);
      if ('revision' in c) return c;
      const id = lastSegment(c.kv.key);
      const pp = toText(c.kv.key).split('/').at(-2) ?? 'ff';
      const inflightKey = toBytes(`${this.inflight}${pp}/${id}`);
      const claimKey = toBytes(`${this.claims}${id}`);
      // The claim names us uniquely, so a retry after an ambiguous failure can tell that its first attempt won.
      const mark = `${leaseHex(session.leaseId)}:${uniqueSuffix()}`;
      const take = c.orphan
        ? [Op.put(inflightKey, '', { ignoreValue: true })] // version + 1 counts the delivery
        : [Op.delete(c.kv.key), Op.put(inflightKey, c.kv.value)];
      const r = await this.client.rawTxn(
        [Cmp.modRevision(c.kv.key, '=', c.kv.modRevision), Cmp.absent(claimKey)],
        [...take, Op.put(claimKey, mark, { lease: session.leaseId }), ...dropWaiter, Op.get(inflightKey)],
        [Op.get(claimKey), Op.get(inflightKey)],
        { signal, idempotent: true },
      );
      const ranges = r.responses.map((x) => (x.type === 'range' ? x.kvs[0] : undefined));
      let token = r.header.revision;
      if (!r.succeeded) {
        const ours = ranges[0];
        if (ours === undefined || toText(ours.value) !== mark) continue; // another consumer took it first
        token = ours.createRevision;
      }
      const kv = ranges.at(-1);
      const value = kv?.value ?? new Uint8Array(0);
      const attempt = Number(kv?.version ?? 1n);
      const claim = new LockHold(this.client, this.name, claimKey, token, session, async (h) => {
        if (delivery.isAcked) return;
        await this.client.rawTxn([h.condition], [Op.delete(claimKey)], [], { timeoutMs: 10_000, idempotent: true });
      });
      const delivery: Delivery = new Delivery(id, value, 255 - parseInt(pp, 16), attempt, inflightKey, claim);
      return delivery;
    }
  }

  /** The item to take next, or the revision at which there is none. */
  private async next(signal: AbortSignal): Promise<Candidate | { revision: bigint }> {
    const r = await this.client.rawTxn(
      [],
      [
        Op.get(this.inflight, { prefix: true, keysOnly: true, sort: { target: 'create', order: 'ascend' } }),
        Op.get(this.claims, { prefix: true, keysOnly: true }),
        Op.get(this.items, { prefix: true, keysOnly: true, sort: { target: 'key', order: 'ascend' }, limit: 1 }),
        Op.get(this.items, { prefix: true, sort: { target: 'create', order: 'ascend' }, limit: 1 }),
      ],
      [],
      { signal, idempotent: true },
    );
    const [inflight, claims, best, oldest] = r.responses.map((x) => (x.type === 'range' ? x.kvs : []));
    const claimed = new Set((claims ?? []).map((kv) => lastSegment(kv.key)));
    const orphan = (inflight ?? []).find((kv) => !claimed.has(lastSegment(kv.key)));
    if (orphan) return { kv: orphan, orphan: true };
    const top = best?.[0];
    const old = oldest?.[0];
    if (top === undefined || old === undefined) return { revision: r.header.revision };
    const topPrefix = toText(top.key).split('/').slice(0, -1).join('/');
    if (toText(old.key).startsWith(`${topPrefix}/`)) return { kv: old, orphan: false };
    // The oldest item is not of the best priority present: take the oldest of that priority.
    const inTop = await this.client.range(`${topPrefix}/`, { prefix: true, sort: { target: 'create', order: 'ascend' }, limit: 1, signal });
    const kv = inTop.kvs[0];
    return kv ? { kv, orphan: false } : { revision: inTop.header.revision };
  }
}

function lastSegment(key: Uint8Array): string {
  const s = toText(key);
  return s.slice(s.lastIndexOf('/') + 1);
}
