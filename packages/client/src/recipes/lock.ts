/**
 * Fair distributed locks with etcd's algorithm and key layout, so latchkey clients, etcd's Go
 * `concurrency.Mutex` and `etcdctl lock` exclude each other on the same name:
 *
 *   - a waiter creates `<name>/<lease hex>` bound to its session's lease (create-if-absent: safe to retry);
 *   - the owner is the key with the lowest create revision under `<name>/`; everyone else waits for the deletion
 *     of its immediate predecessor only (FIFO, no thundering herd), then re-checks;
 *   - the holder's **fencing token** is its key's create revision: strictly increasing per lock name, and the
 *     value external resources should compare. Guarded writes (`held.put`, `held.txn()`) commit only while the
 *     key still exists with that revision, else fail with `LockLostError`.
 *
 * Beyond etcd: AbortSignal/timeout with guaranteed removal of the waiter's key, ownership re-checked in the same
 * read as every predecessor lookup, `held.signal` aborting on session loss or key deletion, several independent
 * holds of one name in one process (extra holds get a suffixed key, still ordered by create revision), and
 * `await using` release.
 */
import { type Bytes, leaseHex, toBytes, toText } from '../bytes.js';
import { type Client, type TxnBuilder, type TxnResult } from '../client.js';
import { abortErrorFor, deriveSignal, type CallOptions } from '../connection.js';
import { LatchkeyError, LockLostError } from '../errors.js';
import { Cmp, Op, type Condition, type Operation, type PutOptions } from '../ops.js';
import { acquireAll, type MultiLockHold } from './multi-lock.js';
import { waitForTurn } from './queue-wait.js';
import { type Session } from './session.js';
import { recipeError } from './wait.js';

export interface AcquireOptions extends CallOptions {
  /** Hold the lock on this session (default: the client's shared session for `ttl`). */
  session?: Session;
  /** Session TTL in seconds when no session is given (default 60, as etcdctl lock). */
  ttl?: number;
}

export interface LockHolder {
  key: string;
  lease: bigint;
  /** Create revision: the holder's fencing token, or the waiter's place in the queue. */
  revision: bigint;
  /** Remaining TTL of the lease in seconds (-1n if it is gone). */
  ttl: bigint;
}

export interface LockStatus {
  name: string;
  holder: LockHolder | undefined;
  /** Waiters in the order they will get the lock. */
  waiters: LockHolder[];
  revision: bigint;
}

/** A held lock. Release it with `release()` or `await using`. */
export class LockHold {
  private releasing: Promise<void> | undefined;
  private signalController: AbortController | undefined;
  private keyWatchStop: (() => void) | undefined;

  /** @internal */
  constructor(
    private readonly client: Client,
    readonly name: string,
    /** The lock key (in the client's namespace). */
    readonly keyBytes: Uint8Array,
    /**
     * The fencing token: the lock key's mod revision when this hold began — its create revision for a hold taken
     * from the queue, the revision of the hand-over write for a hold passed on inside this process. Strictly
     * increasing across the holds of one lock name.
     */
    readonly fencingToken: bigint,
    readonly session: Session,
    /** Ends the hold on the server (deletes the key or hands it to a local waiter). */
    private readonly releaser: (hold: LockHold) => Promise<void>,
  ) {}

  get key(): string {
    return toText(this.keyBytes);
  }

  get leaseId(): bigint {
    return this.session.leaseId;
  }

  /**
   * Aborts as soon as the lock may be lost: the session is suspect of expiry or ended, the key was deleted
   * (by anyone), or the lock was released. `reason` is a `LockLostError`/`SessionExpiredError`.
   */
  get signal(): AbortSignal {
    if (!this.signalController) {
      const ac = new AbortController();
      this.signalController = ac;
      const s = this.session.signal;
      if (s.aborted) ac.abort(s.reason);
      else s.addEventListener('abort', () => ac.abort(s.reason), { once: true, signal: ac.signal });
      this.watchKey(ac);
    }
    return this.signalController.signal;
  }

  /** The ownership condition: our key still exists, unchanged since this hold began. */
  get condition(): Condition {
    return Cmp.modRevision(this.keyBytes, '=', this.fencingToken);
  }

  /** True while the lock key still exists with our revision (a linearizable read). */
  async isHeld(options: CallOptions = {}): Promise<boolean> {
    if (this.releasing) return false;
    const kv = await this.client.get(this.keyBytes, options);
    return kv !== undefined && kv.modRevision === this.fencingToken;
  }

