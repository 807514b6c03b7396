import { crc32 } from 'node:zlib';
import { KeyValue, Event_EventType } from '@latchkey/proto';
import { type Backend, Table } from '../backend/backend.js';
import { CompactedError, CorruptError, FutureRevisionError } from './errors.js';
import { KeyIndex } from './key-index.js';
import { keyBytes, keyString, rangeEndString } from './keys.js';
import { decodeRevision, encodeRevision, type Revision } from './revision.js';
import { SortedKeyMap } from './sorted-keys.js';

/**
 * What the store needs from the lessor, declared here so that mvcc does not depend on lease (the composition root
 * passes the lessor in). Called inside the write batch, so the lessor's own bookkeeping commits with the data.
 */
export interface LeaseBook {
  attach(lease: bigint, key: Uint8Array): void;
  detach(lease: bigint, key: Uint8Array): void;
}

/** One change made by a write transaction, in the order made; what watchers are told. */
export interface Change {
  type: Event_EventType;
  /** For PUT: the new version. For DELETE: only `key` and `modRevision` (the deletion revision) are set. */
  kv: KeyValue;
  /** The version this change replaced, if the key was alive. */
  prev: KeyValue | undefined;
}

export interface RangeOptions {
  /** Store revision to read at; <= 0 means the newest. */
  rev: bigint;
  /** Maximum number of keys to return; 0 = all. `count` is unaffected. */
  limit: number;
  /** Return only the count. */
  countOnly: boolean;
  /** Choose the keys by their revisions before any value is read (see `RevisionPick`). */
  pick?: RevisionPick | undefined;
}

/**
 * A selection the key index can make without reading values: keep keys whose create and mod revisions lie within
 * the bounds (0 = unbounded), optionally order them by create or mod revision (a stable sort: ties keep key order),
 * and only then apply `limit`. `count` still counts every key in range, as etcd's does.
 */
export interface RevisionPick {
  minModRevision: bigint;
  maxModRevision: bigint;
  minCreateRevision: bigint;
  maxCreateRevision: bigint;
  sortBy: 'create' | 'mod' | undefined;
  descend: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Number of keys in the range alive at `rev`, regardless of `limit`. */
  count: number;
  /** The revision the read was served at. */
  rev: bigint;
}

const RECORD_PUT = 0;
const RECORD_TOMBSTONE = 1;
const META_COMPACT_REV = Buffer.from('compactRev');
const HASH_SEED = Buffer.from('key');

/**
 * The multi-version key-value store: an in-memory index of every key's revisions (`KeyIndex` per key, ordered
 * for ranges) over a backend table mapping each revision to the KeyValue written at it.
 *
 * Invariants:
 * - `currentRev` is the revision of the newest change (1 on a new store); every write transaction that changes
 *   at least one key advances it by exactly one, and all of its changes share that main revision.
 * - `compactRev` <= `currentRev`; reads below `compactRev` fail with CompactedError.
 * - The index and the backend agree at the end of every backend batch. A batch that throws leaves them
 *   disagreeing, so callers treat a failed write batch as fatal (the process exits and recovers from disk).
 */
export class KVStore {
  private index = new SortedKeyMap<KeyIndex>();
  private _currentRev = 1n;
  private _compactRev = -1n;
  private readonly scratch = Buffer.allocUnsafe(12);

  constructor(
    private readonly backend: Backend,
    private readonly leases: LeaseBook,
  ) {
    this.restore();
  }

  get currentRev(): bigint {
    return this._currentRev;
  }

  /** The newest compaction revision, or -1 if the store was never compacted. */
  get compactRev(): bigint {
    return this._compactRev;
  }

  /** Number of keys the index remembers (alive or with history). */
  get indexedKeys(): number {
    return this.index.size;
  }

  /** Reads a range at a committed revision (outside any write transaction). */
  range(key: Uint8Array, end: Uint8Array, opts: RangeOptions): RangeResult {
    return this.rangeAt(key, end, opts, this._currentRev);
  }

