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
 * Watchers with the same key range and options ("a view"): they match exactly the same changes, so matching is
 * done once per view and revision, and they share the batches. `members` are the view's synced watchers.
 */
interface View {
  readonly id: number;
  readonly sig: string;
  readonly key: string;
  readonly end: string | undefined;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly members: Set<HubWatcher>;
}

/** One response's worth of a watcher's queue: `n` items merged into `batch`, current as of `last`. */
interface Run {
  batch: EventBatch;
  last: bigint;
  n: number;
  bytes: number;
}

/** The first run of `items` (at most VICTIM_FLUSH_REVS revisions / VICTIM_FLUSH_BYTES, at least one). */
function takeRun(items: readonly Item[], from: number): Run {
  let n = 0;
  let bytes = 0;
  while (from + n < items.length && n < VICTIM_FLUSH_REVS && bytes < VICTIM_FLUSH_BYTES) bytes += items[from + n++]!.batch.encoded().length;
  const last = items[from + n - 1]!.rev;
  const batch = n === 1 ? items[from]!.batch : EventBatch.concat(items.slice(from, from + n).map((t) => t.batch));
  return { batch, last, n, bytes };
}

/**
 * The watchable store: fans applied changes out to watchers, immediately.
 *
 * Watchers are either *synced* (caught up: `nextRev == currentRev + 1`; told about each revision as soon as it is
 * applied), *unsynced* (behind: a new watcher with a past start revision, or a slow consumer whose stream was
 * full) or *waiting* (ahead: a start revision beyond the next one, as when a client resumes a watch on a member
 * that lags behind the one it watched before). Unsynced watchers catch up from the store's history in batches off
 * the apply path, then rejoin the synced set; waiting ones join it once the store reaches their start revision, so
 * no watcher is ever told about a revision below its start. The apply loop is never blocked and no event is
 * dropped; a watcher whose history was compacted before it caught up is canceled with the compaction revision, as
 * etcd does.
 */