  /** Puts `key` only while the lock is held; rejects with `LockLostError` otherwise. */
  async put(key: Bytes, value: Bytes, options: PutOptions & CallOptions = {}): Promise<TxnResult> {
    return this.guard([Op.put(key, value, options)], options);
  }

  /** Deletes `key` only while the lock is held. */
  async delete(key: Bytes, options: CallOptions & { prefix?: boolean } = {}): Promise<TxnResult> {
    return this.guard([Op.delete(key, options)], options);
  }

  /** Runs `ops` in one txn that commits only while the lock is held. */
  async guard(ops: Operation[], options: CallOptions = {}): Promise<TxnResult> {
    const r = await this.client.rawTxn([this.condition], ops, [], options);
    if (!r.succeeded) throw this.lost();
    return r;
  }

  /**
   * A transaction builder whose commit runs only while the lock is held: the caller's txn (its own conditions
   * and branches) is nested inside an outer txn that checks ownership. The result is the caller's txn's; a lost
   * lock rejects with `LockLostError`.
   */
  txn(): GuardedTxn {
    return new GuardedTxn(this);
  }

  /**
   * Releases the lock: deletes the key if it is still ours, or — when another task of this process waits for the
   * same lock on the same session and no other process is queued — hands the key over to it. Idempotent. The
   * session stays open.
   */
  release(): Promise<void> {
    this.releasing ??= (async () => {
      this.keyWatchStop?.();
      this.signalController?.abort(new LockLostError('lock released'));
      await this.releaser(this);
    })();
    return this.releasing;
  }

  /** True once `release()` was called. */
  get released(): boolean {
    return this.releasing !== undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  /** @internal */
  lost(): LockLostError {
    const reason: unknown = this.session.signal.reason;
    return new LockLostError(`lock ${this.name} is no longer held`, { cause: reason });
  }

  /** @internal */
  get clientRef(): Client {
    return this.client;
  }

  private watchKey(ac: AbortController): void {
    const w = this.client.watch(this.keyBytes, { startRevision: this.fencingToken + 1n, noPut: true, signal: ac.signal });
    this.keyWatchStop = () => w.cancel();
    void (async () => {
      try {
        for await (const ev of w) {
          if (ev.type === 'delete') {
            ac.abort(new LockLostError(`lock key ${this.key} was deleted`));
            return;
          }
        }
      } catch (err) {
        // A compacted or canceled watch cannot prove the key is still there: report a possible loss.
        if (!ac.signal.aborted) ac.abort(new LockLostError(`lost track of lock key ${this.key}`, { cause: err }));
      }
    })();
  }
}

/** A txn builder that checks lock ownership around the caller's txn. */
export class GuardedTxn {
  private readonly conditions: Condition[] = [];
  private readonly onSuccess: Operation[] = [];
  private readonly onFailure: Operation[] = [];
  constructor(private readonly hold: LockHold) {}

  if(...c: Condition[]): this {
    this.conditions.push(...c);
    return this;
  }
  success(...ops: Operation[]): this {
    this.onSuccess.push(...ops);
    return this;
  }
  failure(...ops: Operation[]): this {
    this.onFailure.push(...ops);
    return this;
  }

  async commit(options: CallOptions = {}): Promise<TxnResult> {
    const client = this.hold.clientRef;
    if (this.conditions.length === 0 && this.onFailure.length === 0) return this.hold.guard(this.onSuccess, options);
    const outer = await client.rawTxn([this.hold.condition], [Op.txn(this.conditions, this.onSuccess, this.onFailure)], [], options);
    if (!outer.succeeded) throw this.hold.lost();
    const inner = outer.responses[0];
    if (inner?.type !== 'txn') throw new LatchkeyError('unexpected txn response shape');
    return inner;
  }
}

export type { TxnBuilder };

/** Tasks of this process waiting for a lock that another task of this process holds on the same session. */
interface LocalQueue {
  /** The lock key while a task holds it (or is acquiring it from the server). */
  key: Uint8Array;
  name: string;
  session: Session;
  /** Create revision of the key: its place in the server-side queue. */
  createRevision: bigint;
  waiters: Array<{ resolve: (h: LockHold | undefined) => void; reject: (e: unknown) => void; signal: AbortSignal }>;
}

/**
 * `client.lock`: acquire, tryAcquire, withLock, status.
 *
 * Holds of one name on one session are serialized inside the process first: only one task at a time has a key on
 * the server; the others wait in a local FIFO. On release the key is handed to the next local task with one
 * write (a guarded re-put, whose revision becomes the new fencing token) — but only when no other process is
 * queued behind it (the txn compares every key of the lock), so other processes are never overtaken; otherwise
 * the key is deleted and the next local task queues on the server like everyone else.
 */
export class LockApi {
  private readonly sessions = new Map<number, Promise<Session>>();
  private readonly local = new Map<string, LocalQueue>();

