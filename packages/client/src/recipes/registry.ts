/**
 * Service registry: instances register themselves under `<service>/<id>` on a lease, clients discover the live set.
 *
 * Value format: etcd's `naming/endpoints` JSON (`{"Op":0,"Addr":"host:port","Metadata":…}`), so Go services
 * resolving through etcd's gRPC resolver (`etcd:///<service>`) see our instances and we see theirs (a plain-text
 * value is read as the address).
 *
 * Registration contract: `register()` resolves once the key is written. From then on the registration heals
 * itself until closed: when its session ends (lease expired or revoked, keep-alives lost) it grants a new lease
 * and writes the key again (backing off from 50 ms to 2 s while the cluster is unreachable); when the key is
 * deleted by someone else while the lease lives, it writes it again. `state` goes `registered → lost →
 * registered`; `onStateChange` reports each change. `close()` deletes the key (if still on our lease) and revokes
 * the lease.
 *
 * Discovery contract: `discover()` returns a `ServiceSet` that is the result of a linearizable read of the prefix
 * followed by a watch from the next revision, so it never misses a change and never goes back in time. The watch
 * resumes by itself across reconnects and endpoint failover (the client's watch contract); when history it needs
 * was compacted, or the watch fails, the set re-reads the prefix and publishes a snapshot marked `resynced`.
 * Iterating the set yields the current snapshot, then one per change (a slow consumer skips to the newest).
 */
import { type KeyValue } from '@latchkey/proto';
import { toText } from '../bytes.js';
import { type Client } from '../client.js';
import { abortErrorFor, delay, deriveSignal, type CallOptions } from '../connection.js';
import { LatchkeyError } from '../errors.js';
import { Cmp, Op } from '../ops.js';
import { PrefixCache } from './prefix-cache.js';
import { type Session } from './session.js';
import { nextEvent } from './wait.js';

export interface ServiceInstance {
  /** Unique within its service: the last segment of the key. */
  id: string;
  /** Where to reach it (`host:port`). */
  addr: string;
  /** Anything JSON-serialisable (zone, weight, version, …). */
  metadata?: unknown;
}

export interface RegisterOptions extends CallOptions {
  /** Lease TTL in seconds (default 10): how long a dead instance stays listed. */
  ttl?: number;
}

export type RegistrationState = 'registered' | 'lost' | 'closed';

export interface ServiceSnapshot {
  readonly service: string;
  /** Live instances, sorted by id. */
  readonly instances: readonly ServiceInstance[];
  /** The store revision this snapshot reflects. */
  readonly revision: bigint;
  /** True when the snapshot comes from a full re-read after the watch lost history (compaction) or failed. */
  readonly resynced: boolean;
  /** Increments with every published snapshot (0 = nothing read yet). */
  readonly version: number;
}

export type PickStrategy = 'random' | 'round-robin';

/** The stored form of an instance (etcd naming's `endpoints` update JSON). */
export function encodeInstance(instance: ServiceInstance): string {
  return JSON.stringify({ Op: 0, Addr: instance.addr, Metadata: instance.metadata ?? null });
}

/** An instance from its key-value (`id` is the key's part after `prefix`). */
export function decodeInstance(id: string, value: Uint8Array): ServiceInstance {
  const text = toText(value);
  try {
    const v = JSON.parse(text) as { Addr?: unknown; Metadata?: unknown };
    if (v !== null && typeof v === 'object' && typeof v.Addr === 'string') {
      return v.Metadata === null || v.Metadata === undefined ? { id, addr: v.Addr } : { id, addr: v.Addr, metadata: v.Metadata };
    }
  } catch {
    // not JSON: the value is the address
  }
  return { id, addr: text };
}

/** A self-healing registration of one instance. */
export class Registration {
  private stateValue: RegistrationState = 'lost';
  private readonly stop = new AbortController();
  private readonly listeners = new Set<(s: RegistrationState) => void>();
  private session: Session | undefined;
  private writes = 0;
  private readonly running: Promise<void>;

  /** @internal */
  constructor(
    private readonly client: Client,
    readonly service: string,
    private instanceValue: ServiceInstance,
    private readonly ttl: number,
  ) {
    this.running = this.run();
  }

  get key(): string {
    return `${this.service}/${this.instanceValue.id}`;
  }

  get instance(): ServiceInstance {
    return this.instanceValue;
  }

  get state(): RegistrationState {
    return this.stateValue;
  }

  /** The lease the key is currently bound to (undefined while lost). */
  get leaseId(): bigint | undefined {
    return this.stateValue === 'registered' ? this.session?.leaseId : undefined;
  }

