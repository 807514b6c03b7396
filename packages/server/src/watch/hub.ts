import { Event_EventType, type Event, type KeyValue } from '@latchkey/proto';
import type { RevisionChanges } from '../apply/applier.js';
import { keyString } from '../mvcc/keys.js';
import type { KVStore } from '../mvcc/store.js';

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
  deliver(events: Event[], rev: bigint): boolean;
  /** The watcher's start revision was compacted away before it caught up. */
  compacted(compactRev: bigint): void;
}

/** How many revisions one catch-up delivery may span (etcd's watchBatchMaxRevs). */
const CATCH_UP_MAX_REVS = 1000n;

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
  private syncScheduled = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly store: KVStore) {
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

  remove(w: HubWatcher): void {
    this.removeSynced(w);
    this.unsynced.delete(w);
  }

  isSynced(w: HubWatcher): boolean {
    return this.synced.has(w);
  }

  /** Asks the hub to retry unsynced watchers soon (a stream drained). */
  scheduleSync(): void {
    if (this.syncScheduled || this.unsynced.size === 0) return;
    this.syncScheduled = true;
    setImmediate(() => {
      this.syncScheduled = false;
      this.syncUnsynced();
    });
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** Called by the applier after each committed batch, in revision order. */
  notify(revs: readonly RevisionChanges[]): void {
    for (const { rev, changes } of revs) {
      const perWatcher = new Map<HubWatcher, Event[]>();
      for (const c of changes) {
        const k = keyString(c.kv.key);
        const add = (w: HubWatcher): void => {
          if (c.type === Event_EventType.PUT ? w.noPut : w.noDelete) return;
          let evs = perWatcher.get(w);
          if (!evs) perWatcher.set(w, (evs = []));
          evs.push(toEvent(c.type, c.kv, w.prevKv ? c.prev : undefined));
        };
        const exact = this.byKey.get(k);
        if (exact) for (const w of exact) add(w);
        for (const w of this.ranges) if (inRange(w, k)) add(w);
      }
      for (const [w, evs] of perWatcher) {
        if (!w.deliver(evs, rev)) {
          // A slow consumer: it will get this revision again from history.
          this.removeSynced(w);
          w.nextRev = rev;
          this.unsynced.add(w);
          continue;
        }
      }
      // Every synced watcher has now seen revision `rev` (whether or not it matched).
      for (const w of this.synced) w.nextRev = rev + 1n;
    }
    this.scheduleSync();
  }

  /** Catches up unsynced watchers from the store's history. */
  private syncUnsynced(): void {
    const cur = this.store.currentRev;
    const compact = this.store.compactRev;
    for (const w of [...this.unsynced]) {
      if (w.nextRev > cur) {
        this.unsynced.delete(w);
        this.addSynced(w);
        continue;
      }
      if (compact > 0n && w.nextRev < compact) {
        this.unsynced.delete(w);
        w.compacted(compact);
        continue;
      }
      const upTo = w.nextRev + CATCH_UP_MAX_REVS - 1n < cur ? w.nextRev + CATCH_UP_MAX_REVS - 1n : cur;
      const events: Event[] = [];
      this.store.history(w.nextRev - 1n, upTo, (type, kv) => {
        const k = keyString(kv.key);
        if (!inRange(w, k)) return;
        if (type === Event_EventType.PUT ? w.noPut : w.noDelete) return;
        events.push(toEvent(type, kv, w.prevKv ? this.prevOf(type, kv) : undefined));
      });
      if (events.length > 0 && !w.deliver(events, cur)) continue; // still full: try again later
      w.nextRev = upTo + 1n;
      if (w.nextRev > cur) {
        this.unsynced.delete(w);
        this.addSynced(w);
      }
    }
    if (this.unsynced.size > 0) {
      // More history to send, or streams still full: keep going without starving other work.
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
