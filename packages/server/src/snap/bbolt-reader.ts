import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  BRANCH_ELEMENT_SIZE,
  BRANCH_PAGE,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  FREELIST_COUNT_ESCAPE,
  FREELIST_PAGE,
  LEAF_ELEMENT_SIZE,
  LEAF_PAGE,
  META_PAGE,
  PAGE_HEADER_SIZE,
  decodeMeta,
  metaProblem,
  readPageHeader,
  u64,
  type Meta,
  type PageHeader,
} from './bbolt-format.js';
import { CorruptSnapshotError, NotBoltFileError } from './errors.js';

/** bbolt's "no freelist page" marker (a database opened with NoFreelistSync). */
const NO_FREELIST = Number.MAX_SAFE_INTEGER;
/** Deeper than any real tree (bbolt's fan-out makes 10 levels hold more than a file can); guards against cycles. */
const MAX_DEPTH = 64;

/** One key of a bucket, in key order. For a nested bucket, `bucket` is set and `value` is its raw header. */
export interface BoltEntry {
  key: Buffer;
  value: Buffer;
  bucket: BoltBucket | undefined;
}

interface Page {
  header: PageHeader;
  buf: Buffer;
}

/**
 * Reads a bbolt database file (see bbolt-format.ts for the layout) page by page, with positioned reads: a large
 * file is never loaded whole. Only the part of the file below the meta's high-water mark is the database; bytes
 * after it (etcd's SHA-256 trailer) are ignored, as bbolt ignores them.
 */
