/**
 * `Client`: the entry point. One client holds one connection (channels to every endpoint), one watch stream and
 * one keep-alive stream, shared by every namespace view and recipe made from it.
 *
 * ```ts
 * const client = new Client({ endpoints: ['127.0.0.1:2379'] });
 * await client.put('config/a', 'v');
 * const kv = await client.get('config/a');                     // KeyValue | undefined
 * const r = await client.txn().if(Cmp.absent('k')).success(Op.put('k', 'v')).commit();
 * for await (const ev of client.watch('config/', { prefix: true, signal })) console.log(ev.type, ev.key);
 * await using held = await client.lock.acquire('/mylock', { ttl: 10 });
 * ```
 *
 * Retries: reads, watches, keep-alives and deletes are retried across endpoints; a put or txn whose outcome is
 * unknown (connection lost after sending, deadline passed) is reported, never resent — pass `idempotent: true`
 * when you know resending is harmless.
 */
import {
  ClusterService,
  KVService,
  MaintenanceService,
  type DeleteRangeResponse,
  type Init,
  type KeyValue,
  type Member,
  type MethodDesc,
  type PutResponse,
  type RangeResponse,
  type RequestOf,
  type ResponseHeader,
  type ResponseOf,
  type StatusResponse,
  type TxnResponse,
} from '@latchkey/proto';
import { type Bytes, toBytes, toText } from './bytes.js';
import { type CallOptions, Connection, type ConnectionOptions } from './connection.js';
import { LeaseApi } from './lease.js';
import {
  type Condition,
  deleteRequest,
  type DeleteOptions,
  type GetOptions,
  Namespace,
  type Operation,
  putRequest,
  type PutOptions,
  rangeRequest,
} from './ops.js';
import { Barrier } from './recipes/barrier.js';
import { Counter } from './recipes/counter.js';
import { DoubleBarrier } from './recipes/double-barrier.js';
import { Election, type ElectionOptions } from './recipes/election.js';
import { LockApi } from './recipes/lock.js';
import { PrefixCache, type PrefixCacheOptions } from './recipes/prefix-cache.js';
import { Queue } from './recipes/queue.js';
import { Registry } from './recipes/registry.js';
import { RwLock } from './recipes/rwlock.js';
import { Semaphore } from './recipes/semaphore.js';
import { Session, type SessionOptions } from './recipes/session.js';
import { type Watch, WatchMux, type WatchOptions } from './watch.js';

export interface ClientOptions extends ConnectionOptions {
  /** Prefix every key with this namespace (like etcd's `namespace` package / `--namespace`). */
  namespace?: string | Uint8Array;
}

export interface RangeResult {
  kvs: KeyValue[];
  more: boolean;
  count: bigint;
  header: ResponseHeader;
}

export interface PutResult {
  header: ResponseHeader;
  prevKv: KeyValue | undefined;
}

export interface DeleteResult {
  header: ResponseHeader;
  deleted: bigint;
  prevKvs: KeyValue[];
}

export type OpResult =
  | ({ type: 'range' } & RangeResult)
  | ({ type: 'put' } & PutResult)
  | ({ type: 'delete' } & DeleteResult)
  | ({ type: 'txn' } & TxnResult);

export interface TxnResult {
  succeeded: boolean;
  header: ResponseHeader;
  /** One result per operation of the branch that ran. */
  responses: OpResult[];
}

export type WriteOptions = CallOptions & {
  /** Resend after an ambiguous failure (only when a duplicate application is harmless). */
  idempotent?: boolean;
};

const EMPTY_HEADER: ResponseHeader = { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };

/** A transaction under construction: `client.txn().if(...).success(...).failure(...).commit()`. */
export class TxnBuilder {
  private readonly conditions: Condition[] = [];
  private readonly onSuccess: Operation[] = [];
  private readonly onFailure: Operation[] = [];

  constructor(
    private readonly client: Client,
    private readonly commitHook?: (result: TxnResult) => TxnResult,
  ) {}

  /** Adds conditions; all must hold for the success branch to run. */
  if(...conditions: Condition[]): this {
    this.conditions.push(...conditions);
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

  async commit(options: WriteOptions = {}): Promise<TxnResult> {
    const result = await this.client.rawTxn(this.conditions, this.onSuccess, this.onFailure, options);
    return this.commitHook ? this.commitHook(result) : result;
  }
}

export class Client {
  readonly conn: Connection;
  readonly ns: Namespace;
  readonly leases: LeaseApi;
  private readonly watchMux: WatchMux;
  private readonly owned: boolean;
  private lockApi: LockApi | undefined;
  private registryApi: Registry | undefined;

