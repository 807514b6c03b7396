import { promises as fsp, openSync, closeSync, fsyncSync, readdirSync, readFileSync, writeSync, mkdirSync, renameSync, unlinkSync, existsSync, write, fdatasync as fdatasyncCb } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  HEADER,
  RecordType,
  RecordWriter,
  readRecord,
  type SnapshotMark,
  type WalEntry,
  type WalHardState,
} from './record.js';

/**
 * The write-ahead log: Raft entries, hard states and snapshot marks, appended to segment files and made durable
 * with one fdatasync per batch (group commit).
 *
 * Layout: `<dir>/<seq>-<firstIndex>.wal`, both 16 hex digits. `firstIndex` is the index the first entry written
 * to the segment would have. Segments are zero-filled to `segmentBytes` before use (preallocation keeps fdatasync
 * from also flushing file-size metadata); the next segment is prepared in the background.
 *
 * Recovery (`openWal`):
 * - every segment is read in order; entries may overwrite earlier ones with the same or higher index (a Raft
 *   follower truncating a conflicting suffix); the newest hard state and snapshot mark win;
 * - damage in the newest segment with no complete batch after it is a torn write of the last batch (a crash
 *   during its write, so it was never acknowledged): it is zeroed and recovery continues with a warning;
 * - damage followed by a later batch, or damage in an older segment, is corruption: `WalCorruptError`, and the
 *   server refuses to start rather than lose acknowledged data silently.
 */
export interface WalOptions {
  /** Bytes per segment file. Default 64 MiB. */
  segmentBytes?: number;
  /** Where warnings go (torn-tail repair). */
  warn?: (msg: string) => void;
  /** Told how long each fdatasync took, in seconds (metrics). */
  onFsync?: (seconds: number) => void;
}

export interface WalContents {
  memberId: bigint;
  hardState: WalHardState | undefined;
  snapshot: SnapshotMark | undefined;
  /** Entries after the snapshot mark, contiguous and in index order. */
  entries: WalEntry[];
}

export class WalCorruptError extends Error {
  constructor(message: string) {
    super(`wal: ${message}`);
    this.name = 'WalCorruptError';
  }
}

const DEFAULT_SEGMENT = 64 * 1024 * 1024;

interface Segment {
  seq: number;
  firstIndex: number;
  path: string;
}