  constructor(private readonly client: Client) {}

  /**
   * Waits until the lock is held (FIFO). Rejects with the abort reason / `DeadlineExceededError` on `signal` /
   * `timeoutMs` (the waiter's key is removed first), with `LockLostError` / `SessionExpiredError` when the
   * session ends while waiting.
   */
  async acquire(name: string, options: AcquireOptions = {}): Promise<LockHold> {
    const hold = await this.enqueue(name, options, false);
    return hold!;
  }

  /**
   * Takes every lock in `names` (see `multi-lock.ts`): in one global order, so overlapping sets never deadlock;
   * all or nothing, under one deadline.
   */
  acquireAll(names: readonly string[], options: AcquireOptions = {}): Promise<MultiLockHold> {
    return acquireAll(this, names, options);
  }

  /** Takes the lock only if it is free right now; otherwise returns undefined (leaving no key behind). */
  async tryAcquire(name: string, options: AcquireOptions = {}): Promise<LockHold | undefined> {
    return this.enqueue(name, options, true);
  }

  /** Runs `fn` while holding the lock; `fn` gets the hold (use `hold.signal` to stop work on loss). */
  async withLock<T>(name: string, fn: (hold: LockHold) => Promise<T> | T, options: AcquireOptions = {}): Promise<T> {
    const hold = await this.acquire(name, options);
    try {
      return await fn(hold);
    } finally {
      await hold.release().catch(() => undefined);
    }
  }

  /** The holder and the queue of a lock, with each lease's remaining TTL. */
  async status(name: string, options: CallOptions = {}): Promise<LockStatus> {
    const r = await this.client.range(`${name}/`, { ...options, prefix: true, sort: { target: 'create', order: 'ascend' } });
    const entries = await Promise.all(
      r.kvs.map(async (kv): Promise<LockHolder> => {
        const ttl = kv.lease === 0n ? -1n : (await this.client.leases.timeToLive(kv.lease, options)).ttl;
        return { key: toText(kv.key), lease: kv.lease, revision: kv.createRevision, ttl };
      }),
    );
    return { name, holder: entries[0], waiters: entries.slice(1), revision: r.header.revision };
  }

  /** The shared session for `ttl`, re-created after it ends. */
  async defaultSession(ttl: number, options: CallOptions): Promise<Session> {
    let p = this.sessions.get(ttl);
    if (p) {
      const s = await p.catch(() => undefined);
      if (s && !s.signal.aborted) return s;
      if (this.sessions.get(ttl) === p) this.sessions.delete(ttl);
    }
    p = this.sessions.get(ttl);
    if (!p) {
      p = this.client.session({ ttl, signal: options.signal, timeoutMs: options.timeoutMs });
      this.sessions.set(ttl, p);
      p.catch(() => this.sessions.delete(ttl));
    }
    return p;
  }

