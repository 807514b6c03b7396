/**
 * Leader election with etcd's `concurrency.Election` layout (`<prefix>/<lease hex>`, leader = lowest create
 * revision, each candidate waits for its predecessor only), so our candidates, Go's and `etcdctl elect` share one
 * election.
 *
 * Beyond etcd: the leadership handle's `signal` aborts on session loss or when the leader key disappears;
 * `observe()` reports "no leader" and re-reads after every gap (reconnect, compaction), so it never reports a
 * stale leader; `runWhileLeader(fn)` campaigns, runs `fn` with the term's signal and campaigns again.
 */
import { type Bytes, leaseHex, toBytes, toText } from '../bytes.js';
import { type Client } from '../client.js';
import { abortErrorFor, deriveSignal, type CallOptions } from '../connection.js';
import { LockLostError, NoLeaderError, NotLeaderError } from '../errors.js';
import { Cmp, Op } from '../ops.js';
import { waitForTurn } from './queue-wait.js';
import { type Session } from './session.js';
import { recipeError } from './wait.js';

export interface ElectionOptions {
  /** Campaign on this session (default: the client's shared session for `ttl`). */
  session?: Session;
  /** Session TTL in seconds when no session is given (default 60). */
  ttl?: number;
}

export type CampaignOptions = CallOptions & ElectionOptions;

/** What an observer sees: a leader (its value and term) or nobody. */
export type Observed =
  | { none: false; key: string; value: string; rawValue: Uint8Array; term: bigint; modRevision: bigint }
  | { none: true };

/** A won campaign: this candidate is the leader until it resigns or its session ends. */
export class Leadership {
  private readonly controller = new AbortController();
  private resigned: Promise<void> | undefined;

  /** @internal */
  constructor(
    private readonly client: Client,
    readonly keyBytes: Uint8Array,
    /** The leader key's create revision: strictly increasing per election (a fencing token). */
    readonly term: bigint,
    readonly session: Session,
    public value: Uint8Array,
  ) {
    const s = session.signal;
    if (s.aborted) this.controller.abort(s.reason);
    else s.addEventListener('abort', () => this.controller.abort(s.reason), { once: true, signal: this.controller.signal });
    this.watchKey();
  }

  get key(): string {
    return toText(this.keyBytes);
  }

  /** Aborts when leadership may be lost (session suspect/ended, key deleted) or after `resign()`. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Publishes a new value while still leader; rejects with `NotLeaderError` otherwise. */
  async proclaim(value: Bytes, options: CallOptions = {}): Promise<void> {
    const v = toBytes(value);
    const r = await this.client.rawTxn(
      [Cmp.createRevision(this.keyBytes, '=', this.term)],
      [Op.put(this.keyBytes, v, { lease: this.session.leaseId })],
      [],
      { ...options, idempotent: true },
    );
    if (!r.succeeded) throw new NotLeaderError('election: not leader');
    this.value = v;
  }

  /** Gives up leadership (deletes the key if still ours). Idempotent. */
  resign(options: CallOptions = {}): Promise<void> {
    this.resigned ??= (async () => {
      try {
        await this.client.rawTxn([Cmp.createRevision(this.keyBytes, '=', this.term)], [Op.delete(this.keyBytes)], [], {
          timeoutMs: 10_000,
          ...options,
          idempotent: true,
        });
      } finally {
        this.controller.abort(new LockLostError('resigned'));
      }
    })();
    return this.resigned;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.resign();
  }

  private watchKey(): void {
    const w = this.client.watch(this.keyBytes, { startRevision: this.term + 1n, noPut: true, signal: this.controller.signal });
    void (async () => {
      try {
        for await (const ev of w) {
          if (ev.type === 'delete') {
            this.controller.abort(new LockLostError(`leader key ${this.key} was deleted`));
            return;
          }
        }
      } catch (err) {
        if (!this.controller.signal.aborted) this.controller.abort(new LockLostError('lost track of the leader key', { cause: err }));
      }
    })();
  }
}

export class Election {
  private readonly keyPrefix: Uint8Array;

  constructor(
    private readonly client: Client,
    readonly prefix: Uint8Array,
    private readonly defaults: ElectionOptions = {},
  ) {
    this.keyPrefix = toBytes(`${toText(prefix)}/`);
  }