export class WatchHub {
  private readonly synced = new Set<HubWatcher>();
  private readonly unsynced = new Set<HubWatcher>();
  /** Watchers whose `nextRev` is beyond `currentRev + 1`: nothing to tell them until the store gets there. */
  private readonly waiting = new Set<HubWatcher>();
  /** Views with synced members, by view signature; single-key views also by key (O(1) matching), range views in a set. */
  private readonly views = new Map<string, View>();
  private readonly keyViews = new Map<string, Set<View>>();
  private readonly rangeViews = new Set<View>();
  /** The view of each synced watcher. */
  private readonly viewOf = new Map<HubWatcher, View>();
  private nextViewId = 0;
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
    return this.synced.size + this.unsynced.size + this.waiting.size;
  }

  /** Registers a watcher whose `nextRev` is already set (0 or less is not allowed). */
  add(w: HubWatcher): void {
    if (w.nextRev > this.store.currentRev) {
      this.join(w);
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
    for (const w of [...this.synced, ...this.waiting]) {
      this.removeSynced(w);
      this.waiting.delete(w);
      this.unsynced.add(w);
    }
    this.scheduleSync();
  }

  remove(w: HubWatcher): void {
    this.removeSynced(w);
    this.victims.delete(w);
    this.unsynced.delete(w);
    this.waiting.delete(w);
  }

  /**
   * Caught up and not behind: every matching event up to the current revision has been handed over (vacuously
   * for a waiting watcher, which wants none of them), so a progress notification may be sent.
   */
  isSynced(w: HubWatcher): boolean {
    return (this.synced.has(w) && !this.victims.has(w)) || this.waiting.has(w);
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
   * Called by the applier after each committed batch, in revision order. Matching is done once per view (not per
   * watcher), and a watcher that matches several revisions of the batch gets them in one response (up to
   * VICTIM_FLUSH_REVS revisions or VICTIM_FLUSH_BYTES; each revision's events stay whole and in order), as etcd's
   * catch-up does: under load, far fewer messages for the same events.
   */
  notify(revs: readonly RevisionChanges[]): void {
    if (revs.length === 0) return;
    /** What each view matched in this batch, per revision: delivered to its members that are not behind. */
    const pending = new Map<View, Item[]>();
    for (const { rev, changes } of revs) {
      const matched = new Map<View, number[]>();
      changes.forEach((c, i) => {
        const k = keyString(c.kv.key);
        const add = (v: View): void => {
          if (c.type === Event_EventType.PUT ? v.noPut : v.noDelete) return;
          let idx = matched.get(v);
          if (!idx) matched.set(v, (idx = []));
          idx.push(i);
        };
        const exact = this.keyViews.get(k);
        if (exact) for (const v of exact) add(v);
        for (const v of this.rangeViews) if (inRange(v, k)) add(v);
      });
      // Views that matched the same changes with the same options share one batch (encoded once).
      const batches = new Map<string, EventBatch>();
      for (const [view, idx] of matched) {
        const sig = `${view.prevKv ? 'p' : 'n'}${idx.join(',')}`;
        let batch = batches.get(sig);
        if (!batch) {
          batch = new EventBatch(idx.map((i) => toEvent(changes[i]!.type, changes[i]!.kv, view.prevKv ? changes[i]!.prev : undefined)));
          batches.set(sig, batch);
        }
        const item: Item = { batch, rev };
        let items = pending.get(view);
        if (!items) pending.set(view, (items = []));
        items.push(item);
        for (const w of view.members) {
          const v = this.victims.get(w);
          if (!v) continue;
          // Behind already: queue behind what is waiting (order is per watcher), or give up on memory.
          v.items.push(item);
          v.bytes += batch.encoded().length;
          if (v.items.length > VICTIM_MAX_REVS || v.bytes > VICTIM_MAX_BYTES) this.demote(w);
        }
      }
    }
    for (const [view, items] of pending) {
      // Members that were behind already got these items queued above: nothing to merge for them.
      let live = false;
      for (const w of view.members) {
        if (this.victims.has(w)) continue;
        live = true;
        break;
      }
      if (!live) continue;
      // The view's responses, merged once and shared by its members.
      const runs: { run: Run; from: number }[] = [];
      for (let from = 0; from < items.length; ) {
        const run = takeRun(items, from);
        runs.push({ run, from });
        from += run.n;
      }
      for (const w of view.members) {
        if (this.victims.has(w)) continue; // queued above
        for (const { run, from } of runs) {
          if (w.deliver(run.batch, run.last)) continue;
          // A slow consumer: keep what it missed, and hand it over when its stream drains.
          const rest = items.slice(from);
          let bytes = 0;
          for (const it of rest) bytes += it.batch.encoded().length;
          w.nextRev = rest[0]!.rev;
          this.victims.set(w, { items: rest, bytes });
          break;
        }
      }
    }
    // Every synced watcher that is not behind has now seen every revision of the batch (matched or not).
    const lastRev = revs[revs.length - 1]!.rev;
    for (const w of this.synced) if (!this.victims.has(w)) w.nextRev = lastRev + 1n;
    // Waiting watchers the store has reached: from their start on, this batch is history for them.
    for (const w of this.waiting) {
      if (w.nextRev > lastRev + 1n) continue;
      this.waiting.delete(w);
      if (w.nextRev === lastRev + 1n) {
        this.addSynced(w);
        w.caughtUp?.();
      } else {
        this.unsynced.add(w);
      }
    }
    this.scheduleSync();
  }

  /** Hands queued batches to slow consumers whose streams have room again. */
  private flushVictims(): void {
    // Victims of one view whose queues start at the same revision hold the same items: merge those once.
    const merged = new Map<string, Run>();
    for (const [w, v] of this.victims) {
      const view = this.viewOf.get(w)!;
      while (v.items.length > 0 && w.canDeliver()) {
        // Several waiting revisions in one response: fewer, larger messages for a consumer that fell behind.
        const key = `${view.id}:${v.items[0]!.rev}:${v.items.length}`;
        let run = merged.get(key);
        if (!run) merged.set(key, (run = takeRun(v.items, 0)));
        if (!w.deliver(run.batch, run.last)) break;
        v.items.splice(0, run.n);
        v.bytes -= run.bytes;
        w.nextRev = run.last + 1n;
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
        this.join(w);
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
    if (todo.length > 0 && this.unsynced.size > 0) {
      // More history to send: keep going without starving other work. Watchers whose streams are all full are
      // not polled: a stream that drains asks for a pass (and the 100 ms timer is the fallback), as for victims.
      setTimeout(() => this.scheduleSync(), 1).unref();
    }
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

  /** A watcher with nothing to catch up (`nextRev > currentRev`): synced if it is due next, else waiting. */
  private join(w: HubWatcher): void {
    if (w.nextRev > this.store.currentRev + 1n) {
      this.waiting.add(w);
      return;
    }
    this.addSynced(w);
    w.caughtUp?.();
  }

  private addSynced(w: HubWatcher): void {
    if (this.synced.has(w)) return;
    this.synced.add(w);
    const sig = `${w.end === undefined ? 'k' : `r${w.end.length}:${w.end}`}|${w.noPut ? 1 : 0}${w.noDelete ? 1 : 0}${w.prevKv ? 1 : 0}|${w.key}`;
    let view = this.views.get(sig);
    if (!view) {
      view = { id: this.nextViewId++, sig, key: w.key, end: w.end, noPut: w.noPut, noDelete: w.noDelete, prevKv: w.prevKv, members: new Set() };
      this.views.set(sig, view);
      if (view.end === undefined) {
        let set = this.keyViews.get(view.key);
        if (!set) this.keyViews.set(view.key, (set = new Set()));
        set.add(view);
      } else {
        this.rangeViews.add(view);
      }
    }
    view.members.add(w);
    this.viewOf.set(w, view);
  }

  private removeSynced(w: HubWatcher): void {
    if (!this.synced.delete(w)) return;
    const view = this.viewOf.get(w)!;
    this.viewOf.delete(w);
    view.members.delete(w);
    if (view.members.size > 0) return;
    this.views.delete(view.sig);
    if (view.end === undefined) {
      const set = this.keyViews.get(view.key);
      set?.delete(view);
      if (set?.size === 0) this.keyViews.delete(view.key);
    } else {
      this.rangeViews.delete(view);
    }
  }
}

function inRange(w: { key: string; end: string | undefined }, k: string): boolean {
  if (w.end === undefined) return k === w.key;
  return k >= w.key && (w.end === '' || k < w.end);
}

function toEvent(type: Event_EventType, kv: KeyValue, prev: KeyValue | undefined): Event {
  const e: Event = { type, kv };
  if (prev) e.prevKv = prev;
  return e;
}