  /**
   * Starts a write transaction. Must be called inside `backend.batch`; every change it makes gets the main
   * revision `currentRev + 1`. Call `end()` to finish it.
   */
  write(): WriteTxn {
    return new WriteTxn(this);
  }

  /**
   * Compacts history at `rev`: afterwards, reads at revisions below `rev` fail, while a read at `rev` or later
   * sees the same data as before. Must run inside `backend.batch`.
   */
  compact(rev: bigint): void {
    if (rev <= this._compactRev) throw new CompactedError(this._compactRev);
    if (rev > this._currentRev) throw new FutureRevisionError(this._currentRev);
    const keep = new Set<string>();
    const forgotten: string[] = [];
    this.index.scan('', undefined, (k, ki) => {
      ki.compact(rev, keep, revKey);
      if (ki.isEmpty()) forgotten.push(k);
    });
    for (const k of forgotten) this.index.delete(k);
    const dead: Buffer[] = [];
    this.backend.scan(Table.Key, undefined, encodeRevision({ main: rev + 1n, sub: 0 }), (k) => {
      if (!keep.has(revKey(decodeRevision(k)))) dead.push(k);
    });
    for (const k of dead) this.backend.del(Table.Key, k);
    const meta = Buffer.allocUnsafe(8);
    meta.writeBigInt64BE(rev);
    this.backend.put(Table.Meta, META_COMPACT_REV, meta);
    this._compactRev = rev;
  }

  /** Every key alive at the newest revision with its lease, for rebuilding the lessor's key sets. */
  forEachLive(fn: (kv: KeyValue) => void): void {
    this.index.scan('', undefined, (_k, ki) => {
      const cur = ki.current();
      if (cur) fn(this.readKV(cur.modified));
    });
  }

  /** Reads every stored record with revision in (`after`, `upTo`], in revision order (for watch catch-up). */
  history(after: bigint, upTo: bigint, fn: (type: Event_EventType, kv: KeyValue) => boolean | void): void {
    this.backend.scan(
      Table.Key,
      encodeRevision({ main: after + 1n, sub: 0 }),
      encodeRevision({ main: upTo + 1n, sub: 0 }),
      (_k, v) => fn(v[0] === RECORD_TOMBSTONE ? Event_EventType.DELETE : Event_EventType.PUT, KeyValue.decode(v.subarray(1))),
    );
  }

  /** Visits stored records with revision <= `upTo` (and above the compaction point's kept set), for HashKV. */
  forEachRecord(upTo: bigint, fn: (rev: Buffer, record: Buffer) => void): void {
    this.backend.scan(Table.Key, undefined, encodeRevision({ main: upTo + 1n, sub: 0 }), fn);
  }

  /**
   * etcd's HashKV: a CRC-32 over every stored record up to `rev` (0: the newest), seeded with "key". Members that
   * applied the same history and compacted at the same revision give the same hash. Throws FutureRevisionError /
   * CompactedError for a revision outside the stored range.
   */
  hashKV(rev: bigint): { hash: number; revision: bigint; compactRevision: bigint } {
    const at = rev > 0n ? rev : this._currentRev;
    if (at > this._currentRev) throw new FutureRevisionError(this._currentRev);
    if (at < this._compactRev) throw new CompactedError(this._compactRev);
    let h = crc32(HASH_SEED);
    this.forEachRecord(at, (k, v) => {
      h = crc32(v, crc32(k, h));
    });
    return { hash: h >>> 0, revision: at, compactRevision: this._compactRev > 0n ? this._compactRev : 0n };
  }

  // ------------------------------------------------------------------------------------------------ internals

