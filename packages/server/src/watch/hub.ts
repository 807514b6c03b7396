import { Event_EventType, type Event, type KeyValue } from '@latchkey/proto';
import type { RevisionChanges } from '../apply/applier.js';
import { keyString } from '../mvcc/keys.js';
import type { KVStore } from '../mvcc/store.js';
import { EventBatch } from './event-batch.js';

/**
 * A watcher as the hub sees it: a key range, the next revision it must be told about, and where to send.
 *
 * Invariant: every event with revision < `nextRev` matching the range has been handed to `deliver` (or the
 * watcher was canceled); no event is delivered twice; events reach the watcher in revision order, all events of
 * one revision in one delivery.
 */
export interface HubWatcher {
  /** binary-string key (see mvcc/keys.ts) */
  readonly key: string;
  /** exclusive end; undefined = the single key; '' = every key >= key */
  readonly end: string | undefined;
  nextRev: bigint;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  /**
   * Hands events (of one or more whole revisions) to the stream; `rev` is the store revision they are current
   * as of. Returns false if the stream is over its buffer bound: the events were NOT taken and the watcher must
   * retry them later from history.
   */
  deliver(batch: EventBatch, rev: bigint): boolean;
  /** The watcher's start revision was compacted away before it caught up. */
  compacted(compactRev: bigint): void;
  /** Whether the watcher's stream has room (catch-up work for a full stream is wasted). */
  canDeliver(): boolean;
  /**
   * The watcher has just caught up (left the unsynced set or a victim's queue), possibly without a delivery:
   * a progress request waiting for it can be answered now.
   */
  caughtUp?(): void;
}

/** How many revisions one catch-up delivery may span (etcd's watchBatchMaxRevs). */
const CATCH_UP_MAX_REVS = 1000n;

/**
 * A slow consumer keeps up to this many undelivered revisions (and bytes of encoded events) queued in memory
 * before it is moved to the unsynced set and catches up from history instead. The batches are the ones shared
 * by every watcher of the same changes, so queueing costs little memory per watcher.
 */
const VICTIM_MAX_REVS = 4096;
const VICTIM_MAX_BYTES = 64 * 1024 * 1024;
/** A slow consumer that drains gets what waited in responses of up to this many revisions (or bytes). */
const VICTIM_FLUSH_REVS = 256;
const VICTIM_FLUSH_BYTES = 1024 * 1024;

/** One revision's events for one watcher. */
interface Item {
  batch: EventBatch;
  rev: bigint;
}

/** A slow consumer's queue: batches it matched but whose stream was full, in revision order. */
interface Victim {
  items: Item[];
  bytes: number;
}

/**
 * Merges runs of per-revision batches into one response's worth. Watchers of the same changes hold the same
 * batch objects, so a run is merged (encoded, concatenated) once and shared by all of them.
 */
class BatchMerger {
  private readonly merged = new Map<string, EventBatch>();
  private readonly ids = new Map<EventBatch, number>();

  /** The first run of `items` (at most VICTIM_FLUSH_REVS revisions / VICTIM_FLUSH_BYTES, at least one). */
  take(items: readonly Item[]): { batch: EventBatch; last: bigint; n: number; bytes: number } {
    let n = 0;
    let bytes = 0;
    while (n < items.length && n < VICTIM_FLUSH_REVS && bytes < VICTIM_FLUSH_BYTES) bytes += items[n++]!.batch.encoded().length;
    const last = items[n - 1]!.rev;
    if (n === 1) return { batch: items[0]!.batch, last, n, bytes };
    let key = '';
    for (let i = 0; i < n; i++) key += `${this.id(items[i]!.batch)},`;
    let batch = this.merged.get(key);
    if (!batch) this.merged.set(key, (batch = EventBatch.concat(items.slice(0, n).map((t) => t.batch))));
    return { batch, last, n, bytes };
  }

  private id(b: EventBatch): number {
    let n = this.ids.get(b);
    if (n === undefined) this.ids.set(b, (n = this.ids.size));
    return n;
  }
}

/**
 * The watchable store: fans applied changes out to watchers, immediately.
 *
 * Watchers are either *synced* (caught up: `nextRev == currentRev + 1`; told about each revision as soon as it is
 * applied) or *unsynced* (behind: a new watcher with a past start revision, or a slow consumer whose stream was
 * full). Unsynced watchers catch up from the store's history in batches off the apply path, then rejoin the
 * synced set. The apply loop is never blocked and no event is dropped; a watcher whose history was compacted
 * before it caught up is canceled with the compaction revision, as etcd does.
 */