  constructor(options: ClientOptions = {}, shared?: { parent: Client; ns: Namespace }) {
    if (shared) {
      this.conn = shared.parent.conn;
      this.leases = shared.parent.leases;
      this.watchMux = shared.parent.watchMux;
      this.ns = shared.ns;
      this.owned = false;
    } else {
      this.conn = new Connection(options);
      this.leases = new LeaseApi(this.conn);
      this.watchMux = new WatchMux(this.conn);
      this.ns = options.namespace === undefined ? Namespace.root : new Namespace(toBytes(options.namespace));
      this.owned = true;
    }
  }

  /** A view of this client whose keys all live under `prefix` (shares the connection; closing it is a no-op). */
  namespace(prefix: Bytes): Client {
    return new Client({}, { parent: this, ns: this.ns.child(prefix) });
  }

  // ---- KV ----

  /** The key-value at `key`, or undefined. */
  async get(key: Bytes, options: GetOptions & CallOptions = {}): Promise<KeyValue | undefined> {
    const r = await this.range(key, { ...options, limit: options.prefix || options.end || options.fromKey ? options.limit : undefined });
    return r.kvs[0];
  }

  /** The value at `key` as UTF-8 text, or undefined. */
  async getString(key: Bytes, options: GetOptions & CallOptions = {}): Promise<string | undefined> {
    const kv = await this.get(key, options);
    return kv === undefined ? undefined : toText(kv.value);
  }

  /** Every key-value with `prefix`, as a map from key text to value text. */
  async getAll(prefix: Bytes, options: GetOptions & CallOptions = {}): Promise<Map<string, string>> {
    const r = await this.range(prefix, { ...options, prefix: true });
    return new Map(r.kvs.map((kv) => [toText(kv.key), toText(kv.value)]));
  }

  /** A range read (linearizable unless `serializable`). Retried across endpoints. */
  async range(key: Bytes, options: GetOptions & CallOptions = {}): Promise<RangeResult> {
    const res: RangeResponse = await this.conn.unary(KVService.Range, rangeRequest(this.ns, key, options), { ...options, idempotent: true });
    return this.rangeResult(res);
  }

  async put(key: Bytes, value: Bytes, options: PutOptions & WriteOptions = {}): Promise<PutResult> {
    const res: PutResponse = await this.conn.unary(KVService.Put, putRequest(this.ns, key, value, options), {
      ...options,
      idempotent: options.idempotent ?? false,
    });
    return { header: res.header ?? EMPTY_HEADER, prevKv: res.prevKv ? this.ns.strip(res.prevKv) : undefined };
  }

  /** Deletes `key` (or a range). Retried: deleting twice leaves the same state (`deleted` counts the last try). */
  async delete(key: Bytes, options: DeleteOptions & WriteOptions = {}): Promise<DeleteResult> {
    const res: DeleteRangeResponse = await this.conn.unary(KVService.DeleteRange, deleteRequest(this.ns, key, options), {
      ...options,
      idempotent: options.idempotent ?? true,
    });
    return this.deleteResult(res);
  }

  txn(): TxnBuilder {
    return new TxnBuilder(this);
  }

  /** @internal The txn builder's send path (also used by the recipes). */
  async rawTxn(conditions: readonly Condition[], success: readonly Operation[], failure: readonly Operation[], options: WriteOptions = {}): Promise<TxnResult> {
    const res: TxnResponse = await this.conn.unary(
      KVService.Txn,
      {
        compare: conditions.map((c) => c.build(this.ns)),
        success: success.map((o) => o.build(this.ns)),
        failure: failure.map((o) => o.build(this.ns)),
      },
      { ...options, idempotent: options.idempotent ?? false },
    );
    return this.txnResult(res);
  }

  /** Compacts the history up to `revision`; `physical` waits until the space is reclaimed. */
  async compact(revision: bigint, options: CallOptions & { physical?: boolean } = {}): Promise<ResponseHeader> {
    const res = await this.conn.unary(KVService.Compact, { revision, physical: options.physical ?? false }, { ...options, idempotent: true });
    return res.header ?? EMPTY_HEADER;
  }

  // ---- watch ----

  /** Watches `key` (or a range/prefix). See `Watch` for the resume and compaction contract. */
  watch(key: Bytes, options: WatchOptions = {}): Watch {
    return this.watchMux.watch(this.ns, key, options);
  }

  /** Asks the server for a progress notification on the watch stream. */
  requestWatchProgress(): void {
    this.watchMux.requestProgress();
  }

  // ---- sessions and recipes ----

