/**
 * Watches multiplexed over one bidirectional `Watch` stream per client.
 *
 * Contract:
 *  - each watcher sees every event of its range exactly once, in revision order, across reconnects: after the
 *    stream breaks, every watcher is re-created on a (possibly different) endpoint from the revision after the
 *    last one it delivered (or after its creation revision / last progress notification);
 *  - a watcher whose resume revision was compacted ends with `CompactedError` (carrying the compaction revision)
 *    instead of silently skipping events; a watcher canceled by the server ends with a typed error;
 *  - the caller's `AbortSignal` (or `watch.cancel()`) ends iteration normally and cancels the server-side watcher.
 *
 * Create requests are matched to `created` responses in order (etcd answers creates on a stream in the order it
 * receives them), so watch IDs are learned, never chosen.
 */
import type { ClientStream } from '@latchkey/proto';
import {
  Event_EventType,
  GrpcCode,
  WatchCreateRequest_FilterType,
  WatchRequest,
  WatchResponse,
  WatchService,
  type Init,
  type KeyValue,
  type WatchCreateRequest,
} from '@latchkey/proto';
import { type Bytes, toText } from './bytes.js';
import { type Connection, delay } from './connection.js';
import { CompactedError, fromGrpcError, isTokenRefused, LatchkeyError } from './errors.js';
import { type Namespace, type RangeSelector } from './ops.js';

export interface WatchOptions extends RangeSelector {
  /** First revision to deliver (inclusive, history replay); absent = only changes after the watch is created. */
  startRevision?: bigint;
  /** Include the previous key-value in each event. */
  prevKv?: boolean;
  /** Do not deliver put events. */
  noPut?: boolean;
  /** Do not deliver delete events. */
  noDelete?: boolean;
  /** Ask the server for periodic progress notifications (they advance the resume revision). */
  progressNotify?: boolean;
  /** Ends the watch (iteration finishes normally). */
  signal?: AbortSignal;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly kv: KeyValue;
  readonly prevKv: KeyValue | undefined;
  /** The revision of the change (`kv.modRevision`). */
  readonly revision: bigint;
  /** The key as UTF-8 text (namespace removed). */
  readonly key: string;
  /** The value as UTF-8 text ('' for deletes). */
  readonly value: string;
}

/** The events of one watch response: one or more whole revisions, in order. */
export interface WatchBatch {
  readonly events: readonly WatchEvent[];
  /** The store revision when the batch was sent (≥ every event's revision). */
  readonly headerRevision: bigint;
}

type Item = { kind: 'batch'; batch: WatchBatch } | { kind: 'error'; error: Error } | { kind: 'end' };