  /** @internal */
  rangeAt(key: Uint8Array, end: Uint8Array, opts: RangeOptions, viewRev: bigint): RangeResult {
    if (opts.rev > viewRev) throw new FutureRevisionError(viewRev);
    const rev = opts.rev <= 0n ? viewRev : opts.rev;
    if (rev < this._compactRev) throw new CompactedError(this._compactRev);
    const pick = opts.pick;
    const found: IndexHit[] = [];
    // With a sort, every match is collected and the limit applied afterwards.
    const cap = opts.limit > 0 && pick?.sortBy === undefined ? opts.limit : Infinity;
    let count = 0;
    const visit = (ki: KeyIndex): boolean => {
      const hit = ki.get(rev);
      if (!hit) return true;
      count++;
      if (opts.countOnly || found.length >= cap || (pick && !picked(pick, hit))) return true;
      found.push(hit);
      return true;
    };
    const start = keyString(key);
    if (end.length === 0) {
      const ki = this.index.get(start);
      if (ki) visit(ki);
    } else {
      const stop = rangeEndString(end);
      if (stop === undefined || start < stop) this.index.scan(start, stop, (_k, ki) => visit(ki));
    }
    let hits = found;
    if (pick?.sortBy !== undefined) {
      const of = pick.sortBy === 'create' ? (h: IndexHit) => h.created.main : (h: IndexHit) => h.modified.main;
      const sign = pick.descend ? -1 : 1;
      hits = found.sort((a, b) => sign * (of(a) < of(b) ? -1 : of(a) > of(b) ? 1 : 0));
      if (opts.limit > 0) hits = hits.slice(0, opts.limit);
    }
    const kvs = hits.map((h) => this.readKV(h.modified));
    return { kvs, count, rev: viewRev };
  }

  /** @internal */
  keyIndex(key: string): KeyIndex | undefined {
    return this.index.get(key);
  }

  /** @internal */
  addKeyIndex(ki: KeyIndex): void {
    this.index.set(ki.key, ki);
  }

  /** @internal live keys in [key, end) at the newest revision (including the open write transaction). */
  liveKeys(key: Uint8Array, end: Uint8Array): KeyIndex[] {
    const out: KeyIndex[] = [];
    const start = keyString(key);
    if (end.length === 0) {
      const ki = this.index.get(start);
      if (ki?.isAlive()) out.push(ki);
      return out;
    }
    const stop = rangeEndString(end);
    if (stop !== undefined && start >= stop) return out;
    this.index.scan(start, stop, (_k, ki) => {
      if (ki.isAlive()) out.push(ki);
    });
    return out;
  }

  /** @internal */
  readKV(rev: Revision): KeyValue {
    const rec = this.backend.get(Table.Key, encodeRevision(rev, this.scratch));
    if (!rec) throw new CorruptError(`missing record for revision ${rev.main}.${rev.sub}`);
    return KeyValue.decode(rec.subarray(1));
  }

  /** @internal */
  writeRecord(rev: Revision, kv: KeyValue, tombstone: boolean): void {
    const body = KeyValue.encode(kv);
    const rec = Buffer.allocUnsafe(body.length + 1);
    rec[0] = tombstone ? RECORD_TOMBSTONE : RECORD_PUT;
    body.copy(rec, 1);
    this.backend.put(Table.Key, encodeRevision(rev), rec);
  }

  /** @internal */
  get leaseBook(): LeaseBook {
    return this.leases;
  }

  /** @internal */
  commitRevision(rev: bigint): void {
    this._currentRev = rev;
  }

  private restore(): void {
    const meta = this.backend.get(Table.Meta, META_COMPACT_REV);
    if (meta) this._compactRev = meta.readBigInt64BE(0);
    let maxRev = 1n;
    this.backend.scan(Table.Key, undefined, undefined, (k, v) => {
      const rev = decodeRevision(k);
      const kv = KeyValue.decode(v.subarray(1));
      const ks = keyString(kv.key);
      let ki = this.index.get(ks);
      if (!ki) this.index.set(ks, (ki = new KeyIndex(ks)));
      if (v[0] === RECORD_TOMBSTONE) {
        // A compacted history may start with a tombstone whose put is gone: nothing to close then.
        if (ki.isAlive()) ki.tombstone(rev);
      } else {
        ki.put(rev);
      }
      if (rev.main > maxRev) maxRev = rev.main;
    });
    const empty: string[] = [];
    this.index.scan('', undefined, (k, ki) => {
      if (ki.isEmpty()) empty.push(k);
    });
    for (const k of empty) this.index.delete(k);
    // Compaction may have removed every record up to the compaction point; the revision never goes back.
    this._currentRev = maxRev > this._compactRev ? maxRev : this._compactRev;
  }
}

