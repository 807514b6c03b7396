import { WatchCancelReason, WatchCreateRequest_FilterType as Filter, type Event, type Init, type ResponseHeader, type WatchCreateRequest, type WatchRequest, type WatchResponse } from '@latchkey/proto';
import { keyString } from '../mvcc/keys.js';
import type { KVStore } from '../mvcc/store.js';
import type { HubWatcher, WatchHub } from './hub.js';
import type { EventBatch } from './event-batch.js';

/** Where a watch stream's responses go (a gRPC stream or the gateway's chunked response). */
export interface WatchSink {
  /** Queues a response (always accepted; callers check `full` first for event deliveries). */
  send(resp: Init<WatchResponse>): void;
  /**
   * Queues an event response whose events may be shared with other watchers; a binary sink appends the batch's
   * pre-encoded events to the small per-watcher part instead of encoding them again.
   */
  sendEvents(header: ResponseHeader, watchId: bigint, batch: EventBatch): void;
  /** True while the sink holds more than its bound; `onDrain` fires when it drops below again. */
  readonly full: boolean;
  onDrain(fn: () => void): void;
  /** Approximate encoded size limit for one response (etcd: --max-request-bytes), used by fragmenting. */
  readonly maxResponseBytes: number;
}

export interface WatchStreamOptions {
  /** How often a watcher with progress_notify gets an empty response while idle (etcd default 10 min). */
  progressIntervalMs: number;
  /** Decides whether the stream may watch [key, end); returns etcd's cancel reason when it may not. */
  authorize?: (key: Uint8Array, end: Uint8Array) => string | undefined;
}

interface StreamWatcher extends HubWatcher {
  readonly id: bigint;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
  /** A delivery was sent since the last progress notification. */
  active: boolean;
}

/**
 * One Watch stream's protocol state (etcd's serverWatchStream): watch ids, create/cancel/progress requests, and
 * framing of events into WatchResponses.
 *
 * - Ids are per stream: 0, 1, 2… when the client sends watch_id 0; a client-chosen id already in use is refused
 *   with `created` + `canceled`, watch_id -1 and etcd's cancel reason.
 * - The create acknowledgement is queued before anything else for that watcher, in request order.
 * - A progress request is answered with watch_id -1 and the current revision once every watcher of the stream is
 *   caught up (so the revision it reports is a promise the stream has kept).
 */
export class WatchStream {
  private readonly watchers = new Map<bigint, StreamWatcher>();
  private nextId = 0n;
  private pendingProgress = false;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly authorize: WatchStreamOptions['authorize'];

  constructor(
    private readonly hub: WatchHub,
    private readonly store: KVStore,
    private readonly sink: WatchSink,
    private readonly header: (rev: bigint) => ResponseHeader,
    opts: WatchStreamOptions,
  ) {
    this.authorize = opts.authorize;
    sink.onDrain(() => this.hub.scheduleSync());
    this.timer = setInterval(() => this.progressTick(), opts.progressIntervalMs);
    this.timer.unref();
  }