function segmentName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}.wal`;
}

function listSegments(dir: string): Segment[] {
  return readdirSync(dir)
    .filter((n) => /^[0-9a-f]{16}-[0-9a-f]{16}\.wal$/.test(n))
    .map((n) => ({ seq: parseInt(n.slice(0, 16), 16), firstIndex: parseInt(n.slice(17, 33), 16), path: join(dir, n) }))
    .sort((a, b) => a.seq - b.seq);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function zeroFill(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  try {
    const chunk = Buffer.alloc(Math.min(bytes, 1 << 20));
    for (let off = 0; off < bytes; off += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - off), off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function zeroFillAsync(path: string, bytes: number): Promise<void> {
  const fh = await fsp.open(path, 'w');
  try {
    const chunk = Buffer.alloc(Math.min(bytes, 1 << 20));
    for (let off = 0; off < bytes; off += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, bytes - off), off);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Whether `dir` holds a WAL. */
export function walExists(dir: string): boolean {
  return existsSync(dir) && listSegments(dir).length > 0;
}

/**
 * Opens (or creates, when `dir` holds no segments) the WAL in `dir`, recovering its contents.
 * Throws `WalCorruptError` if the log is damaged anywhere but at its tail.
 */
export function openWal(dir: string, memberId: bigint, opts: WalOptions = {}): { wal: Wal; contents: WalContents } {
  const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT;
  const warn = opts.warn ?? (() => {});
  mkdirSync(dir, { recursive: true });
  for (const n of readdirSync(dir)) if (n.endsWith('.tmp')) unlinkSync(join(dir, n));
  let segments = listSegments(dir);
  const contents: WalContents = { memberId, hardState: undefined, snapshot: undefined, entries: [] };
  if (segments.length === 0) {
    const seg = { seq: 0, firstIndex: 0, path: join(dir, segmentName(0, 0)) };
    zeroFill(`${seg.path}.tmp`, segmentBytes);
    renameSync(`${seg.path}.tmp`, seg.path);
    fsyncDir(dir);
    segments = [seg];
    const wal = new Wal(dir, segments, seg, 0, segmentBytes, memberId, warn, opts.onFsync);
    wal.writeMetaSync();
    return { wal, contents };
  }

  let tailOffset = 0;
  for (let si = 0; si < segments.length; si++) {
    const seg = segments[si]!;
    const last = si === segments.length - 1;
    const buf = readFileSync(seg.path);
    let off = 0;
    for (;;) {
      const r = readRecord(buf, off);
      if (r.kind === 'end') break;
      if (r.kind === 'bad') {
        const later = findBatchStartAfter(buf, off + 8);
        if (!last || later >= 0) {
          throw new WalCorruptError(`${seg.path}: ${r.reason} at offset ${off}${later >= 0 ? `, with a valid batch at ${later} after it` : ''}; refusing to start`);
        }
        warn(`wal: ${seg.path}: torn write at offset ${off} (${r.reason}); discarding the unfinished tail`);
        const fd = openSync(seg.path, 'r+');
        try {
          writeSync(fd, Buffer.alloc(buf.length - off), 0, buf.length - off, off);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        break;
      }
      const rec = r.record;
      switch (rec.type) {
        case RecordType.Meta:
          if (rec.memberId !== 0n) contents.memberId = rec.memberId;
          break;
        case RecordType.HardState:
          contents.hardState = rec.hardState;
          break;
        case RecordType.Snapshot:
          contents.snapshot = rec.snapshot;
          // Entries at or below the mark are in the backend now.
          contents.entries = contents.entries.filter((e) => e.index > rec.snapshot.index);
          break;
        case RecordType.Entry: {
          const e = rec.entry;
          const es = contents.entries;
          const first = es[0]?.index;
          if (first !== undefined && e.index <= es[es.length - 1]!.index) {
            // A later write overwrites a conflicting suffix (Raft log truncation).
            es.length = Math.max(0, e.index - first);
          }
          const prev = es.length > 0 ? es[es.length - 1]!.index : undefined;
          if (prev !== undefined && e.index !== prev + 1) {
            throw new WalCorruptError(`${seg.path}: entry ${e.index} does not follow ${prev}`);
          }
          if (contents.snapshot && e.index <= contents.snapshot.index) break;
          es.push(e);
          break;
        }
      }
      off = r.next;
    }
    if (last) tailOffset = off;
  }
  const tail = segments[segments.length - 1]!;
  const wal = new Wal(dir, segments, tail, tailOffset, segmentBytes, contents.memberId, warn, opts.onFsync);
  return { wal, contents };
}

/** Offset of the first valid batch-start record at an 8-byte aligned offset >= `from`, or -1. */
function findBatchStartAfter(buf: Buffer, from: number): number {
  for (let off = (from + 7) & ~7; off + HEADER < buf.length; off += 8) {
    const r = readRecord(buf, off);
    if (r.kind === 'record' && r.batchStart) return off;
  }
  return -1;
}

export class Wal {
  private fd: number;
  private readonly writer = new RecordWriter();
  private lastIndex = 0;
  private nextPrepared: Promise<string> | undefined;
  private closed = false;
  /** Appends run one at a time, in call order. */
  private queue: Promise<void> = Promise.resolve();
  /** Encoded commit-only hard states not yet written (they go out with the next write). */
  private deferred: Buffer[] = [];
  private deferredBytes = 0;

  /** @internal use `openWal` */
  constructor(
    private readonly dir: string,
    private segments: Segment[],
    private tail: Segment,
    private offset: number,
    private readonly segmentBytes: number,
    private memberId: bigint,
    private readonly warn: (msg: string) => void,
    private readonly onFsync: ((seconds: number) => void) | undefined,
  ) {
    this.fd = openSync(tail.path, 'r+');
  }

  /** Sets the member id written into segment headers (known once the cluster is bootstrapped). */
  setMemberId(id: bigint): void {
    this.memberId = id;
  }

  /** @internal writes the header of a brand-new log. */
  writeMetaSync(): void {
    this.writer.reset();
    this.writer.meta(this.tail.seq, this.memberId);
    const b = this.writer.bytes();
    writeSync(this.fd, b, 0, b.length, this.offset);
    fsyncSync(this.fd);
    this.offset += b.length;
  }

  /**
   * Appends a hard state and entries; resolves once they are durable when `sync` is true (otherwise once
   * written to the page cache). One call = one write + at most one fdatasync.
   */
  async save(hardState: WalHardState | undefined, entries: readonly WalEntry[], sync: boolean): Promise<void> {
    if (this.closed) throw new Error('wal: closed');
    if (!hardState && entries.length === 0) return;
    if (!sync && entries.length === 0 && this.deferredBytes < DEFER_LIMIT) {
      // A hard state that need not be durable (only its commit index moved: recovery raises the commit index to
      // the applied index, and the leader tells it again) waits in memory and goes out with the next write, as
      // etcd's buffered WAL encoder does: no system call for it on the hot path.
      this.writer.reset();
      this.writer.hardState(hardState!);
      const b = Buffer.from(this.writer.bytes());
      this.deferred.push(b);
      this.deferredBytes += b.length;
      return;
    }
    await this.serial(async () => {
      this.writer.reset();
      for (const e of entries) this.writer.entry(e);
      if (hardState) this.writer.hardState(hardState);
      await this.append(this.writer.bytes(), sync);
      if (entries.length > 0) this.lastIndex = entries[entries.length - 1]!.index;
    });
  }

  /** Records that entries up to `mark.index` are captured by a backend snapshot. Always synced. */
  async saveSnapshot(mark: SnapshotMark): Promise<void> {
    await this.serial(async () => {
      this.writer.reset();
      this.writer.snapshot(mark);
      await this.append(this.writer.bytes(), true);
    });
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Deletes segments holding only entries below `index` (already captured by a durable snapshot). The segment
   * being written is never deleted.
   */
  async releaseTo(index: number): Promise<void> {
    const keep: Segment[] = [];
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i]!;
      const next = this.segments[i + 1];
      if (next && next.firstIndex <= index && seg !== this.tail) {
        await fsp.unlink(seg.path).catch(() => undefined);
      } else {
        keep.push(seg);
      }
    }
    if (keep.length !== this.segments.length) {
      this.segments = keep;
      fsyncDir(this.dir);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    if (this.deferred.length > 0) {
      const data = Buffer.concat(this.deferred);
      this.deferred = [];
      writeAllSync(this.fd, data, this.offset);
      this.offset += data.length;
    }
    closeSync(this.fd);
    if (this.nextPrepared) await this.nextPrepared.then((p) => fsp.unlink(p)).catch(() => undefined);
  }

  private async append(batch: Buffer, sync: boolean): Promise<void> {
    let data = batch;
    if (this.deferred.length > 0) {
      // Deferred hard states first: batches stay in the order they were saved.
      data = Buffer.concat([...this.deferred, data]);
      this.deferred = [];
      this.deferredBytes = 0;
    }
    if (this.offset + data.length > this.segmentBytes && this.offset > 0) await this.cut();
    if (data.length + this.offset > this.segmentBytes) {
      // A batch larger than a segment: let this segment grow past its preallocated size.
      this.warn(`wal: batch of ${data.length} bytes exceeds the segment size`);
    }
    // The write itself only copies into the page cache (microseconds even for a large batch): doing it inline
    // saves a thread-pool round trip per Ready, which is most of a commit-only Ready's cost. Only the
    // fdatasync, which waits for the disk, goes to the thread pool.
    writeAllSync(this.fd, data, this.offset);
    this.offset += data.length;
    if (sync) {
      const t0 = performance.now();
      await fdatasync(this.fd);
      this.onFsync?.((performance.now() - t0) / 1000);
    }
    // Prepare the next segment once this one is half full.
    if (!this.nextPrepared && this.offset > this.segmentBytes / 2) this.prepareNext();
  }

  private prepareNext(): void {
    const path = join(this.dir, `next-${this.tail.seq + 1}.tmp`);
    const p = zeroFillAsync(path, this.segmentBytes).then(() => path);
    p.catch(() => undefined);
    this.nextPrepared = p;
  }

  /** Finishes the current segment and switches to a new one starting at the next entry index. */
  private async cut(): Promise<void> {
    await fdatasync(this.fd);
    if (!this.nextPrepared) this.prepareNext();
    const tmp = await this.nextPrepared!;
    this.nextPrepared = undefined;
    const seg: Segment = { seq: this.tail.seq + 1, firstIndex: this.lastIndex + 1, path: join(this.dir, segmentName(this.tail.seq + 1, this.lastIndex + 1)) };
    await fsp.rename(tmp, seg.path);
    fsyncDir(this.dir);
    closeSync(this.fd);
    this.fd = openSync(seg.path, 'r+');
    this.segments.push(seg);
    this.tail = seg;
    this.offset = 0;
    const w = new RecordWriter();
    w.meta(seg.seq, this.memberId);
    await writeAll(this.fd, w.bytes(), 0);
    this.offset = w.len;
  }
}

/** Deferred hard states are written once they reach this many bytes even without a write to join. */
const DEFER_LIMIT = 64 * 1024;

function writeAllSync(fd: number, data: Buffer, position: number): void {
  for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off, position + off);
}

function writeAll(fd: number, data: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number): void => {
      write(fd, data, off, data.length - off, position + off, (err, n) => {
        if (err) return reject(err);
        if (off + n < data.length) step(off + n);
        else resolve();
      });
    };
    step(0);
  });
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasyncCb(fd, (err) => (err ? reject(err) : resolve())));
}