  /** A lease-backed session (kept alive until closed) on which locks, elections and registrations live. */
  session(options: SessionOptions = {}): Promise<Session> {
    return Session.create(this, options);
  }

  /** Fair distributed locks (etcd's algorithm and key layout). */
  get lock(): LockApi {
    this.lockApi ??= new LockApi(this);
    return this.lockApi;
  }

  /** An election (etcd's `concurrency.Election` layout) under `prefix`. */
  election(prefix: Bytes, options: ElectionOptions = {}): Election {
    return new Election(this, toBytes(prefix), options);
  }

  /** A barrier on the key `name` (etcd's `recipes.Barrier`, lease-bound). */
  barrier(name: string): Barrier {
    return new Barrier(this, name);
  }

  /** A double barrier for `count` participants under `name` (etcd's `recipes.DoubleBarrier` layout). */
  doubleBarrier(name: string, count: number): DoubleBarrier {
    return new DoubleBarrier(this, name, count);
  }

  /** A fair counting semaphore with `permits` permits under `name`. */
  semaphore(name: string, permits: number): Semaphore {
    return new Semaphore(this, name, permits);
  }

  /** A fair readers-writer lock under `name` (etcd's `recipes.RWMutex` layout). */
  rwlock(name: string): RwLock {
    return new RwLock(this, name);
  }

  /** An at-least-once work queue with acks under `name`. */
  queue(name: string): Queue {
    return new Queue(this, name);
  }

  /**
   * A local mirror of every key under `prefix`, kept current by a watch (see `recipes/prefix-cache.ts`): lookups
   * without a round trip, and every change in order. Close it (or abort `signal`) when done.
   */
  cache(prefix: Bytes, options: PrefixCacheOptions = {}): PrefixCache {
    return new PrefixCache(this, prefix, options);
  }

  /** A shared 64-bit counter on `key`, changed only by compare-and-swap (see `recipes/counter.ts`). */
  counter(key: Bytes): Counter {
    return new Counter(this, key);
  }

  /** Service registration and discovery. */
  get registry(): Registry {
    this.registryApi ??= new Registry(this);
    return this.registryApi;
  }

  // ---- cluster and maintenance ----

  async memberList(options: CallOptions & { linearizable?: boolean } = {}): Promise<{ header: ResponseHeader; members: Member[] }> {
    const res = await this.conn.unary(ClusterService.MemberList, { linearizable: options.linearizable ?? false }, { ...options, idempotent: true });
    return { header: res.header ?? EMPTY_HEADER, members: res.members };
  }

  /** The status of the endpoint the client is connected to. */
  async status(options: CallOptions = {}): Promise<StatusResponse> {
    return this.conn.unary(MaintenanceService.Status, {}, { ...options, idempotent: true });
  }

  /** Any unary etcd RPC by its descriptor (an escape hatch for calls without a wrapper). */
  call<M extends MethodDesc>(method: M, request: Init<RequestOf<M>>, options: WriteOptions = {}): Promise<ResponseOf<M>> {
    return this.conn.unary(method, request, { ...options, idempotent: options.idempotent ?? false });
  }

  /** Closes the connection and every stream. Namespace views share their parent's connection and do nothing. */
  close(): void {
    if (!this.owned) return;
    this.watchMux.close();
    this.leases.close();
    this.conn.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---- result mapping ----

  private rangeResult(res: RangeResponse): RangeResult {
    return { kvs: res.kvs.map((kv) => this.ns.strip(kv)), more: res.more, count: res.count, header: res.header ?? EMPTY_HEADER };
  }

  private deleteResult(res: DeleteRangeResponse): DeleteResult {
    return { header: res.header ?? EMPTY_HEADER, deleted: res.deleted, prevKvs: res.prevKvs.map((kv) => this.ns.strip(kv)) };
  }

  private txnResult(res: TxnResponse): TxnResult {
    const header = res.header ?? EMPTY_HEADER;
    const responses = res.responses.map((r): OpResult => {
      if (r.responseRange) return { type: 'range', ...this.rangeResult(r.responseRange) };
      if (r.responsePut) return { type: 'put', header: r.responsePut.header ?? header, prevKv: r.responsePut.prevKv ? this.ns.strip(r.responsePut.prevKv) : undefined };
      if (r.responseDeleteRange) return { type: 'delete', ...this.deleteResult(r.responseDeleteRange) };
      if (r.responseTxn) return { type: 'txn', ...this.txnResult(r.responseTxn) };
      return { type: 'range', kvs: [], more: false, count: 0n, header };
    });
    return { succeeded: res.succeeded, header, responses };
  }
}