  handle(req: WatchRequest): void {
    if (this.closed) return;
    if (req.createRequest) this.create(req.createRequest);
    else if (req.cancelRequest) this.cancel(req.cancelRequest.watchId);
    else if (req.progressRequest) this.progress();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const w of this.watchers.values()) this.hub.remove(w);
    this.watchers.clear();
  }

  private create(c: WatchCreateRequest): void {
    // etcd: an empty key means "\0" (the smallest key); a range end of "\0" means "every key >= key".
    const keyBytes = c.key.length === 0 ? Uint8Array.of(0) : c.key;
    const key = keyString(keyBytes);
    let end: string | undefined;
    if (c.rangeEnd.length === 1 && c.rangeEnd[0] === 0) end = '';
    else if (c.rangeEnd.length > 0) end = keyString(c.rangeEnd);
    const rev = this.store.currentRev;
    const denied = this.authorize?.(keyBytes, c.rangeEnd);
    if (denied !== undefined) {
      this.refuse(denied);
      return;
    }
    if (end !== undefined && end !== '' && key >= end) {
      this.refuse(WatchCancelReason.EmptyRange);
      return;
    }
    let id = c.watchId;
    if (id !== 0n) {
      if (this.watchers.has(id)) {
        this.refuse(WatchCancelReason.DuplicateId);
        return;
      }
    } else {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    }
    const stream = this;
    const w: StreamWatcher = {
      id,
      key,
      end,
      nextRev: c.startRevision > 0n ? c.startRevision : rev + 1n,
      noPut: c.filters.includes(Filter.NOPUT),
      noDelete: c.filters.includes(Filter.NODELETE),
      prevKv: c.prevKv,
      fragment: c.fragment,
      progressNotify: c.progressNotify,
      active: false,
      deliver(batch: EventBatch, at: bigint): boolean {
        return stream.deliver(this, batch, at);
      },
      canDeliver(): boolean {
        return !stream.sink.full;
      },
      caughtUp(): void {
        if (stream.pendingProgress) queueMicrotask(() => stream.flushProgress());
      },
      compacted(compactRev: bigint): void {
        stream.watchers.delete(this.id);
        stream.sink.send({ header: { ...stream.header(0n), revision: 0n }, watchId: this.id, canceled: true, compactRevision: compactRev });
        stream.flushProgress();
      },
    };
    this.watchers.set(id, w);
    this.sink.send({ header: this.header(rev), watchId: id, created: true });
    this.hub.add(w);
  }

  private refuse(reason: string): void {
    this.sink.send({ header: this.header(this.store.currentRev), watchId: -1n, created: true, canceled: true, cancelReason: reason });
  }

  private cancel(id: bigint): void {
    const w = this.watchers.get(id);
    // etcd sends nothing for an unknown id.
    if (!w) return;
    this.watchers.delete(id);
    this.hub.remove(w);
    this.sink.send({ header: this.header(this.store.currentRev), watchId: id, canceled: true });
    // It may have been the watcher a progress request was waiting for.
    this.flushProgress();
  }

  private progress(): void {
    this.pendingProgress = true;
    this.flushProgress();
  }

  private flushProgress(): void {
    if (!this.pendingProgress) return;
    for (const w of this.watchers.values()) if (!this.hub.isSynced(w)) return;
    this.pendingProgress = false;
    this.sink.send({ header: this.header(this.store.currentRev), watchId: -1n });
  }

  private progressTick(): void {
    for (const w of this.watchers.values()) {
      if (!w.progressNotify) continue;
      if (w.active) {
        w.active = false;
        continue;
      }
      if (this.hub.isSynced(w)) this.sink.send({ header: this.header(this.store.currentRev), watchId: w.id });
    }
  }

  /** Takes the events unless the sink is over its bound (then the hub retries them later from history). */
  private deliver(w: StreamWatcher, batch: EventBatch, rev: bigint): boolean {
    if (this.closed || !this.watchers.has(w.id)) return true;
    if (this.sink.full) return false;
    w.active = true;
    if (w.fragment && batch.events.length > 1) this.sendFragmented(w, [...batch.events], rev);
    else this.sink.sendEvents(this.header(rev), w.id, batch);
    if (this.pendingProgress) queueMicrotask(() => this.flushProgress());
    return true;
  }

  /** Splits events over several responses no larger than the sink's limit; all but the last say `fragment`. */
  private sendFragmented(w: StreamWatcher, events: Event[], rev: bigint): void {
    const limit = this.sink.maxResponseBytes;
    let batch: Event[] = [];
    let size = 0;
    const sizeOf = (e: Event): number => e.kv!.key.length + e.kv!.value.length + (e.prevKv ? e.prevKv.key.length + e.prevKv.value.length : 0) + 64;
    for (const e of events) {
      const s = sizeOf(e);
      if (batch.length > 0 && size + s > limit) {
        this.sink.send({ header: this.header(rev), watchId: w.id, events: batch, fragment: true });
        batch = [];
        size = 0;
      }
      batch.push(e);
      size += s;
    }
    this.sink.send({ header: this.header(rev), watchId: w.id, events: batch });
  }
}
