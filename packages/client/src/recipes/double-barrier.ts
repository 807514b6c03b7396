/**
 * A double barrier (etcd's `recipes.DoubleBarrier` semantics): `enter()` blocks until `count` participants have
 * entered; `leave()` blocks until every participant of the round has left. Participants are lease-bound, so a
 * participant that dies stops counting: it never blocks `leave()` for longer than its TTL.
 *
 * Layout (etcd's):
 *   <name>/waiters/<lease hex>-<random>   one per participant, bound to its session's lease
 *   <name>/ready                          put (no lease) when the count-th participant has registered
 *
 * A round's members are exactly the waiter keys created before `ready` (registration is a txn that requires
 * `ready` to be absent), and the round's number is `ready`'s create revision. That one rule gives what etcd's
 * recipe lacks:
 *  - no mixing of rounds: a newcomer arriving while a round is in progress (ready present, members left) waits
 *    until the round has drained, then registers for the next one;
 *  - no poisoned marker: `ready` left behind by a round whose last members died (no waiter older than it) is
 *    stale and the next newcomer removes it;
 *  - overflow is deterministic: members are ranked by create revision; a registrant whose rank is ≥ count (two
 *    registered at once past the count) withdraws and gets `TooManyParticipantsError`, like etcd after #14604.
 *
 * Worked example, count 3 (revisions in brackets):
 *
 *   a[10] b[11] register         both see < 3 waiters: watch `ready` for a put after their own revision
 *   c[12] registers              sees 3 waiters, ranks 3rd: puts ready[13]; a, b see the put: round 13 = {a,b,c}
 *   d[—] arrives                 ready exists with older waiters: round in progress, d waits (no key yet)
 *   b leaves                     deletes b[11], waits for the lowest (a) to go
 *   a leaves                     is the lowest: waits for the highest (c) to go
 *   c dies                       c[12] expires with its lease → a is alone: deletes ready and a[10] in one txn
 *                                → b returns; d registers for the next round
 *
 * Enter: register; if the read in the same txn shows ≥ count waiters, put `ready` (create-if-absent); else watch
 * `ready` for its put from our registration revision (a compacted watch re-reads). Leave (etcd's order): the
 * lowest member waits for the highest to go; every other member deletes its key and waits for the lowest; the
 * lowest, once alone, deletes `ready` and itself in one txn. Each wait watches one key, re-reading after it goes.
 */
import { leaseHex, toBytes, toText } from '../bytes.js';
import { type Client } from '../client.js';
import { abortErrorFor, deriveSignal, type CallOptions } from '../connection.js';
import { LatchkeyError, LockLostError } from '../errors.js';
import { Cmp, Op } from '../ops.js';
import { type KeyValue } from '@latchkey/proto';
import { type Session } from './session.js';
import { forever, nextEvent, recipeContext, recipeError, uniqueSuffix, type RecipeOptions } from './wait.js';

/** More than `count` participants registered for one round at once; this one withdrew. Retry after the round. */
export class TooManyParticipantsError extends LatchkeyError {
  override name = 'TooManyParticipantsError';
  constructor(message: string) {
    super(message, { retryable: true }); // we withdrew: nothing of ours is left, so entering again is safe
  }
}

/** A participant inside the barrier: call `leave()` (or `await using`) when done. */
export class BarrierRound {
  private leaving: Promise<void> | undefined;
  private readonly controller = new AbortController();

  /** @internal */
  constructor(
    client: Client,
    private readonly barrier: DoubleBarrier,
    readonly keyBytes: Uint8Array,
    /** Our waiter key's create revision (our rank in the round). */
    readonly revision: bigint,
    /** The round: `ready`'s create revision. Members are the waiter keys created before it. */
    readonly round: bigint,
    readonly session: Session,
  ) {
    const s = session.signal;
    if (s.aborted) this.controller.abort(s.reason);
    else s.addEventListener('abort', () => this.controller.abort(s.reason), { once: true, signal: this.controller.signal });
    this.watchKey(client);
  }

  /** Our waiter key's deletion by anyone but our own leave() also means we stopped counting. */
  private watchKey(client: Client): void {
    const ac = this.controller;
    void nextEvent(client, [{ key: this.keyBytes, options: { startRevision: this.revision + 1n, noPut: true } }], ac.signal).then(
      (ev) => {
        if (this.leaving === undefined && !ac.signal.aborted) {
          ac.abort(new LockLostError(ev ? `our barrier key ${this.key} was deleted` : `lost track of our barrier key ${this.key}`));
        }
      },
      () => undefined,
    );
  }

  get key(): string {
    return toText(this.keyBytes);
  }