  /** Closes the shared sessions (revoking their leases). */
  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.close().catch(() => undefined)));
  }

  private async enqueue(name: string, options: AcquireOptions, tryOnly: boolean): Promise<LockHold | undefined> {
    const signal = deriveSignal(options.signal, options.timeoutMs);
    const session = options.session ?? (await this.defaultSession(options.ttl ?? 60, { signal }));
    session.throwIfEnded();
    const waitSignal = signal ? AbortSignal.any([signal, session.signal]) : session.signal;
    const id = `${name}\u0000${session.leaseId}`;
    const q = this.local.get(id);
    if (q !== undefined) {
      if (tryOnly) return undefined;
      return this.waitLocally(q, waitSignal);
    }
    const queue: LocalQueue = { key: toBytes(`${name}/${leaseHex(session.leaseId)}`), name, session, createRevision: 0n, waiters: [] };
    this.local.set(id, queue);
    try {
      const hold = await this.fromServer(queue, waitSignal, tryOnly);
      if (hold === undefined) this.passOn(id, queue);
      return hold;
    } catch (err) {
      this.passOn(id, queue);
      throw err;
    }
  }

  private waitLocally(q: LocalQueue, signal: AbortSignal): Promise<LockHold> {
    return new Promise<LockHold>((resolve, reject) => {
      if (signal.aborted) return reject(abortErrorFor(signal));
      const w = {
        resolve: (h: LockHold | undefined) => {
          signal.removeEventListener('abort', onAbort);
          resolve(h!);
        },
        reject: (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
        signal,
      };
      const onAbort = (): void => {
        const i = q.waiters.indexOf(w);
        if (i >= 0) q.waiters.splice(i, 1);
        reject(abortErrorFor(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      q.waiters.push(w);
    });
  }

  /** The key is no longer ours: the next local waiter (if any) queues on the server, else the queue ends. */
  private passOn(id: string, q: LocalQueue): void {
    const next = q.waiters.shift();
    if (next === undefined) {
      if (this.local.get(id) === q) this.local.delete(id);
      return;
    }
    void this.fromServer(q, next.signal, false).then(
      (h) => next.resolve(h),
      (err) => {
        next.reject(err);
        this.passOn(id, q);
      },
    );
  }

  /** Creates our key (if absent) and waits for our turn on the server. */
  private async fromServer(q: LocalQueue, waitSignal: AbortSignal, tryOnly: boolean): Promise<LockHold | undefined> {
    const { key, session } = q;
    const prefix = `${q.name}/`;
    const first = Op.get(prefix, { prefix: true, sort: { target: 'create', order: 'ascend' }, limit: 1, keysOnly: true });
    let rev = 0n;
    try {
      // Create-if-absent on our own key: idempotent, so retried after ambiguous failures.
      const r = await this.client.rawTxn([Cmp.absent(key)], [Op.put(key, '', { lease: session.leaseId }), first], [Op.get(key), first], {
        signal: waitSignal,
        idempotent: true,
      });
      let token: bigint;
      if (r.succeeded) rev = token = r.header.revision;
      else {
        const own = r.responses[0];
        const kv = own?.type === 'range' ? own.kvs[0] : undefined;
        rev = kv?.createRevision ?? 0n;
        token = kv?.modRevision ?? 0n;
      }
      q.createRevision = rev;
      const ownerResp = r.responses[1];
      const owner = ownerResp?.type === 'range' ? ownerResp.kvs[0] : undefined;
      if (!(owner && owner.createRevision === rev)) {
        if (tryOnly) {
          await this.removeKey(key, rev);
          return undefined;
        }
        await waitForTurn(this.client, toBytes(prefix), { key, revision: rev }, waitSignal);
      }
      return this.newHold(q, token);
    } catch (err) {
      if (rev > 0n) await this.removeKey(key, rev).catch(() => undefined);
      // "lease not found" ends the session at once, so the next call starts a fresh default session.
      throw recipeError(err, session, waitSignal);
    }
  }

  private newHold(q: LocalQueue, token: bigint): LockHold {
    return new LockHold(this.client, q.name, q.key, token, q.session, (h) => this.release(q, h));
  }

  /** Ends `hold`: hands the key to the next local waiter when nobody else is queued, else deletes it. */
  private async release(q: LocalQueue, hold: LockHold): Promise<void> {
    const id = `${q.name}\u0000${q.session.leaseId}`;
    const owned = Cmp.modRevision(q.key, '=', hold.fencingToken);
    const opts = { timeoutMs: 10_000, idempotent: true } as const;
    if (q.waiters.length > 0 && !q.session.signal.aborted) {
      let r: TxnResult | undefined;
      try {
        // Every key of the lock was created no later than ours: nobody from another process is queued.
        r = await this.client.rawTxn(
          [owned, Cmp.createRevision(`${q.name}/`, '<', q.createRevision + 1n, { prefix: true })],
          [Op.put(q.key, '', { lease: q.session.leaseId })],
          [Op.txn([owned], [Op.delete(q.key)])],
          opts,
        );
      } catch (err) {
        this.passOn(id, q);
        throw err;
      }
      if (r.succeeded) {
        const next = q.waiters.shift()!;
        next.resolve(this.newHold(q, r.header.revision));
        return;
      }
      this.passOn(id, q);
      return;
    }
    try {
      await this.client.rawTxn([owned], [Op.delete(q.key)], [], opts);
    } finally {
      this.passOn(id, q);
    }
  }

  /** Deletes our waiter key if it is still the one we created (never someone else's). */
  private async removeKey(key: Uint8Array, rev: bigint): Promise<void> {
    await this.client.rawTxn([Cmp.createRevision(key, '=', rev)], [Op.delete(key)], [], { timeoutMs: 5_000, idempotent: true });
  }
}
