/**
 * A local mirror of every key under a prefix, kept up to date by a watch (Curator's `CuratorCache`, a Kubernetes
 * informer): read the prefix once, then apply each change as it comes, so lookups cost no round trip.
 *
 * Contract:
 * - The cache starts with a linearizable read of the prefix at some revision R0, then watches from R0 + 1. It
 *   never misses a change and never goes back in time: after applying the events of revision R, its contents
 *   equal a read of the prefix at R (`revision` is that R).
 * - Each revision's events are applied together (a transaction that changes three keys is one change).
 * - The watch resumes by itself across reconnects and endpoint failover (the client's watch contract). When the
 *   history it needs was compacted, or the watch fails for another reason, the cache reads the prefix again and
 *   reports the difference from what it held as one change marked `resync` (puts for new or changed keys,
 *   deletes for keys gone), so a consumer of `changes()` always sees a consistent sequence.
 * - `changes()` yields every change after the call, in order, with each key's previous entry (the cache knows
 *   it, so the server need not send it). A slow consumer's changes queue up; none is dropped.
 *
 * Keys are compared and sorted as bytes; `get`/`has` take text or bytes; entries are etcd's `KeyValue`s (keys
 * relative to the client's namespace, as every read returns them).
 */
import { type KeyValue } from '@latchkey/proto';
import { type Bytes, toBytes, toText } from '../bytes.js';
import { type Client } from '../client.js';
import { abortErrorFor, delay, deriveSignal, type CallOptions } from '../connection.js';
import { CompactedError, LatchkeyError } from '../errors.js';

export interface CacheEvent {
  readonly type: 'put' | 'delete';
  /** The key as UTF-8 text. */
  readonly key: string;
  /** The entry after the change (for a delete: the key with its deletion revision, as the watch reports it). */
  readonly kv: KeyValue;
  /** The entry the cache held before the change (undefined for a new key). */
  readonly prev: KeyValue | undefined;
}

export interface CacheChange {
  /** The revision the cache reflects once this change is applied. */
  readonly revision: bigint;
  readonly events: readonly CacheEvent[];
  /** `load`: the first read; `watch`: one revision's events; `resync`: the difference found by a new read. */
  readonly reason: 'load' | 'watch' | 'resync';
}

export interface PrefixCacheOptions {
  /** Ends the cache (as `close()`). */
  signal?: AbortSignal;
}

/** The cache's map key for a key: its bytes as latin1 (one character per byte, so strings sort as the bytes). */
const mapKey = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');

export class PrefixCache implements AsyncIterable<CacheChange> {
  private readonly map = new Map<string, KeyValue>();
  /** The revision of the last change applied; 0n until the first read (a store's revision is at least 1). */
  private rev = 0n;
  private resyncCount = 0;
  private readonly stop = new AbortController();
  private readonly subscribers = new Set<{ queue: CacheChange[]; wake: (() => void) | undefined }>();

