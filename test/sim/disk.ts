import { MemoryStorage, type ConfState, type Entry, type HardState, type Ready, type Snapshot, type Storage } from '@latchkey/server/raft';
import type { Prng } from './prng.js';

/** A write that reached the page cache but not the platter (no fsync yet). */
type PendingWrite = { kind: 'entries'; entries: Entry[] } | { kind: 'hardState'; hs: HardState } | { kind: 'snapshot'; snap: Snapshot };

/**
 * A node's disk, with the durability model the Ready contract is about. Everything written is visible at once to
 * the Raft core (through `live`), but only what was fsynced is sure to survive a crash: writes of a Ready with
 * `mustSync` false wait in a page cache, and at a crash an arbitrary prefix of them survives (as with LazyFS).
 * An fsync makes every earlier write durable.
 *
 * Snapshots the application takes (and the compaction that follows) are written synchronously: a snapshot file
 * is fsynced before the log is truncated, as a real server must do.
 */
export class SimDisk {
  /** What the Raft core reads. */
  live: MemoryStorage;
  /** What would be on the platter if the power went out now. */
  private durable: MemoryStorage;
  private pending: PendingWrite[] = [];
  /** Writes that were not synced, and bytes written in total (for statistics). */
  unsyncedWrites = 0;

  constructor(initial: MemoryStorage) {
    this.live = initial;
    this.durable = initial.clone();
  }

  /** Persists step 1 of a Ready: snapshot, entries, hard state; fsync if `sync`. */
  write(rd: Ready, sync: boolean): void {
    const ops: PendingWrite[] = [];
    if (rd.snapshot !== undefined) ops.push({ kind: 'snapshot', snap: rd.snapshot });
    if (rd.entries.length > 0) ops.push({ kind: 'entries', entries: rd.entries });
    if (rd.hardState !== undefined) ops.push({ kind: 'hardState', hs: rd.hardState });
    for (const op of ops) apply(this.live, op);
    if (sync) {
      this.flush();
      for (const op of ops) apply(this.durable, op);
    } else if (ops.length > 0) {
      this.unsyncedWrites++;
      for (const op of ops) this.pending.push(op);
    }
  }

  /** Records an application snapshot at `index` and compacts the log up to `compactTo` (<= index), durably. */
  snapshotAndCompact(index: number, confState: ConfState, data: Uint8Array, compactTo: number): void {
    this.flush();
    const term = this.live.term(index);
    takeSnapshot(this.live, index, term, confState, data, compactTo);
    takeSnapshot(this.durable, index, term, confState, data, compactTo);
  }

  /** The power goes out: a random prefix of the unsynced writes survives. Returns the storage a restart sees. */
  crash(rng: Prng): MemoryStorage {
    const keep = rng.chance(0.5) ? 0 : rng.int(this.pending.length + 1);
    for (let i = 0; i < keep; i++) apply(this.durable, this.pending[i]!);
    this.pending = [];
    this.live = this.durable.clone();
    return this.live;
  }

  private flush(): void {
    for (const op of this.pending) apply(this.durable, op);
    this.pending = [];
  }
}

function apply(s: MemoryStorage, op: PendingWrite): void {
  switch (op.kind) {
    case 'snapshot':
      if (op.snap.metadata.index > s.snapshot().metadata.index) s.applySnapshot(op.snap);
      return;
    case 'entries':
      s.append(op.entries);
      return;
    case 'hardState':
      s.setHardState(op.hs);
      return;
  }
}

function takeSnapshot(s: MemoryStorage, index: number, term: number, confState: ConfState, data: Uint8Array, compactTo: number): void {
  if (index <= s.snapshot().metadata.index) return;
  if (index > s.lastIndex()) {
    // Only possible when the log lost entries (a durability bug): the snapshot replaces the whole log.
    s.applySnapshot({ metadata: { index, term, confState }, data });
    return;
  }
  s.createSnapshot(index, confState, data);
  if (compactTo >= s.firstIndex()) s.compact(compactTo);
}

/** A `Storage` that reads `mem` but answers `snapshot()` with a fresh snapshot of the application when it can. */
export class LiveStorage implements Storage {
  constructor(
    public mem: MemoryStorage,
    private readonly fresh: () => Snapshot | undefined,
  ) {}

  initialState() {
    return this.mem.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number) {
    return this.mem.entries(lo, hi, maxBytes);
  }
  term(i: number) {
    return this.mem.term(i);
  }
  firstIndex() {
    return this.mem.firstIndex();
  }
  lastIndex() {
    return this.mem.lastIndex();
  }
  snapshot() {
    const f = this.fresh();
    const s = this.mem.snapshot();
    return f !== undefined && f.metadata.index > s.metadata.index ? f : s;
  }
}