export class WatchHub {
  private readonly synced = new Set<HubWatcher>();
  private readonly unsynced = new Set<HubWatcher>();
  /** synced single-key watchers by key, for O(1) matching */
  private readonly byKey = new Map<string, Set<HubWatcher>>();
  /** synced range watchers */
  private readonly ranges = new Set<HubWatcher>();
  /**
   * Synced watchers whose stream was full: what they matched since waits here (etcd's "victims"), and is handed
   * over as soon as the stream drains. `nextRev` of such a watcher is its first undelivered revision.
   */
  private readonly victims = new Map<HubWatcher, Victim>();
  private syncScheduled = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private store: KVStore) {
    // A fallback for victims whose streams drained without telling us.
    this.timer = setInterval(() => this.scheduleSync(), 100);
    this.timer.unref();
  }

  get watcherCount(): number {
    return this.synced.size + this.unsynced.size;
  }

  /** Registers a watcher whose `nextRev` is already set (0 or less is not allowed). */
  add(w: HubWatcher): void {
    if (w.nextRev > this.store.currentRev) {
      this.addSynced(w);
    } else {
      this.unsynced.add(w);
      this.scheduleSync();
    }
  }

  /**
   * Switches to a store rebuilt from a snapshot: the revisions between what watchers have seen and the new
   * store's revision were never notified, so every watcher becomes unsynced and catches up from the new store's
   * history (or is canceled as compacted if that history is gone).
   */
  rebind(store: KVStore): void {
    this.store = store;
    this.victims.clear();
    for (const w of [...this.synced]) {
      this.removeSynced(w);
      this.unsynced.add(w);
    }
    this.scheduleSync();
  }

  remove(w: HubWatcher): void {
    this.removeSynced(w);
    this.victims.delete(w);
    this.unsynced.delete(w);
  }

  /** Caught up and not behind: every matching event up to the current revision has been handed over. */
  isSynced(w: HubWatcher): boolean {
    return this.synced.has(w) && !this.victims.has(w);
  }

  /** Asks the hub to retry unsynced watchers soon (a stream drained). */
  scheduleSync(): void {
    if (this.syncScheduled || (this.unsynced.size === 0 && this.victims.size === 0)) return;
    this.syncScheduled = true;
    setImmediate(() => {
      this.syncScheduled = false;
      this.flushVictims();
      this.syncUnsynced();
    });
  }

  close(): void {
    clearInterval(this.timer);
  }

  /**
   * Called by the applier after each committed batch, in revision order. A watcher that matches several
   * revisions of the batch gets them in one response (up to VICTIM_FLUSH_REVS revisions or VICTIM_FLUSH_BYTES;
   * each revision's events stay whole and in order), as etcd's catch-up does: under load, far fewer messages for
   * the same events.
   */
  notify(revs: readonly RevisionChanges[]): void {
    if (revs.length === 0) return;
    const pending = new Map<HubWatcher, Item[]>();
    for (const { rev, changes } of revs) {
      // Which changes each watcher matches, as a signature, so watchers with identical views share one batch.
      const matched = new Map<HubWatcher, number[]>();
      changes.forEach((c, i) => {
        const k = keyString(c.kv.key);
        const add = (w: HubWatcher): void => {
          if (c.type === Event_EventType.PUT ? w.noPut : w.noDelete) return;
          let idx = matched.get(w);
          if (!idx) matched.set(w, (idx = []));
          idx.push(i);
        };
        const exact = this.byKey.get(k);
        if (exact) for (const w of exact) add(w);
        for (const w of this.ranges) if (inRange(w, k)) add(w);
      });
      const batches = new Map<string, EventBatch>();
      for (const [w, idx] of matched) {
        const sig = `${w.prevKv ? 'p' : 'n'}${idx.join(',')}`;
        let batch = batches.get(sig);
        if (!batch) {
          batch = new EventBatch(idx.map((i) => toEvent(changes[i]!.type, changes[i]!.kv, w.prevKv ? changes[i]!.prev : undefined)));
          batches.set(sig, batch);
        }
        const v = this.victims.get(w);
        if (v) {
          // Behind already: queue behind what is waiting (order is per watcher), or give up on memory.
          v.items.push({ batch, rev });
          v.bytes += batch.encoded().length;
          if (v.items.length > VICTIM_MAX_REVS || v.bytes > VICTIM_MAX_BYTES) this.demote(w);
        } else {
          let items = pending.get(w);
          if (!items) pending.set(w, (items = []));
          items.push({ batch, rev });
        }
      }
    }
    const merger = new BatchMerger();
    for (const [w, items] of pending) {
      while (items.length > 0) {
        const { batch, last, n } = merger.take(items);
        if (!w.deliver(batch, last)) {
          // A slow consumer: keep what it missed, and hand it over when its stream drains.
          w.nextRev = items[0]!.rev;
          let total = 0;
          for (const it of items) total += it.batch.encoded().length;
          this.victims.set(w, { items, bytes: total });
          break;
        }
        items.splice(0, n);
      }
    }
    // Every synced watcher that is not behind has now seen every revision of the batch (matched or not).
    const lastRev = revs[revs.length - 1]!.rev;
    for (const w of this.synced) if (!this.victims.has(w)) w.nextRev = lastRev + 1n;
    this.scheduleSync();
  }

  /** Hands queued batches to slow consumers whose streams have room again. */
  private flushVictims(): void {
    const merger = new BatchMerger();
    for (const [w, v] of this.victims) {
      while (v.items.length > 0 && w.canDeliver()) {
        // Several waiting revisions in one response: fewer, larger messages for a consumer that fell behind.
        const { batch, last, n, bytes } = merger.take(v.items);
        if (!w.deliver(batch, last)) break;
        v.items.splice(0, n);
        v.bytes -= bytes;
        w.nextRev = last + 1n;
      }
      if (v.items.length === 0) {
        // Caught up: every revision it matched up to now has been handed over.
        this.victims.delete(w);
        w.nextRev = this.store.currentRev + 1n;
        w.caughtUp?.();
      }
    }
  }

  /** A victim too far behind: drop its queue and let it catch up from history (nextRev is its first miss). */
  private demote(w: HubWatcher): void {
    this.victims.delete(w);
    this.removeSynced(w);
    this.unsynced.add(w);
  }

  /**
   * Catches up unsynced watchers from the store's history. The history since the oldest watcher's next revision
   * is read and decoded once per pass (at most CATCH_UP_MAX_REVS revisions), then split among the watchers;
   * watchers with the same start, range and options share one event batch. Watchers whose streams are still
   * full are skipped until they drain.
   */
  private syncUnsynced(): void {
    const cur = this.store.currentRev;
    const compact = this.store.compactRev;
    let minRev = cur + 1n;
    const todo: HubWatcher[] = [];
    for (const w of this.unsynced) {
      if (w.nextRev > cur) {
        this.unsynced.delete(w);
        this.addSynced(w);
        w.caughtUp?.();
      } else if (compact > 0n && w.nextRev < compact) {
        this.unsynced.delete(w);
        w.compacted(compact);
      } else if (w.canDeliver()) {
        todo.push(w);
        if (w.nextRev < minRev) minRev = w.nextRev;
      }
    }
    if (todo.length > 0) {
      const upTo = minRev + CATCH_UP_MAX_REVS - 1n < cur ? minRev + CATCH_UP_MAX_REVS - 1n : cur;
      const history: { type: Event_EventType; kv: KeyValue; key: string }[] = [];
      this.store.history(minRev - 1n, upTo, (type, kv) => void history.push({ type, kv, key: keyString(kv.key) }));
      const prevs = new Map<number, KeyValue | undefined>();
      const batches = new Map<string, EventBatch>();
      for (const w of todo) {
        // A watcher already past this window waits for the next pass (moving it back would repeat events).
        if (w.nextRev > upTo) continue;
        const sig = JSON.stringify([String(w.nextRev), w.key, w.end ?? null, w.noPut, w.noDelete, w.prevKv]);
        let batch = batches.get(sig);
        if (!batch) {
          const events: Event[] = [];
          history.forEach((h, i) => {
            if (h.kv.modRevision < w.nextRev || !inRange(w, h.key)) return;
            if (h.type === Event_EventType.PUT ? w.noPut : w.noDelete) return;
            let prev: KeyValue | undefined;
            if (w.prevKv) {
              if (!prevs.has(i)) prevs.set(i, this.prevOf(h.type, h.kv));
              prev = prevs.get(i);
            }
            events.push(toEvent(h.type, h.kv, prev));
          });
          batches.set(sig, (batch = new EventBatch(events)));
        }
        if (batch.events.length > 0 && !w.deliver(batch, cur)) continue; // full again: retry after it drains
        w.nextRev = upTo + 1n;
        if (w.nextRev > cur) {
          this.unsynced.delete(w);
          this.addSynced(w);
          w.caughtUp?.();
        }
      }
    }
    if (this.unsynced.size > 0) {
      // More history to send, or streams still full: keep going without starving other work.
      setTimeout(() => this.scheduleSync(), 1).unref();
    }
    // Victims are retried when their streams drain (and by the 100 ms fallback timer).
  }

  /** The version a historical event replaced: the key at revision modRev - 1 (none for creations). */
  private prevOf(type: Event_EventType, kv: KeyValue): KeyValue | undefined {
    if (type === Event_EventType.PUT && kv.createRevision === kv.modRevision) return undefined;
    try {
      return this.store.range(kv.key, new Uint8Array(0), { rev: kv.modRevision - 1n, limit: 1, countOnly: false }).kvs[0];
    } catch {
      return undefined; // compacted
    }
  }

  private addSynced(w: HubWatcher): void {
    this.synced.add(w);
    if (w.end === undefined) {
      let set = this.byKey.get(w.key);
      if (!set) this.byKey.set(w.key, (set = new Set()));
      set.add(w);
    } else {
      this.ranges.add(w);
    }
  }

  private removeSynced(w: HubWatcher): void {
    if (!this.synced.delete(w)) return;
    if (w.end === undefined) {
      const set = this.byKey.get(w.key);
      set?.delete(w);
      if (set?.size === 0) this.byKey.delete(w.key);
    } else {
      this.ranges.delete(w);
    }
  }
}

function inRange(w: HubWatcher, k: string): boolean {
  if (w.end === undefined) return k === w.key;
  return k >= w.key && (w.end === '' || k < w.end);
}

function toEvent(type: Event_EventType, kv: KeyValue, prev: KeyValue | undefined): Event {
  const e: Event = { type, kv };
  if (prev) e.prevKv = prev;
  return e;
}