  /** How many times the key has been written (1 after the first registration, +1 per re-registration). */
  get registrations(): number {
    return this.writes;
  }

  /** Calls `fn` on every state change; returns an unsubscribe function. */
  onStateChange(fn: (s: RegistrationState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves once registered (at once if it is). Rejects on `signal`/`timeoutMs`, or if closed. */
  registered(options: CallOptions = {}): Promise<void> {
    const signal = deriveSignal(options.signal, options.timeoutMs);
    return new Promise<void>((resolve, reject) => {
      const check = (): boolean => {
        if (this.stateValue === 'registered') resolve();
        else if (this.stateValue === 'closed') reject(new LatchkeyError(`registration ${this.key} is closed`));
        else if (signal?.aborted) reject(abortErrorFor(signal));
        else return false;
        return true;
      };
      if (check()) return;
      const off = this.onStateChange(() => {
        if (check()) cleanup();
      });
      const onAbort = (): void => {
        check();
        cleanup();
      };
      const cleanup = (): void => {
        off();
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Changes the address/metadata; written at once when registered, else with the next registration. */
  async update(changes: Partial<Omit<ServiceInstance, 'id'>>, options: CallOptions = {}): Promise<void> {
    this.instanceValue = { ...this.instanceValue, ...changes };
    const s = this.session;
    if (this.stateValue === 'registered' && s && !s.signal.aborted) {
      await this.client.put(this.key, encodeInstance(this.instanceValue), { ...options, lease: s.leaseId, idempotent: true });
    }
  }

  /** Stops healing, deletes the key (if still on our lease) and revokes the lease. Idempotent. */
  async close(): Promise<void> {
    if (!this.stop.signal.aborted) this.stop.abort(new LatchkeyError('registration closed'));
    await this.running;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private setState(s: RegistrationState): void {
    if (s === this.stateValue) return;
    this.stateValue = s;
    for (const fn of [...this.listeners]) fn(s);
  }

  private async run(): Promise<void> {
    let backoffMs = 50;
    const stop = this.stop.signal;
    while (!stop.aborted) {
      let session: Session | undefined;
      try {
        session = await this.client.session({ ttl: this.ttl, signal: stop, timeoutMs: 10_000 });
        this.session = session;
        const signal = AbortSignal.any([stop, session.signal]);
        // Write, then re-write whenever the key is deleted or moves off our lease, until the session ends.
        for (;;) {
          const put = await this.client.put(this.key, encodeInstance(this.instanceValue), { lease: session.leaseId, signal, idempotent: true });
          this.writes++;
          this.setState('registered');
          backoffMs = 50;
          const lease = session.leaseId;
          const ev = await nextEvent(
            this.client,
            [{ key: this.key, options: { startRevision: put.header.revision + 1n }, match: (e) => e.type === 'delete' || e.kv.lease !== lease }],
            signal,
          );
          if (ev === undefined) {
            // Watch gap: look at the key itself.
            const kv = await this.client.get(this.key, { signal, keysOnly: true });
            if (kv !== undefined && kv.lease === lease) continue;
          }
        }
      } catch {
        // Session ended, cluster unreachable, or closed: fall through.
      }
      if (stop.aborted || this.client.conn.isClosed) break;
      this.setState('lost');
      await session?.close({ timeoutMs: 2_000 }).catch(() => undefined);
      await delay(backoffMs, stop);
      backoffMs = Math.min(2_000, backoffMs * 2);
    }
    const last = this.session;
    this.setState('closed');
    if (last) {
      await this.client
        .rawTxn([Cmp.lease(this.key, '=', last.leaseId)], [Op.delete(this.key)], [], { timeoutMs: 5_000, idempotent: true })
        .catch(() => undefined);
      await last.close({ timeoutMs: 5_000 }).catch(() => undefined);
    }
  }
}

/** A live view of a service's instances, kept current by a watch. Close it (or `using`) when done. */
export class ServiceSet implements AsyncIterable<ServiceSnapshot> {
  private snapshot: ServiceSnapshot;
  private readonly stop = new AbortController();
  private wakers = new Set<() => void>();
  private rr = 0;
  private readonly prefix: string;
  /** The mirror of `<service>/` the snapshots are made from. */
  private readonly cache: PrefixCache;

  /** @internal */
  constructor(
    private readonly client: Client,
    readonly service: string,
    signal: AbortSignal | undefined,
  ) {
    this.prefix = `${service}/`;
    this.snapshot = { service, instances: [], revision: 0n, resynced: false, version: 0 };
    if (signal) {
      if (signal.aborted) this.stop.abort();
      else signal.addEventListener('abort', () => this.close(), { once: true, signal: this.stop.signal });
    }
    this.cache = new PrefixCache(client, this.prefix, { signal: this.stop.signal });
    void this.follow();
  }

  /** The latest snapshot (version 0 until the first read has completed). */
  get current(): ServiceSnapshot {
    return this.snapshot;
  }

  get instances(): readonly ServiceInstance[] {
    return this.snapshot.instances;
  }

  get size(): number {
    return this.snapshot.instances.length;
  }

  /** How many times the set re-read the prefix after losing its watch's history. */
  get resyncs(): number {
    return this.cache.resyncs;
  }

  /** Resolves once the first read has completed. */
  async ready(options: CallOptions = {}): Promise<ServiceSnapshot> {
    return this.waitFor((s) => s.version > 0, options);
  }

  /** Resolves with the first snapshot (current or future) for which `predicate` holds. */
  async waitFor(predicate: (s: ServiceSnapshot) => boolean, options: CallOptions = {}): Promise<ServiceSnapshot> {
    const signal = deriveSignal(options.signal, options.timeoutMs);
    for await (const s of this.snapshots({ signal })) if (predicate(s)) return s;
    if (signal?.aborted) throw abortErrorFor(signal);
    throw new LatchkeyError(`service set ${this.service} is closed`);
  }

  /**
   * One instance, or undefined when none is live. `round-robin` cycles through the instances in id order;
   * `random` picks uniformly.
   */
  pick(strategy: PickStrategy = 'round-robin'): ServiceInstance | undefined {
    const list = this.snapshot.instances;
    if (list.length === 0) return undefined;
    if (strategy === 'random') return list[Math.floor(Math.random() * list.length)];
    return list[this.rr++ % list.length];
  }

  /** The current snapshot once loaded, then one per change, until `signal` aborts or the set is closed. */
  async *snapshots(options: { signal?: AbortSignal | undefined } = {}): AsyncGenerator<ServiceSnapshot, void, undefined> {
    const signal = options.signal;
    let seen = 0;
    while (!signal?.aborted && !this.stop.signal.aborted) {
      const s = this.snapshot;
      if (s.version > seen) {
        seen = s.version;
        yield s;
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.wakers.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.wakers.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<ServiceSnapshot, void, undefined> {
    return this.snapshots();
  }

  close(): void {
    if (this.stop.signal.aborted) return;
    this.stop.abort();
    this.cache.close();
    this.wake();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** One snapshot per change of the cache, made from its contents; the set ends with the cache. */
  private async follow(): Promise<void> {
    for await (const change of this.cache.changes()) {
      const instances = this.cache
        .entries()
        .map((kv) => decodeInstance(this.idOf(kv), kv.value))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.snapshot = { service: this.service, instances, revision: this.cache.revision, resynced: change.reason === 'resync', version: this.snapshot.version + 1 };
      this.wake();
    }
    this.close();
  }

  private wake(): void {
    const ws = this.wakers;
    this.wakers = new Set();
    for (const w of ws) w();
  }

  private idOf(kv: KeyValue): string {
    return toText(kv.key).slice(this.prefix.length);
  }
}

/** `client.registry`: register instances, discover live sets. */
export class Registry {
  constructor(private readonly client: Client) {}

  /**
   * Registers `instance` under `<service>/<instance.id>` and keeps it registered (see the module contract) until
   * the registration is closed. Resolves once first written; rejects on `signal`/`timeoutMs` before that.
   */
  async register(service: string, instance: ServiceInstance, options: RegisterOptions = {}): Promise<Registration> {
    if (instance.id === '' || instance.id.includes('/')) throw new RangeError(`instance id must be non-empty and without '/': ${JSON.stringify(instance.id)}`);
    const reg = new Registration(this.client, service, instance, options.ttl ?? 10);
    try {
      await reg.registered({ signal: options.signal, timeoutMs: options.timeoutMs });
      return reg;
    } catch (err) {
      await reg.close();
      throw err;
    }
  }

  /** A live set of `service`'s instances (it ends when `signal` aborts or it is closed). */
  discover(service: string, options: { signal?: AbortSignal } = {}): ServiceSet {
    return new ServiceSet(this.client, service, options.signal);
  }

  /** The instances registered right now (one linearizable read). */
  async list(service: string, options: CallOptions = {}): Promise<ServiceInstance[]> {
    const prefix = `${service}/`;
    const r = await this.client.range(prefix, { ...options, prefix: true });
    return r.kvs.map((kv) => decodeInstance(toText(kv.key).slice(prefix.length), kv.value));
  }
}