/**
 * A write transaction: the changes of one Put, DeleteRange, Txn or lease revocation. Reads inside it see its own
 * changes. All changes share main revision `rev`; `end()` commits the revision if anything changed.
 */
export class WriteTxn {
  /** Main revision of this transaction's changes. */
  readonly rev: bigint;
  private sub = 0;
  readonly changes: Change[] = [];
  private ended = false;

  constructor(private readonly store: KVStore) {
    this.rev = store.currentRev + 1n;
  }

  /** The revision reads inside the transaction see: the new one once something changed. */
  get viewRev(): bigint {
    return this.changes.length > 0 ? this.rev : this.rev - 1n;
  }

  range(key: Uint8Array, end: Uint8Array, opts: RangeOptions): RangeResult {
    return this.store.rangeAt(key, end, opts, this.viewRev);
  }

  /** The newest version of `key` including this transaction's changes, or undefined. */
  get(key: Uint8Array): KeyValue | undefined {
    const cur = this.store.keyIndex(keyString(key))?.current();
    return cur ? this.store.readKV(cur.modified) : undefined;
  }

  put(key: Uint8Array, value: Uint8Array, lease: bigint): Change {
    const ks = keyString(key);
    let ki = this.store.keyIndex(ks);
    const cur = ki?.current();
    const prev = cur ? this.store.readKV(cur.modified) : undefined;
    if (!ki) {
      ki = new KeyIndex(ks);
      this.store.addKeyIndex(ki);
    }
    const rev: Revision = { main: this.rev, sub: this.sub++ };
    const { created, version } = ki.put(rev);
    const kv: KeyValue = { key: keyBytes(ks), createRevision: created.main, modRevision: rev.main, version, value, lease };
    this.store.writeRecord(rev, kv, false);
    const book = this.store.leaseBook;
    if (prev && prev.lease !== 0n && prev.lease !== lease) book.detach(prev.lease, kv.key);
    if (lease !== 0n && prev?.lease !== lease) book.attach(lease, kv.key);
    const change: Change = { type: Event_EventType.PUT, kv, prev };
    this.changes.push(change);
    return change;
  }

  /** Deletes every live key in [key, end) (the single key if `end` is empty). Returns the changes, in key order. */
  deleteRange(key: Uint8Array, end: Uint8Array): Change[] {
    const out: Change[] = [];
    for (const ki of this.store.liveKeys(key, end)) {
      const prev = this.store.readKV(ki.current()!.modified);
      const rev: Revision = { main: this.rev, sub: this.sub++ };
      ki.tombstone(rev);
      const kv: KeyValue = { key: prev.key, createRevision: 0n, modRevision: rev.main, version: 0n, value: new Uint8Array(0), lease: 0n };
      this.store.writeRecord(rev, kv, true);
      if (prev.lease !== 0n) this.store.leaseBook.detach(prev.lease, prev.key);
      const change: Change = { type: Event_EventType.DELETE, kv, prev };
      this.changes.push(change);
      out.push(change);
    }
    return out;
  }

  /** Finishes the transaction; returns the store revision after it. */
  end(): bigint {
    if (this.ended) throw new Error('mvcc: write transaction ended twice');
    this.ended = true;
    if (this.changes.length > 0) this.store.commitRevision(this.rev);
    return this.store.currentRev;
  }
}

function revKey(r: Revision): string {
  return `${r.main}.${r.sub}`;
}

/** What the key index knows of a key at a revision: where its value is, and when its generation began. */
type IndexHit = { modified: Revision; created: Revision };

function picked(p: RevisionPick, hit: IndexHit): boolean {
  const mod = hit.modified.main;
  const created = hit.created.main;
  return (
    (p.minModRevision === 0n || mod >= p.minModRevision) &&
    (p.maxModRevision === 0n || mod <= p.maxModRevision) &&
    (p.minCreateRevision === 0n || created >= p.minCreateRevision) &&
    (p.maxCreateRevision === 0n || created <= p.maxCreateRevision)
  );
}
