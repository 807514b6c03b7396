import { keyString } from '../mvcc/keys.js';
import { type Backend, type BackendView, Table } from './backend.js';

/** One write waiting to be committed: the key's new value, or null for a deletion. */
interface Staged {
  readonly key: Buffer;
  readonly value: Buffer | null;
}

export interface WriteBehindOptions {
  /** Longest time, in milliseconds, that a deferred write waits before it is committed to the inner backend. */
  readonly flushMs: number;
  /** A commit starts early once this many keys are waiting. */
  readonly maxWrites: number;
  /**
   * Told when a commit started by the timer fails. The writes stay waiting (reads still see them) and the next
   * flush tries again; a backend that cannot commit is the caller's to treat as fatal.
   */
  readonly onFlushError: (err: unknown) => void;
}

/**
 * Write-behind over another backend, as etcd's backend batches bbolt commits (every 100 ms or 10,000 writes).
 *
 * `deferredBatch` applies its writes to an in-memory overlay instead of committing them: reads (`get`, `scan`)
 * see the overlay over the inner backend at once, and the overlay is committed to the inner backend in one
 * transaction within `flushMs`, or when `maxWrites` keys wait. Many small batches therefore cost one commit (one
 * copy-on-write of each touched B+tree path) instead of one each.
 *
 * Invariants:
 * - The inner backend always holds a prefix of the batch history: the overlay is committed whole, in one inner
 *   transaction, or not at all; `batch` commits the overlay and its own writes in one inner transaction.
 * - Anything that looks at the inner backend directly (`sync`, `copyTo`, `readView`, `close`) commits the
 *   overlay first, so it sees every batch that returned before the call.
 * - A deferred batch that throws leaves the overlay as it was before the batch.
 *
 * The price is the contract for killed processes: a deferred batch survives the process being killed only once
 * it has been committed. It is for writes the caller can redo after a restart: the applier's, whose entries the
 * write-ahead log keeps until `sync()` has made the applied index they lead to durable.
 */