export class BoltReader implements Disposable {
  readonly meta: Meta;
  readonly pageSize: number;
  /** The file's length in bytes. */
  readonly fileSize: number;
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
    this.fileSize = fstatSync(fd).size;
    const first = this.readAt(0, Math.min(4096, this.fileSize));
    if (first.length < PAGE_HEADER_SIZE + 64) throw new NotBoltFileError(path, `only ${this.fileSize} bytes`);
    // The page size comes from meta page 0; if that page is damaged, bbolt assumes the OS page size.
    const m0 = decodeMeta(first);
    const pageSize = metaProblem(first) === undefined ? m0.pageSize : 4096;
    if (pageSize < 512 || pageSize > 65536 || this.fileSize < 2 * pageSize) throw new NotBoltFileError(path, `file of ${this.fileSize} bytes, page size ${pageSize}`);
    const p0 = this.readAt(0, pageSize);
    const p1 = this.readAt(pageSize, pageSize);
    const metas = [p0, p1].map((p) => ({ problem: metaProblem(p), meta: decodeMeta(p) }));
    // The valid meta with the higher transaction id wins (bbolt's DB.meta).
    const order = metas[1]!.meta.txid > metas[0]!.meta.txid ? [metas[1]!, metas[0]!] : [metas[0]!, metas[1]!];
    const chosen = order.find((m) => m.problem === undefined);
    if (!chosen) throw new NotBoltFileError(path, `meta pages: ${metas.map((m) => m.problem).join(', ')}`);
    this.meta = chosen.meta;
    this.pageSize = chosen.meta.pageSize;
    if (this.meta.pageSize !== pageSize) throw new NotBoltFileError(path, `meta pages disagree on the page size`);
    if (this.meta.pgid < 3 || this.meta.root.root < 2 || this.meta.root.root >= this.meta.pgid) {
      throw new CorruptSnapshotError(`meta: root page ${this.meta.root.root}, high-water mark ${this.meta.pgid}`);
    }
    if (this.fileSize < this.meta.pgid * this.pageSize) {
      throw new CorruptSnapshotError(`truncated: the database needs ${this.meta.pgid * this.pageSize} bytes, the file has ${this.fileSize}`);
    }
  }

  /** Opens `path`; throws NotBoltFileError if it is not a bbolt file, CorruptSnapshotError if it is cut short. */
  static open(path: string): BoltReader {
    const fd = openSync(path, 'r');
    try {
      return new BoltReader(path, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Bytes of the database: high-water mark * page size (bbolt's tx.Size, what `snapshot status` reports). */
  get size(): number {
    return this.meta.pgid * this.pageSize;
  }

  /** The root bucket, whose keys are the top-level buckets. */
  root(): BoltBucket {
    return new BoltBucket(this, this.meta.root.root, undefined);
  }

  /**
   * Checks the file as bbolt's `tx.Check` does (every page below the high-water mark reachable exactly once or
   * free, reachable pages of branch/leaf type, nothing out of bounds, no page freed twice) and, beyond it, that
   * keys strictly increase within each bucket and that each branch key is its child's first key. Returns the
   * problems found (empty: the file is sound).
   */
  check(): string[] {
    const problems: string[] = [];
    const freed = new Set<number>();
    const reachable = new Map<number, number>();
    const mark = (id: number, owner: number): void => {
      if (reachable.has(id)) problems.push(`page ${id}: multiple references`);
      reachable.set(id, owner);
    };
    mark(0, 0);
    mark(1, 1);
    if (this.meta.freelist !== NO_FREELIST) {
      try {
        const fl = this.page(this.meta.freelist);
        if ((fl.header.flags & FREELIST_PAGE) === 0) problems.push(`page ${this.meta.freelist}: freelist page has flags ${fl.header.flags}`);
        for (let i = 0; i <= fl.header.overflow; i++) mark(this.meta.freelist + i, this.meta.freelist);
        for (const id of this.freelistIds(fl)) {
          if (freed.has(id)) problems.push(`page ${id}: already freed`);
          if (id < 2 || id >= this.meta.pgid) problems.push(`page ${id}: freed page out of bounds: ${this.meta.pgid}`);
          freed.add(id);
        }
      } catch (err) {
        problems.push(`freelist: ${(err as Error).message}`);
      }
    }
    const walk = (bucket: BoltBucket, depthOfBuckets: number): void => {
      if (depthOfBuckets > MAX_DEPTH) {
        problems.push('buckets nested too deeply');
        return;
      }
      let last: Buffer | undefined;
      const visit = (id: number, depth: number, expectFirst: Buffer | undefined): void => {
        if (depth > MAX_DEPTH) {
          problems.push(`page ${id}: tree deeper than ${MAX_DEPTH} (a cycle?)`);
          return;
        }
        if (id >= this.meta.pgid) {
          problems.push(`page ${id}: out of bounds: ${this.meta.pgid}`);
          return;
        }
        let p: Page;
        try {
          p = this.page(id);
        } catch (err) {
          problems.push((err as Error).message);
          return;
        }
        for (let i = 0; i <= p.header.overflow; i++) mark(id + i, id);
        if (freed.has(id)) problems.push(`page ${id}: reachable freed`);
        const isBranch = (p.header.flags & BRANCH_PAGE) !== 0;
        if (!isBranch && (p.header.flags & LEAF_PAGE) === 0) {
          problems.push(`page ${id}: invalid type: flags ${p.header.flags}`);
          return;
        }
        let elems: { key: Buffer; child?: number; flags?: number; value?: Buffer }[];
        try {
          elems = isBranch ? branchElements(p, id) : leafElements(p.buf, 0, id);
        } catch (err) {
          problems.push((err as Error).message);
          return;
        }
        if (elems.length === 0 && depth > 0) problems.push(`page ${id}: empty ${isBranch ? 'branch' : 'leaf'} below the root`);
        if (expectFirst && elems[0] && !elems[0].key.equals(expectFirst)) problems.push(`page ${id}: first key differs from its branch key`);
        for (const e of elems) {
          if (isBranch) {
            visit(e.child!, depth + 1, e.key);
            continue;
          }
          if (e.key.length === 0) problems.push(`page ${id}: empty key`);
          if (last && Buffer.compare(last, e.key) >= 0) problems.push(`page ${id}: keys out of order`);
          last = e.key;
          if ((e.flags! & BUCKET_LEAF_FLAG) !== 0) {
            try {
              walk(bucketFromValue(this, e.value!, id), depthOfBuckets + 1);
            } catch (err) {
              problems.push((err as Error).message);
            }
          }
        }
      };
      if (bucket.rootPage === 0) {
        // Inline bucket: no pages of its own, but its elements must be in order and its sub-buckets (none, by
        // bbolt's rule) checked.
        try {
          for (const e of bucket.entries()) {
            if (last && Buffer.compare(last, e.key) >= 0) problems.push('inline bucket: keys out of order');
            last = e.key;
            if (e.bucket) walk(e.bucket, depthOfBuckets + 1);
          }
        } catch (err) {
          problems.push((err as Error).message);
        }
        return;
      }
      visit(bucket.rootPage, 0, undefined);
    };
    walk(this.root(), 0);
    // Without a freelist page (etcd runs bbolt with NoFreelistSync), the free pages are by definition the
    // unreachable ones: bbolt rebuilds its freelist that way, so none can be "unreachable unfreed".
    if (this.meta.freelist === NO_FREELIST) return problems;
    for (let i = 0; i < this.meta.pgid; i++) {
      if (!reachable.has(i) && !freed.has(i)) problems.push(`page ${i}: unreachable unfreed`);
    }
    return problems;
  }

  /** Reads page `id` (with its overflow pages). @internal */
  page(id: number): Page {
    if (id >= this.meta.pgid) throw new CorruptSnapshotError(`page ${id}: out of bounds: ${this.meta.pgid}`);
    const first = this.readAt(id * this.pageSize, this.pageSize);
    const header = readPageHeader(first);
    if (header.id !== id) throw new CorruptSnapshotError(`page ${id}: header says page ${header.id}`);
    if (header.flags & META_PAGE && id > 1) throw new CorruptSnapshotError(`page ${id}: a meta page inside the tree`);
    if (header.overflow === 0) return { header, buf: first };
    if (id + header.overflow >= this.meta.pgid) throw new CorruptSnapshotError(`page ${id}: overflow of ${header.overflow} pages runs past the high-water mark`);
    return { header, buf: this.readAt(id * this.pageSize, (header.overflow + 1) * this.pageSize) };
  }

  /** The ids on a freelist page (bbolt's freelist.read, with its 0xFFFF escape). @internal */
  freelistIds(p: Page): number[] {
    let count = p.header.count;
    let off = PAGE_HEADER_SIZE;
    if (count === FREELIST_COUNT_ESCAPE) {
      count = u64(p.buf, off);
      off += 8;
    }
    if (off + count * 8 > p.buf.length) throw new CorruptSnapshotError(`freelist of ${count} ids does not fit its ${p.header.overflow + 1} page(s)`);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(u64(p.buf, off + 8 * i));
    return ids;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private readAt(position: number, length: number): Buffer {
    if (this.fd === undefined) throw new Error('bbolt: the reader is closed');
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, position + done);
      if (n === 0) throw new CorruptSnapshotError(`truncated: read past the end of the file at byte ${position + done}`);
      done += n;
    }
    return buf;
  }
}

/** A bucket: a B+tree rooted at a page, or an inline leaf carried in its parent's element. */
export class BoltBucket {
  constructor(
    private readonly reader: BoltReader,
    /** Root page, 0 for an inline bucket. */
    readonly rootPage: number,
    /** The inline bucket's leaf page image. */
    private readonly inlinePage: Buffer | undefined,
  ) {}

  /** Every key of the bucket in key order (nested buckets included, with `bucket` set). */
  *entries(): Generator<BoltEntry> {
    if (this.inlinePage) {
      for (const e of leafElements(this.inlinePage, 0, 0)) yield this.entry(e);
      return;
    }
    yield* this.walk(this.rootPage, 0);
  }

  /** The nested bucket `name`, or undefined. */
  bucket(name: Uint8Array): BoltBucket | undefined {
    const e = this.find(name);
    return e?.bucket;
  }

  /** The value of `key` if it is a plain key (not a bucket). */
  get(key: Uint8Array): Buffer | undefined {
    const e = this.find(key);
    return e && !e.bucket ? e.value : undefined;
  }

  private find(key: Uint8Array): BoltEntry | undefined {
    const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    if (this.inlinePage) {
      const e = leafElements(this.inlinePage, 0, 0).find((x) => x.key.equals(k));
      return e && this.entry(e);
    }
    let id = this.rootPage;
    for (let depth = 0; depth <= MAX_DEPTH; depth++) {
      const p = this.reader.page(id);
      if (p.header.flags & BRANCH_PAGE) {
        const elems = branchElements(p, id);
        // The last child whose first key is <= key.
        let pick = elems[0];
        for (const e of elems) {
          if (Buffer.compare(e.key, k) <= 0) pick = e;
          else break;
        }
        if (!pick) return undefined;
        id = pick.child;
        continue;
      }
      const e = leafElements(p.buf, 0, id).find((x) => x.key.equals(k));
      return e && this.entry(e);
    }
    throw new CorruptSnapshotError(`page ${this.rootPage}: tree deeper than ${MAX_DEPTH}`);
  }

  private *walk(id: number, depth: number): Generator<BoltEntry> {
    if (depth > MAX_DEPTH) throw new CorruptSnapshotError(`page ${id}: tree deeper than ${MAX_DEPTH} (a cycle?)`);
    const p = this.reader.page(id);
    if (p.header.flags & BRANCH_PAGE) {
      for (const e of branchElements(p, id)) yield* this.walk(e.child, depth + 1);
    } else if (p.header.flags & LEAF_PAGE) {
      for (const e of leafElements(p.buf, 0, id)) yield this.entry(e);
    } else {
      throw new CorruptSnapshotError(`page ${id}: invalid type: flags ${p.header.flags}`);
    }
  }

  private entry(e: LeafElement): BoltEntry {
    return { key: e.key, value: e.value, bucket: e.flags & BUCKET_LEAF_FLAG ? bucketFromValue(this.reader, e.value, this.rootPage) : undefined };
  }
}

interface LeafElement {
  flags: number;
  key: Buffer;
  value: Buffer;
}

function bucketFromValue(reader: BoltReader, value: Buffer, page: number): BoltBucket {
  if (value.length < BUCKET_HEADER_SIZE) throw new CorruptSnapshotError(`page ${page}: bucket value of ${value.length} bytes`);
  const root = u64(value, 0);
  if (root !== 0) return new BoltBucket(reader, root, undefined);
  const inline = value.subarray(BUCKET_HEADER_SIZE);
  if (inline.length < PAGE_HEADER_SIZE) throw new CorruptSnapshotError(`page ${page}: inline bucket without a page`);
  const h = readPageHeader(inline);
  if ((h.flags & LEAF_PAGE) === 0) throw new CorruptSnapshotError(`page ${page}: inline bucket page has flags ${h.flags}`);
  return new BoltBucket(reader, 0, inline);
}

function leafElements(buf: Buffer, off: number, id: number): LeafElement[] {
  const h = readPageHeader(buf, off);
  if ((h.flags & LEAF_PAGE) === 0) throw new CorruptSnapshotError(`page ${id}: not a leaf`);
  const out: LeafElement[] = [];
  for (let i = 0; i < h.count; i++) {
    const at = off + PAGE_HEADER_SIZE + LEAF_ELEMENT_SIZE * i;
    if (at + LEAF_ELEMENT_SIZE > buf.length) throw new CorruptSnapshotError(`page ${id}: ${h.count} elements do not fit the page`);
    const flags = buf.readUInt32LE(at);
    const start = at + buf.readUInt32LE(at + 4);
    const ksize = buf.readUInt32LE(at + 8);
    const vsize = buf.readUInt32LE(at + 12);
    if (start + ksize + vsize > buf.length) throw new CorruptSnapshotError(`page ${id}: element ${i} runs past the page`);
    out.push({ flags, key: buf.subarray(start, start + ksize), value: buf.subarray(start + ksize, start + ksize + vsize) });
  }
  return out;
}

function branchElements(p: Page, id: number): { key: Buffer; child: number }[] {
  const out: { key: Buffer; child: number }[] = [];
  for (let i = 0; i < p.header.count; i++) {
    const at = PAGE_HEADER_SIZE + BRANCH_ELEMENT_SIZE * i;
    if (at + BRANCH_ELEMENT_SIZE > p.buf.length) throw new CorruptSnapshotError(`page ${id}: ${p.header.count} elements do not fit the page`);
    const start = at + p.buf.readUInt32LE(at);
    const ksize = p.buf.readUInt32LE(at + 4);
    if (start + ksize > p.buf.length) throw new CorruptSnapshotError(`page ${id}: element ${i} runs past the page`);
    const child = u64(p.buf, at + 8);
    if (child === id) throw new CorruptSnapshotError(`page ${id}: refers to itself`);
    out.push({ key: p.buf.subarray(start, start + ksize), child });
  }
  return out;
}