  /**
   * Campaigns with `value` and resolves once leader. On abort/timeout the candidacy is withdrawn (key deleted)
   * and the promise rejects; if our key vanishes while waiting it rejects with `LockLostError`.
   */
  async campaign(value: Bytes, options: CampaignOptions = {}): Promise<Leadership> {
    const signal = deriveSignal(options.signal, options.timeoutMs);
    const session = options.session ?? this.defaults.session ?? (await this.client.lock.defaultSession(options.ttl ?? this.defaults.ttl ?? 60, { signal }));
    session.throwIfEnded();
    const waitSignal = signal ? AbortSignal.any([signal, session.signal]) : session.signal;
    const key = toBytes(`${toText(this.keyPrefix)}${leaseHex(session.leaseId)}`);
    const v = toBytes(value);
    let rev = 0n;
    try {
      const r = await this.client.rawTxn([Cmp.absent(key)], [Op.put(key, v, { lease: session.leaseId })], [Op.get(key)], {
        signal: waitSignal,
        idempotent: true,
      });
      if (r.succeeded) rev = r.header.revision;
      else {
        const own = r.responses[0];
        const kv = own?.type === 'range' ? own.kvs[0] : undefined;
        rev = kv?.createRevision ?? 0n;
        if (kv && Buffer.compare(Buffer.from(kv.value), Buffer.from(v)) !== 0) {
          await this.client.rawTxn([Cmp.createRevision(key, '=', rev)], [Op.put(key, v, { lease: session.leaseId })], [], { signal: waitSignal, idempotent: true });
        }
      }
      await waitForTurn(this.client, this.keyPrefix, { key, revision: rev }, waitSignal);
      return new Leadership(this.client, key, rev, session, v);
    } catch (err) {
      if (rev > 0n) {
        await this.client
          .rawTxn([Cmp.createRevision(key, '=', rev)], [Op.delete(key)], [], { timeoutMs: 5_000, idempotent: true })
          .catch(() => undefined);
      }
      // "lease not found" ends the session at once, so the next campaign starts a fresh default session.
      throw recipeError(err, session, waitSignal);
    }
  }

  /** The current leader; rejects with `NoLeaderError` (`election: no leader`) when there is none. */
  async leader(options: CallOptions = {}): Promise<Exclude<Observed, { none: true }>> {
    const r = await this.client.range(this.keyPrefix, { ...options, prefix: true, sort: { target: 'create', order: 'ascend' }, limit: 1 });
    const kv = r.kvs[0];
    if (!kv) throw new NoLeaderError('election: no leader');
    return observed(kv);
  }

  /**
   * The leader as it changes: yields a leader (and each new proclaimed value) or `{ none: true }` when nobody
   * leads. After any gap (reconnect, compaction, leader change) it re-reads the current leader before yielding,
   * so it never reports a leader that is already gone. Ends when `signal` aborts.
   */
  async *observe(options: { signal?: AbortSignal } = {}): AsyncGenerator<Observed, void, undefined> {
    const signal = options.signal;
    let lastId = '';
    const emitId = (o: Observed): string => (o.none ? 'none' : `${o.key}@${o.modRevision}`);
    while (!signal?.aborted) {
      let r;
      try {
        r = await this.client.range(this.keyPrefix, { prefix: true, sort: { target: 'create', order: 'ascend' }, limit: 1, signal });
      } catch (err) {
        if (signal?.aborted) return;
        throw err;
      }
      const kv = r.kvs[0];
      const now: Observed = kv ? observed(kv) : { none: true };
      if (emitId(now) !== lastId) {
        lastId = emitId(now);
        yield now;
      }
      const from = r.header.revision + 1n;
      try {
        if (!kv) {
          // Wait for any candidate to appear, then re-read (the first put is not necessarily the leader).
          for await (const ev of this.client.watch(this.keyPrefix, { prefix: true, startRevision: from, noDelete: true, signal })) {
            void ev;
            break;
          }
        } else {
          for await (const ev of this.client.watch(kv.key, { startRevision: from, signal })) {
            if (ev.type === 'delete') break;
            const o = observed(ev.kv);
            if (emitId(o) !== lastId) {
              lastId = emitId(o);
              yield o;
            }
          }
        }
      } catch {
        // Compaction or a canceled watch: fall through and re-read.
      }
    }
  }

  /**
   * Campaigns, runs `fn` while leader (it gets the term; stop work when `term.signal` aborts), resigns when `fn`
   * settles and, unless `requeue` is false, campaigns again. Resolves when `signal` aborts (or after one term
   * without requeue); `fn`'s errors are reported through `onError` (default: rethrown, ending the loop).
   */
  async runWhileLeader(
    value: Bytes,
    fn: (term: Leadership) => Promise<void> | void,
    options: CampaignOptions & { requeue?: boolean; onError?: (err: unknown) => void } = {},
  ): Promise<void> {
    const requeue = options.requeue ?? true;
    for (;;) {
      if (options.signal?.aborted) return;
      let term: Leadership;
      try {
        term = await this.campaign(value, options);
      } catch (err) {
        if (options.signal?.aborted) return;
        if (err instanceof LockLostError || (err as { name?: string }).name === 'SessionExpiredError') {
          if (!requeue) throw err;
          continue;
        }
        throw err;
      }
      try {
        await fn(term);
      } catch (err) {
        if (options.onError) options.onError(err);
        else {
          await term.resign().catch(() => undefined);
          throw err;
        }
      }
      await term.resign().catch(() => undefined);
      if (!requeue) return;
    }
  }
}

function observed(kv: { key: Uint8Array; value: Uint8Array; createRevision: bigint; modRevision: bigint }): Exclude<Observed, { none: true }> {
  return { none: false, key: toText(kv.key), value: toText(kv.value), rawValue: kv.value, term: kv.createRevision, modRevision: kv.modRevision };
}