  /** @internal (use `client.cache(prefix)`) */
  constructor(
    private readonly client: Client,
    readonly prefix: Bytes,
    options: PrefixCacheOptions = {},
  ) {
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) this.stop.abort();
      else signal.addEventListener('abort', () => this.close(), { once: true, signal: this.stop.signal });
    }
    void this.run();
  }

  /** The revision the contents reflect (0n until loaded). */
  get revision(): bigint {
    return this.rev;
  }

  /** How many times the cache read the prefix again after losing its watch's history. */
  get resyncs(): number {
    return this.resyncCount;
  }

  get size(): number {
    return this.map.size;
  }

  get closed(): boolean {
    return this.stop.signal.aborted;
  }

  get(key: Bytes): KeyValue | undefined {
    return this.map.get(mapKey(toBytes(key)));
  }

  has(key: Bytes): boolean {
    return this.map.has(mapKey(toBytes(key)));
  }

  /** The value under `key` as UTF-8 text, or undefined. */
  getString(key: Bytes): string | undefined {
    const kv = this.get(key);
    return kv === undefined ? undefined : toText(kv.value);
  }

  /** The entries in key (byte) order. */
  entries(): KeyValue[] {
    return [...this.map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, kv]) => kv);
  }

  /** The keys as UTF-8 text, in key (byte) order. */
  keys(): string[] {
    return this.entries().map((kv) => toText(kv.key));
  }

  /** Resolves once the first read has been applied. */
  async ready(options: CallOptions = {}): Promise<this> {
    await this.waitFor(() => this.rev > 0n, options);
    return this;
  }

  /**
   * Resolves once `predicate` holds for the cache (checked now and after every change). Rejects on `signal` /
   * `timeoutMs`, and when the cache is closed first.
   */
  async waitFor(predicate: (cache: this) => boolean, options: CallOptions = {}): Promise<this> {
    if (predicate(this)) return this;
    const signal = deriveSignal(options.signal, options.timeoutMs);
    for await (const _ of this.changes({ signal })) if (predicate(this)) return this;
    if (signal?.aborted) throw abortErrorFor(signal);
    throw new LatchkeyError('prefix cache is closed');
  }

  /** Every change from now on, in order, until `signal` aborts or the cache is closed. */
  async *changes(options: { signal?: AbortSignal | undefined } = {}): AsyncGenerator<CacheChange, void, undefined> {
    const signal = options.signal;
    const sub: { queue: CacheChange[]; wake: (() => void) | undefined } = { queue: [], wake: undefined };
    this.subscribers.add(sub);
    const onAbort = (): void => sub.wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const next = sub.queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (signal?.aborted || this.closed) return;
        await new Promise<void>((resolve) => (sub.wake = resolve));
        sub.wake = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.subscribers.delete(sub);
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<CacheChange, void, undefined> {
    return this.changes();
  }

  close(): void {
    if (this.closed) return;
    this.stop.abort();
    for (const s of this.subscribers) s.wake?.();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private publish(change: CacheChange): void {
    this.rev = change.revision;
    for (const s of this.subscribers) {
      s.queue.push(change);
      s.wake?.();
    }
  }

  /** Replaces the contents with a fresh read, reporting the difference. */
  private reload(kvs: readonly KeyValue[], revision: bigint, reason: 'load' | 'resync'): void {
    const events: CacheEvent[] = [];
    const fresh = new Map(kvs.map((kv) => [mapKey(kv.key), kv] as const));
    for (const [k, prev] of this.map) {
      if (fresh.has(k)) continue;
      this.map.delete(k);
      events.push({ type: 'delete', key: toText(prev.key), kv: { ...prev, modRevision: revision, value: new Uint8Array(0), version: 0n, createRevision: 0n, lease: 0n }, prev });
    }
    for (const [k, kv] of fresh) {
      const prev = this.map.get(k);
      if (prev !== undefined && prev.modRevision === kv.modRevision) continue;
      this.map.set(k, kv);
      events.push({ type: 'put', key: toText(kv.key), kv, prev });
    }
    this.publish({ revision, events, reason });
  }

  private async run(): Promise<void> {
    const stop = this.stop.signal;
    let backoffMs = 50;
    let reason: 'load' | 'resync' = 'load';
    while (!stop.aborted) {
      try {
        const r = await this.client.range(this.prefix, { prefix: true, signal: stop });
        this.reload(r.kvs, r.header.revision, reason);
        backoffMs = 50;
        const w = this.client.watch(this.prefix, { prefix: true, startRevision: r.header.revision + 1n, signal: stop });
        let events: CacheEvent[] = [];
        let at = 0n;
        const flush = (): void => {
          if (events.length > 0) this.publish({ revision: at, events, reason: 'watch' });
          events = [];
        };
        for await (const batch of w.batches()) {
          for (const ev of batch.events) {
            if (ev.revision !== at) flush();
            at = ev.revision;
            const k = mapKey(ev.kv.key);
            const prev = this.map.get(k);
            if (ev.type === 'put') this.map.set(k, ev.kv);
            else this.map.delete(k);
            events.push({ type: ev.type, key: ev.key, kv: ev.kv, prev });
          }
          flush(); // a batch holds whole revisions
        }
        if (stop.aborted) return;
        reason = 'resync'; // the watch ended on its own: read again
      } catch (err) {
        if (stop.aborted) return;
        if (this.client.conn.isClosed) return this.close();
        if (this.rev > 0n) reason = 'resync';
        if (err instanceof CompactedError) {
          this.resyncCount++;
          continue;
        }
        await delay(backoffMs, stop);
        backoffMs = Math.min(2_000, backoffMs * 2);
      }
    }
  }
}