  /** Aborts when this participant may have stopped counting (session suspect/ended, key deleted), or after `leave()`. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Resolves once every member of the round has left (or died). Rejects with `LockLostError` if our own key
   * vanished before we left (our session was lost: the others may already have gone on). Idempotent.
   */
  leave(options: CallOptions = {}): Promise<void> {
    this.leaving ??= this.barrier.leaveRound(this, deriveSignal(options.signal, options.timeoutMs) ?? forever()).finally(() => {
      this.controller.abort(new LockLostError('left the barrier'));
    });
    return this.leaving;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.leave();
  }
}

export class DoubleBarrier {
  private readonly prefix: string;
  private readonly waitersPrefix: string;
  private readonly readyKey: Uint8Array;

  constructor(
    private readonly client: Client,
    readonly name: string,
    /** Participants per round. */
    readonly count: number,
  ) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`double barrier count must be a positive integer, got ${count}`);
    this.prefix = `${name}/`;
    this.waitersPrefix = `${name}/waiters/`;
    this.readyKey = toBytes(`${name}/ready`);
  }

  /**
   * Registers and waits until `count` participants (this one included) are in. Rejects on `signal`/`timeoutMs`
   * or session loss (our key is withdrawn first), and with `TooManyParticipantsError` on overflow.
   */
  async enter(options: RecipeOptions = {}): Promise<BarrierRound> {
    const { session, signal } = await recipeContext(this.client, options);
    const key = toBytes(`${this.waitersPrefix}${leaseHex(session.leaseId)}-${uniqueSuffix()}`);
    let rev = 0n;
    try {
      const reg = await this.register(key, session, signal);
      rev = reg.revision;
      const rank = reg.waiters.findIndex((kv) => kv.createRevision === rev);
      if (rank < 0) throw new LockLostError('our barrier key vanished right after registering');
      if (rank >= this.count) {
        await this.withdraw(key, rev);
        rev = 0n;
        throw new TooManyParticipantsError(`double barrier ${this.name}: more than ${this.count} participants`);
      }
      const round = reg.waiters.length >= this.count ? await this.putReady(signal) : await this.waitReady(key, rev, signal);
      return new BarrierRound(this.client, this, key, rev, round, session);
    } catch (err) {
      if (rev > 0n) await this.withdraw(key, rev).catch(() => undefined);
      throw recipeError(err, session, signal);
    }
  }

  /** The waiter keys (by create revision) and `ready`, as one read. */
  async status(options: CallOptions = {}): Promise<{ waiters: KeyValue[]; ready: KeyValue | undefined; revision: bigint }> {
    const r = await this.client.range(this.prefix, { ...options, prefix: true, keysOnly: true, sort: { target: 'create', order: 'ascend' } });
    return this.split(r.kvs, r.header.revision);
  }

  /** Registers `key` once no round is in progress; returns our revision and the waiters seen in the same txn. */
  private async register(key: Uint8Array, session: Session, signal: AbortSignal): Promise<{ revision: bigint; waiters: KeyValue[] }> {
    const waiters = Op.get(this.waitersPrefix, { prefix: true, keysOnly: true, sort: { target: 'create', order: 'ascend' } });
    for (;;) {
      const st = await this.status({ signal });
      if (st.ready !== undefined) {
        const readyRev = st.ready.createRevision;
        if (st.waiters.some((kv) => kv.createRevision < readyRev)) {
          // A round is in progress: wake on any departure and look again.
          await nextEvent(this.client, [{ key: this.prefix, options: { prefix: true, noPut: true, startRevision: st.revision + 1n } }], signal);
        } else {
          // Stale marker of a round whose members are all gone.
          await this.client.rawTxn([Cmp.modRevision(this.readyKey, '=', st.ready.modRevision)], [Op.delete(this.readyKey)], [], { signal, idempotent: true });
        }
        continue;
      }
      // Create-if-absent on our own key, only while no round is in progress; idempotent, so safely retried.
      const r = await this.client.rawTxn(
        [Cmp.absent(this.readyKey), Cmp.absent(key)],
        [Op.put(key, '', { lease: session.leaseId }), waiters],
        [Op.get(key, { keysOnly: true }), waiters],
        { signal, idempotent: true },
      );
      const own = r.responses[0];
      const list = r.responses[1];
      const ws = list?.type === 'range' ? list.kvs : [];
      if (r.succeeded) return { revision: r.header.revision, waiters: ws };
      const mine = own?.type === 'range' ? own.kvs[0] : undefined;
      if (mine !== undefined) return { revision: mine.createRevision, waiters: ws }; // an earlier attempt of ours committed
      // `ready` appeared between our read and our txn: look again.
    }
  }

  /** Puts `ready` if absent; resolves with its create revision (the round). */
  private async putReady(signal: AbortSignal): Promise<bigint> {
    const r = await this.client.rawTxn([Cmp.absent(this.readyKey)], [Op.put(this.readyKey, '')], [Op.get(this.readyKey, { keysOnly: true })], {
      signal,
      idempotent: true,
    });
    if (r.succeeded) return r.header.revision;
    const got = r.responses[0];
    const kv = got?.type === 'range' ? got.kvs[0] : undefined;
    if (kv === undefined) throw new LatchkeyError('double barrier: ready marker vanished while being created');
    return kv.createRevision;
  }

  /** Waits for `ready` to be put after our registration; re-reads after a gap. */
  private async waitReady(key: Uint8Array, rev: bigint, signal: AbortSignal): Promise<bigint> {
    let from = rev + 1n;
    for (;;) {
      const ev = await nextEvent(
        this.client,
        [
          { key: this.readyKey, options: { startRevision: from, noDelete: true } },
          { key, options: { startRevision: from, noPut: true } }, // our own key going: fail fast
        ],
        signal,
      );
      const st = await this.status({ signal });
      const mine = st.waiters.find((kv) => kv.createRevision === rev && Buffer.compare(kv.key, key) === 0);
      if (mine === undefined) throw new LockLostError(`our barrier key ${toText(key)} vanished while entering (session lost?)`);
      if (ev?.type === 'put' && ev.kv.createRevision > rev) return ev.kv.createRevision;
      // The watch ended without the put: decide from the current state.
      if (st.ready !== undefined && st.ready.createRevision > rev) return st.ready.createRevision;
      const rank = st.waiters.indexOf(mine);
      if (st.waiters.length >= this.count && rank < this.count) return this.putReady(signal);
      from = st.revision + 1n;
    }
  }

  /** @internal The leave protocol for `round`. */
  async leaveRound(round: BarrierRound, signal: AbortSignal): Promise<void> {
    const { keyBytes: key, revision: rev } = round;
    let deletedOurs = false;
    try {
      for (;;) {
        const st = await this.status({ signal });
        const members = st.waiters.filter((kv) => kv.createRevision < round.round);
        const mine = members.find((kv) => kv.createRevision === rev);
        if (mine === undefined) {
          if (!deletedOurs) throw new LockLostError(`our barrier key ${round.key} vanished before we left (session lost?)`);
          if (members.length === 0) return;
          await this.waitGone(members[0]!, st.revision, signal); // the lowest goes last
          continue;
        }
        if (members.length === 1) {
          // Alone: the round is over. Remove the marker (if it is still this round's) and ourselves together.
          // (If our key is already gone — a retried txn that had committed, or our lease just ended — so are we.)
          await this.client.rawTxn(
            [Cmp.createRevision(key, '=', rev)],
            [Op.txn([Cmp.createRevision(this.readyKey, '=', round.round)], [Op.delete(this.readyKey)]), Op.delete(key)],
            [],
            { signal, idempotent: true },
          );
          return;
        }
        if (members[0] === mine) {
          await this.waitGone(members[members.length - 1]!, st.revision, signal);
          continue;
        }
        await this.withdraw(key, rev, signal);
        deletedOurs = true;
      }
    } catch (err) {
      if (signal.aborted) throw abortErrorFor(signal);
      throw err;
    }
  }

  /** Resolves once `kv` is deleted (or the watch ended: the caller re-reads). */
  private async waitGone(kv: KeyValue, readRevision: bigint, signal: AbortSignal): Promise<void> {
    await nextEvent(this.client, [{ key: kv.key, options: { startRevision: readRevision + 1n, noPut: true } }], signal);
  }

  /** Deletes our waiter key if it is still the one we created. */
  private async withdraw(key: Uint8Array, rev: bigint, signal?: AbortSignal): Promise<void> {
    await this.client.rawTxn([Cmp.createRevision(key, '=', rev)], [Op.delete(key)], [], { signal, timeoutMs: 10_000, idempotent: true });
  }

  private split(kvs: KeyValue[], revision: bigint): { waiters: KeyValue[]; ready: KeyValue | undefined; revision: bigint } {
    const waitersPrefix = Buffer.from(this.waitersPrefix);
    const waiters = kvs.filter((kv) => kv.key.length > waitersPrefix.length && waitersPrefix.equals(kv.key.subarray(0, waitersPrefix.length)));
    const ready = kvs.find((kv) => Buffer.compare(kv.key, this.readyKey) === 0);
    return { waiters, ready, revision };
  }
}