export class WriteBehindBackend implements Backend {
  private overlay = new Map<Table, Map<string, Staged>>();
  /** Keys waiting in the overlay, and an estimate of their bytes (for `size`). */
  private waiting = 0;
  private waitingBytes = 0;
  private mode: 'none' | 'deferred' | 'now' = 'none';
  /** During a deferred batch: how to put the overlay back if it throws (table, key, the entry it replaced). */
  private undo: [Map<string, Staged>, string, Staged | undefined][] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly inner: Backend,
    private readonly opts: WriteBehindOptions,
  ) {}

  /** As `batch`, but the commit is deferred (see the class comment). */
  deferredBatch<T>(fn: () => T): T {
    this.enter('deferred');
    let out: T;
    try {
      out = fn();
    } catch (err) {
      this.rollback();
      throw err;
    } finally {
      this.mode = 'none';
      this.undo = [];
    }
    if (this.waiting >= this.opts.maxWrites) this.flushReporting();
    else if (this.waiting > 0) this.schedule();
    return out;
  }

  batch<T>(fn: () => T): T {
    this.enter('now');
    // The waiting writes go into the same inner transaction, first; from then on the inner transaction alone
    // answers reads, so `fn` reads its own writes. If it fails, they wait again as they were.
    const held = { overlay: this.overlay, waiting: this.waiting, bytes: this.waitingBytes };
    try {
      return this.inner.batch(() => {
        this.drainInto();
        this.clear();
        return fn();
      });
    } catch (err) {
      this.overlay = held.overlay;
      this.waiting = held.waiting;
      this.waitingBytes = held.bytes;
      throw err;
    } finally {
      this.mode = 'none';
    }
  }

  get(table: Table, key: Uint8Array): Buffer | undefined {
    if (this.waiting > 0) {
      const s = this.overlay.get(table)?.get(keyString(key));
      if (s) return s.value === null ? undefined : Buffer.from(s.value);
    }
    return this.inner.get(table, key);
  }

  put(table: Table, key: Uint8Array, value: Uint8Array): void {
    if (this.mode === 'deferred') this.stage(table, key, Buffer.from(value));
    else this.inner.put(table, key, value);
  }

  del(table: Table, key: Uint8Array): void {
    if (this.mode === 'deferred') this.stage(table, key, null);
    else this.inner.del(table, key);
  }

  scan(table: Table, start: Uint8Array | undefined, end: Uint8Array | undefined, fn: (key: Buffer, value: Buffer) => boolean | void): void {
    const staged = this.overlay.get(table);
    if (!staged || staged.size === 0) return this.inner.scan(table, start, end, fn);
    // Merge the overlay's keys in range (sorted: latin1 strings compare as their bytes do) with the inner scan;
    // on equal keys the overlay wins, and a staged deletion hides the inner entry.
    const lo = start ? keyString(start) : undefined;
    const hi = end ? keyString(end) : undefined;
    const mine = [...staged].filter(([k]) => (lo === undefined || k >= lo) && (hi === undefined || k < hi));
    mine.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let i = 0;
    let stopped = false;
    /** Emits staged entries with keys below `bound` (all when undefined); false once `fn` asked to stop. */
    const emitBelow = (bound: string | undefined): boolean => {
      for (; i < mine.length && (bound === undefined || mine[i]![0] < bound); i++) {
        const s = mine[i]![1];
        if (s.value !== null && fn(Buffer.from(s.key), Buffer.from(s.value)) === false) {
          i++;
          return false;
        }
      }
      return true;
    };
    this.inner.scan(table, start, end, (k, v) => {
      const ks = keyString(k);
      let go = emitBelow(ks);
      if (go) {
        let value: Buffer | null = v;
        if (i < mine.length && mine[i]![0] === ks) value = mine[i++]![1].value;
        if (value !== null) go = fn(k, value === v ? v : Buffer.from(value)) !== false;
      }
      stopped = !go;
      return go;
    });
    if (!stopped) emitBelow(undefined);
  }

  async sync(): Promise<void> {
    this.flushNow();
    await this.inner.sync();
  }

  /**
   * Commits first (outside a batch), so that the sizes cover every write that returned and two calls with no write
   * between them agree (Status and the metrics report them). Inside a batch: the inner sizes plus the waiting
   * bytes.
   */
  size(): { total: number; inUse: number } {
    if (this.mode === 'none') this.flushNow();
    const s = this.inner.size();
    return { total: s.total + this.waitingBytes, inUse: s.inUse + this.waitingBytes };
  }

  /** The inner estimate plus the waiting bytes, without committing them (the quota samples this often). */
  sizeInUse(): number {
    return this.inner.sizeInUse() + this.waitingBytes;
  }

  async copyTo(out: string): Promise<void> {
    this.flushNow();
    await this.inner.copyTo(out);
  }

  readView(): BackendView {
    this.flushNow();
    return this.inner.readView();
  }

  async close(): Promise<void> {
    this.flushNow();
    await this.inner.close();
  }

  /** Commits the overlay to the inner backend now (a no-op when nothing waits). Not inside a batch. */
  flushNow(): void {
    if (this.mode !== 'none') throw new Error('backend: cannot flush inside a batch');
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.waiting === 0) return;
    this.inner.batch(() => this.drainInto());
    this.clear();
  }

  // ------------------------------------------------------------------------------------------------ internals

  private enter(mode: 'deferred' | 'now'): void {
    if (this.mode !== 'none') throw new Error('backend: batches do not nest');
    this.mode = mode;
    this.undo = [];
  }

  private stage(table: Table, key: Uint8Array, value: Buffer | null): void {
    let m = this.overlay.get(table);
    if (!m) this.overlay.set(table, (m = new Map()));
    const ks = keyString(key);
    const prev = m.get(ks);
    this.undo.push([m, ks, prev]);
    m.set(ks, { key: prev?.key ?? Buffer.from(key), value });
    this.account(prev, 1);
    this.account(m.get(ks), -1);
  }

  /** Adjusts the counters for `s` leaving (sign 1) or entering (sign -1) the overlay. */
  private account(s: Staged | undefined, sign: 1 | -1): void {
    if (!s) return;
    this.waiting -= sign;
    this.waitingBytes -= sign * (s.key.length + (s.value?.length ?? 0));
  }

  private rollback(): void {
    for (let j = this.undo.length - 1; j >= 0; j--) {
      const [m, ks, prev] = this.undo[j]!;
      this.account(m.get(ks), 1);
      if (prev) m.set(ks, prev);
      else m.delete(ks);
      this.account(prev, -1);
    }
  }

  /** Writes the overlay into the inner backend's open batch (the overlay itself is cleared by the caller). */
  private drainInto(): void {
    if (this.waiting === 0) return;
    for (const [table, m] of this.overlay) {
      for (const s of m.values()) {
        if (s.value === null) this.inner.del(table, s.key);
        else this.inner.put(table, s.key, s.value);
      }
    }
  }

  /** Empties the overlay (a fresh map: `batch` keeps the old one to put back if its transaction fails). */
  private clear(): void {
    this.overlay = new Map();
    this.waiting = 0;
    this.waitingBytes = 0;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushReporting();
    }, this.opts.flushMs);
    this.timer.unref();
  }

  /** A commit nobody waits on (timer, limit): a failure goes to `onFlushError` and is retried a period later. */
  private flushReporting(): void {
    try {
      this.flushNow();
    } catch (err) {
      this.opts.onFlushError(err);
      this.schedule();
    }
  }
}