/** One watcher. Iterate it for events (`for await (const ev of watch)`) or for batches (`watch.batches()`). */
export class Watch implements AsyncIterable<WatchEvent> {
  /** Resolves with the store revision at which the watcher was created (first creation only). */
  readonly created: Promise<bigint>;
  /** The revision the watcher resumes from after a reconnect: one past the last revision it has delivered. */
  nextRevision: bigint;
  /** Server-assigned ID on the current stream (-1n while not created). */
  watchId = -1n;
  private readonly items: Item[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private resolveCreated!: (rev: bigint) => void;
  private rejectCreated!: (e: Error) => void;
  private iterating = false;
  private readonly endController = new AbortController();

  constructor(
    private readonly mux: WatchMux,
    readonly request: Init<WatchCreateRequest>,
    readonly ns: Namespace,
    startRevision: bigint,
  ) {
    this.nextRevision = startRevision;
    this.created = new Promise<bigint>((resolve, reject) => {
      this.resolveCreated = resolve;
      this.rejectCreated = reject;
    });
    this.created.catch(() => undefined);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Aborts when the watch ends (for whatever reason). */
  get endedSignal(): AbortSignal {
    return this.endController.signal;
  }

  /** Stops the watcher; iteration ends after already-received events. Idempotent. */
  cancel(): void {
    if (this.ended) return;
    this.mux.remove(this);
    this.finish({ kind: 'end' });
  }

  async *batches(): AsyncGenerator<WatchBatch, void, undefined> {
    if (this.iterating) throw new Error('a Watch can be iterated once');
    this.iterating = true;
    try {
      for (;;) {
        const item = this.items.shift();
        if (item === undefined) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        if (item.kind === 'batch') yield item.batch;
        else if (item.kind === 'error') throw item.error;
        else return;
      }
    } finally {
      this.cancel();
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WatchEvent, void, undefined> {
    for await (const batch of this.batches()) yield* batch.events;
  }

  // ---- called by WatchMux ----

  /** @internal */
  onCreated(id: bigint, headerRevision: bigint): void {
    this.watchId = id;
    if (this.nextRevision === 0n) this.nextRevision = headerRevision + 1n;
    this.resolveCreated(headerRevision);
  }

  /** @internal */
  onEvents(res: WatchResponse): void {
    const events = res.events.map((e): WatchEvent => {
      const kv = this.ns.strip(e.kv!);
      return {
        type: e.type === Event_EventType.DELETE ? 'delete' : 'put',
        kv,
        prevKv: e.prevKv ? this.ns.strip(e.prevKv) : undefined,
        revision: kv.modRevision,
        get key() {
          return toText(kv.key);
        },
        get value() {
          return toText(kv.value);
        },
      };
    });
    const last = events[events.length - 1];
    if (last) this.nextRevision = last.revision + 1n;
    this.push({ kind: 'batch', batch: { events, headerRevision: res.header?.revision ?? 0n } });
  }

  /** @internal A progress notification: every event up to `rev` has been delivered. */
  onProgress(rev: bigint): void {
    if (rev + 1n > this.nextRevision) this.nextRevision = rev + 1n;
  }

  /** @internal */
  fail(error: Error): void {
    this.rejectCreated(error);
    this.finish({ kind: 'error', error });
  }

  private finish(item: Item): void {
    if (this.ended) return;
    this.ended = true;
    this.endController.abort();
    this.push(item);
  }

  private push(item: Item): void {
    this.items.push(item);
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

/** The single Watch stream of a client and the watchers multiplexed over it. */
export class WatchMux {
  private stream: ClientStream<WatchResponse> | undefined;
  private connecting: Promise<void> | undefined;
  /** Watchers by server-assigned id on the current stream. */
  private readonly byId = new Map<bigint, Watch>();
  /** Watchers whose create request is in flight, in send order. */
  private readonly pending: Watch[] = [];
  /** Every live watcher (created or not). */
  private readonly watchers = new Set<Watch>();
  private reconnectDelayMs = 0;
  /** A create was refused for its token and the stream re-opened with a new one; no creation has succeeded since. */
  private reloggedIn = false;

  constructor(private readonly conn: Connection) {}

  watch(ns: Namespace, key: Bytes, options: WatchOptions = {}): Watch {
    const k = ns.key(key);
    const filters: WatchCreateRequest_FilterType[] = [];
    if (options.noPut) filters.push(WatchCreateRequest_FilterType.NOPUT);
    if (options.noDelete) filters.push(WatchCreateRequest_FilterType.NODELETE);
    const request: Init<WatchCreateRequest> = {
      key: k,
      rangeEnd: ns.rangeEnd(k, options),
      progressNotify: options.progressNotify ?? false,
      filters,
      prevKv: options.prevKv ?? false,
    };
    const w = new Watch(this, request, ns, options.startRevision ?? 0n);
    if (options.signal) {
      if (options.signal.aborted) {
        w.cancel();
        return w;
      }
      // Removed when the watch ends, so a long-lived signal shared by many watches does not collect listeners.
      options.signal.addEventListener('abort', () => w.cancel(), { once: true, signal: w.endedSignal });
    }
    this.watchers.add(w);
    if (this.stream) this.sendCreate(w);
    else void this.ensureStream();
    return w;
  }

  /** Asks the server for a progress notification on the stream (etcd answers with the current revision). */
  requestProgress(): void {
    this.stream?.write(WatchRequest.encode({ progressRequest: {} }));
  }

  /** @internal */
  remove(w: Watch): void {
    if (!this.watchers.delete(w)) return;
    if (w.watchId >= 0n && this.byId.get(w.watchId) === w) {
      this.byId.delete(w.watchId);
      this.stream?.write(WatchRequest.encode({ cancelRequest: { watchId: w.watchId } }));
    }
    if (this.watchers.size === 0 && this.pending.length === 0) this.closeStream();
  }

  close(): void {
    for (const w of [...this.watchers]) w.cancel();
    this.closeStream();
  }

  private sendCreate(w: Watch): void {
    this.pending.push(w);
    w.watchId = -1n;
    this.stream!.write(WatchRequest.encode({ createRequest: { ...w.request, startRevision: w.nextRevision } }));
  }

  private ensureStream(): Promise<void> {
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    while (this.watchers.size > 0 && !this.conn.isClosed) {
      if (this.reconnectDelayMs > 0) await delay(this.reconnectDelayMs, this.conn.closedSignal);
      if (this.conn.isClosed || this.watchers.size === 0) return;
      try {
        const { client, metadata } = await this.conn.streamClient(Date.now() + 30_000, this.conn.closedSignal);
        const stream = client.makeBidiStreamRequest<Buffer, WatchResponse>(
          WatchService.Watch.path,
          (b) => b,
          (b) => WatchResponse.decode(b),
          metadata,
        );
        this.attach(stream);
        this.reconnectDelayMs = 0;
        for (const w of this.watchers) this.sendCreate(w);
        return;
      } catch (err) {
        if (this.conn.isClosed) return;
        this.reconnectDelayMs = Math.min(1_000, Math.max(25, this.reconnectDelayMs * 2));
        if (err instanceof LatchkeyError && !err.retryable && err.code !== GrpcCode.UNAVAILABLE) {
          for (const w of [...this.watchers]) this.failWatcher(w, err);
          return;
        }
      }
    }
  }

  /** Drops the current stream and opens a new one (new metadata), re-creating every watcher from its resume revision. */
  private reopen(): void {
    this.closeStream();
    if (this.conn.isClosed || this.watchers.size === 0) return;
    this.reconnectDelayMs = Math.max(this.reconnectDelayMs, 25);
    void this.ensureStream();
  }

  /** Forgets the current stream: no watcher is created on the server any more. */
  private detach(): void {
    this.stream = undefined;
    this.byId.clear();
    this.pending.length = 0;
    for (const w of this.watchers) w.watchId = -1n;
  }

  private attach(stream: ClientStream<WatchResponse>): void {
    this.stream = stream;
    stream.on('data', (res: WatchResponse) => this.onResponse(res));
    const onBroken = (err?: unknown): void => {
      if (this.stream !== stream) return;
      const unanswered = [...this.pending];
      this.detach();
      if (this.conn.isClosed || this.watchers.size === 0) return;
      const typed = err === undefined ? undefined : fromGrpcError(err);
      if (isTokenRefused(typed)) this.conn.invalidateToken();
      if (typed && (typed.code === GrpcCode.PERMISSION_DENIED || typed.code === GrpcCode.UNAUTHENTICATED) && typed.etcdError !== 'InvalidAuthToken') {
        for (const w of [...this.watchers]) this.failWatcher(w, typed);
        return;
      }
      // The server refused a message of ours as too large (`grpc: received message larger than max`, beyond
      // --max-request-bytes): a create still unanswered. Sent again it would break every new stream the same way,
      // so those watchers end with the error; the others are re-created.
      if (typed?.code === GrpcCode.RESOURCE_EXHAUSTED && typed.etcdError === undefined) {
        for (const w of unanswered) if (this.watchers.has(w)) this.failWatcher(w, typed);
        if (this.watchers.size === 0) return;
      }
      this.reconnectDelayMs = Math.max(this.reconnectDelayMs, 25);
      void this.ensureStream();
    };
    stream.on('error', (err: unknown) => onBroken(err));
    stream.on('end', () => onBroken());
  }

  private onResponse(res: WatchResponse): void {
    const rev = res.header?.revision ?? 0n;
    if (res.created) {
      const w = this.pending.shift();
      if (w === undefined) return;
      if (!this.watchers.has(w)) {
        // Canceled while its create was in flight: cancel the server side too.
        if (!res.canceled) this.stream?.write(WatchRequest.encode({ cancelRequest: { watchId: res.watchId } }));
        if (this.watchers.size === 0 && this.pending.length === 0) this.closeStream();
        return;
      }
      if (res.canceled) {
        const err = cancelError(res);
        // The stream's token was refused (it expired, the member restarted and forgot it, or an auth change made
        // it old): log in again and re-create every watcher on a new stream, once; a fresh token refused again
        // is the caller's problem.
        if (isTokenRefused(err) && !this.reloggedIn) {
          this.reloggedIn = true;
          this.conn.invalidateToken();
          this.reopen();
          return;
        }
        this.failWatcher(w, err);
        return;
      }
      this.reloggedIn = false;
      this.byId.set(res.watchId, w);
      w.onCreated(res.watchId, rev);
      if (res.events.length > 0) w.onEvents(res);
      return;
    }
    if (res.watchId === -1n || res.watchId === 0xffffffffffffffffn) {
      // A stream-wide progress answer (RequestProgress). It does not prove a given watcher is synced on etcd 3.4.
      return;
    }
    const w = this.byId.get(res.watchId);
    if (w === undefined) return;
    if (res.canceled) {
      this.byId.delete(res.watchId);
      this.failWatcher(w, cancelError(res));
      return;
    }
    if (res.events.length > 0) w.onEvents(res);
    else w.onProgress(rev);
  }

  private failWatcher(w: Watch, err: Error): void {
    this.watchers.delete(w);
    w.fail(err);
    if (this.watchers.size === 0 && this.pending.length === 0) this.closeStream();
  }

  /** Ends the current stream (if any) and forgets it. */
  private closeStream(): void {
    const s = this.stream;
    this.detach();
    s?.end();
    s?.cancel();
  }
}

function cancelError(res: WatchResponse): LatchkeyError {
  if (res.compactRevision > 0n) {
    return new CompactedError('etcdserver: mvcc: required revision has been compacted', res.compactRevision);
  }
  const reason = res.cancelReason || 'etcdserver: watch canceled';
  // etcd 3.4 (and latchkey, as etcd) puts a Go status text there (`rpc error: code = Unauthenticated desc =
  // etcdserver: invalid auth token`); the catalog knows the part after `desc = `.
  const desc = /^rpc error: code = \w+ desc = (.*)$/s.exec(reason)?.[1] ?? reason;
  return fromGrpcError({ code: GrpcCode.CANCELLED, details: desc });
}

