import type { FileHandle } from 'node:fs/promises';
import {
  BRANCH_ELEMENT_SIZE,
  BRANCH_PAGE,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  DEFAULT_PAGE_SIZE,
  FREELIST_COUNT_ESCAPE,
  FREELIST_PAGE,
  LEAF_ELEMENT_SIZE,
  LEAF_PAGE,
  MAX_ELEMENTS_PER_PAGE,
  MAX_KEY_SIZE,
  MAX_VALUE_SIZE,
  PAGE_HEADER_SIZE,
  encodeMetaPage,
  writePageHeader,
} from './bbolt-format.js';

/**
 * Writes a bbolt database file in one pass, from buckets and keys given in order: the file a bbolt `tx.WriteTo`
 * would produce for the same content, up to page layout (bbolt itself accepts any well-formed B+tree).
 *
 * Streaming: leaf pages are written as soon as they fill; a bucket keeps only the first key and page number of
 * each finished page, and builds its branch levels from those when it ends. Pages are allocated in the order they
 * are written, so the file grows sequentially from page 2; the meta pages (0 and 1) and the freelist are written
 * by `finish()`, once the root is known.
 *
 * Worked example, page size 4096: a root bucket holding bucket "key" (too big to be inline: two leaf pages and a
 * branch) and an empty bucket "meta" (inline, in the root's leaf):
 *
 *   page 0  meta     txid 2, root bucket = page 5, freelist = page 6, pgid (high-water) = 7
 *   page 1  meta     the same with txid 1 (bbolt takes the valid meta with the higher txid)
 *   page 2  leaf     "key" bucket, keys k000…k199 (full)             ┐ written while "key" is filled
 *   page 3  leaf     "key" bucket, keys k200…k260                    │
 *   page 4  branch   [k000 → 2] [k200 → 3]                           ┘ written when "key" ends: its root
 *   page 5  leaf     root bucket: ["key" flags=1 value={root 4, seq 0}]
 *                                 ["meta" flags=1 value={root 0, seq 0} + inline page {leaf, count 0}]
 *   page 6  freelist count 0
 *
 * A value bigger than a page makes its leaf page span several contiguous pages (`overflow` = extra pages).
 * Inline buckets follow bbolt's rule: a bucket with no sub-buckets whose leaf would take at most a quarter page
 * is stored inside its parent's element.
 *
 * Usage: `bucket(name)` opens a sub-bucket of the current bucket (the root first), `put(key, value)` adds a key to
 * it, `end()` closes it; names and keys must strictly increase within each bucket. Call `flush()` now and then to
 * write the finished pages (memory stays bounded by what is not flushed), then `finish()`.
 */
export class BoltWriter {
  private readonly pageSize: number;
  private readonly txid: bigint;
  private nextPage = 2;
  /** Finished pages not yet written, in page order. */
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  /** Page number at which `queue[0]` goes. */
  private queueStart = 2;
  private readonly stack: BucketBuilder[];
  private finished = false;
  private readonly freePages: number;

  constructor(
    private readonly out: FileHandle,
    opts: {
      pageSize?: number;
      /** Transaction id recorded in meta page 0 (meta page 1 gets txid - 1, as bbolt's WriteTo does). */
      txid?: bigint;
      /** Extra unused pages to leave on the freelist (tests use it to exercise big freelists). */
      freePages?: number;
    } = {},
  ) {
    this.pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
    if (this.pageSize < 1024 || this.pageSize % 512 !== 0) throw new RangeError(`bbolt: unsupported page size ${this.pageSize}`);
    this.txid = opts.txid ?? 2n;
    this.freePages = opts.freePages ?? 0;
    this.stack = [new BucketBuilder(Buffer.alloc(0), false)];
  }

  /** Bytes of finished pages waiting for `flush()`. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  /** Opens sub-bucket `name` of the current bucket; following puts go to it until `end()`. */
  bucket(name: Uint8Array): void {
    const parent = this.current();
    this.checkKey(parent, name);
    // A bucket with a sub-bucket is never inline.
    if (parent.inline) this.spill(parent);
    this.stack.push(new BucketBuilder(Buffer.from(name), true));
  }

  /** Adds `key` = `value` to the current bucket. */
  put(key: Uint8Array, value: Uint8Array): void {
    const b = this.current();
    if (this.stack.length === 1) throw new Error('bbolt: the root bucket holds only buckets');
    this.checkKey(b, key);
    if (value.length > MAX_VALUE_SIZE) throw new RangeError(`bbolt: value of ${value.length} bytes is over the limit`);
    this.add(b, { flags: 0, key: Buffer.from(key), value: Buffer.from(value) });
  }

  /** Closes the current bucket and records it in its parent. */
  end(): void {
    if (this.stack.length < 2) throw new Error('bbolt: end() without an open bucket');
    const b = this.stack.pop()!;
    const parent = this.current();
    let value: Buffer;
    if (b.inline) {
      value = Buffer.alloc(BUCKET_HEADER_SIZE + PAGE_HEADER_SIZE + b.leafBytes);
      value.writeBigUInt64LE(0n, 0);
      value.writeBigUInt64LE(b.sequence, 8);
      writeLeaf(value, BUCKET_HEADER_SIZE, 0, 0, b.leaf);
    } else {
      value = Buffer.alloc(BUCKET_HEADER_SIZE);
      value.writeBigUInt64LE(BigInt(this.close(b)), 0);
      value.writeBigUInt64LE(b.sequence, 8);
    }
    this.add(parent, { flags: BUCKET_LEAF_FLAG, key: b.name, value });
  }

  /** Writes the finished pages to the file. */
  async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      const at = this.queueStart * this.pageSize;
      this.queue = [];
      this.queuedBytes = 0;
      let pages = 0;
      for (const p of batch) pages += p.length / this.pageSize;
      this.queueStart += pages;
      await this.out.writev(batch, at);
    }
  }

  /**
   * Closes the root bucket, writes the freelist and the meta pages. Returns the database size in bytes
   * (high-water page * page size: exactly the file's length).
   */
  async finish(): Promise<{ size: number; pages: number }> {
    if (this.finished) throw new Error('bbolt: finish() called twice');
    if (this.stack.length !== 1) throw new Error(`bbolt: finish() with ${this.stack.length - 1} bucket(s) still open`);
    this.finished = true;
    const root = this.close(this.stack[0]!);
    // Free pages (if asked for) sit before the freelist page, zero-filled.
    const free: number[] = [];
    for (let i = 0; i < this.freePages; i++) {
      const id = this.allocate(1);
      free.push(id);
      this.enqueue(Buffer.alloc(this.pageSize));
    }
    const escaped = free.length >= FREELIST_COUNT_ESCAPE;
    const bytes = PAGE_HEADER_SIZE + 8 * (free.length + (escaped ? 1 : 0));
    const n = Math.ceil(bytes / this.pageSize);
    const freelist = this.allocate(n);
    const page = Buffer.alloc(n * this.pageSize);
    writePageHeader(page, 0, freelist, FREELIST_PAGE, escaped ? FREELIST_COUNT_ESCAPE : free.length, n - 1);
    let off = PAGE_HEADER_SIZE;
    if (escaped) {
      page.writeBigUInt64LE(BigInt(free.length), off);
      off += 8;
    }
    for (const id of free) {
      page.writeBigUInt64LE(BigInt(id), off);
      off += 8;
    }
    this.enqueue(page);
    await this.flush();
    const meta = { pageSize: this.pageSize, flags: 0, root: { root, sequence: 0n }, freelist, pgid: this.nextPage };
    await this.out.writev([encodeMetaPage(0, { ...meta, txid: this.txid }), encodeMetaPage(1, { ...meta, txid: this.txid - 1n })], 0);
    return { size: this.nextPage * this.pageSize, pages: this.nextPage };
  }

  // ------------------------------------------------------------------------------------------------ internals

  private current(): BucketBuilder {
    return this.stack[this.stack.length - 1]!;
  }

  private checkKey(b: BucketBuilder, key: Uint8Array): void {
    if (this.finished) throw new Error('bbolt: the writer is finished');
    if (key.length === 0) throw new RangeError('bbolt: empty key');
    if (key.length > MAX_KEY_SIZE) throw new RangeError(`bbolt: key of ${key.length} bytes is over the limit`);
    if (b.lastKey && Buffer.compare(b.lastKey, key) >= 0) throw new RangeError('bbolt: keys must be added in strictly increasing order');
    b.lastKey = Buffer.from(key);
  }

  private add(b: BucketBuilder, e: Element): void {
    const size = LEAF_ELEMENT_SIZE + e.key.length + e.value.length;
    if (b.inline) {
      if (e.flags & BUCKET_LEAF_FLAG || PAGE_HEADER_SIZE + b.leafBytes + size > this.pageSize / 4) this.spill(b);
      else {
        b.leaf.push(e);
        b.leafBytes += size;
        return;
      }
    }
    if (b.leaf.length > 0 && (PAGE_HEADER_SIZE + b.leafBytes + size > this.pageSize || b.leaf.length >= MAX_ELEMENTS_PER_PAGE)) this.flushLeaf(b);
    b.leaf.push(e);
    b.leafBytes += size;
  }

  /** Turns an inline candidate into a bucket with pages of its own (its buffered keys stay in its leaf). */
  private spill(b: BucketBuilder): void {
    b.inline = false;
    const pending = b.leaf;
    b.leaf = [];
    b.leafBytes = 0;
    for (const e of pending) this.add(b, e);
  }

  private flushLeaf(b: BucketBuilder): void {
    const bytes = PAGE_HEADER_SIZE + b.leafBytes;
    const n = Math.max(1, Math.ceil(bytes / this.pageSize));
    const id = this.allocate(n);
    const page = Buffer.alloc(n * this.pageSize);
    writeLeaf(page, 0, id, n - 1, b.leaf);
    this.enqueue(page);
    b.children.push({ key: b.leaf[0]?.key ?? Buffer.alloc(0), page: id });
    b.leaf = [];
    b.leafBytes = 0;
  }

  /** Finishes a bucket with pages of its own: last leaf, then branch levels; returns its root page. */
  private close(b: BucketBuilder): number {
    if (b.leaf.length > 0 || b.children.length === 0) this.flushLeaf(b);
    let level = b.children;
    while (level.length > 1) {
      const next: Child[] = [];
      let start = 0;
      while (start < level.length) {
        let bytes = PAGE_HEADER_SIZE;
        let end = start;
        while (end < level.length) {
          const size = BRANCH_ELEMENT_SIZE + level[end]!.key.length;
          if (end > start && (bytes + size > this.pageSize || end - start >= MAX_ELEMENTS_PER_PAGE)) break;
          bytes += size;
          end++;
        }
        // Never leave a single child for the last branch page of a level when it can share: bbolt's minimum of
        // two keys per branch keeps lookups well-formed.
        if (end === level.length - 1 && end - start > 2) end--;
        const n = Math.ceil(bytes / this.pageSize);
        const id = this.allocate(n);
        const page = Buffer.alloc(n * this.pageSize);
        writeBranch(page, id, n - 1, level.slice(start, end));
        this.enqueue(page);
        next.push({ key: level[start]!.key, page: id });
        start = end;
      }
      level = next;
    }
    return level[0]!.page;
  }

  private allocate(n: number): number {
    const id = this.nextPage;
    this.nextPage += n;
    return id;
  }

  private enqueue(page: Buffer): void {
    this.queue.push(page);
    this.queuedBytes += page.length;
  }
}

interface Element {
  flags: number;
  key: Buffer;
  value: Buffer;
}

interface Child {
  /** First key of the child page. */
  key: Buffer;
  page: number;
}

class BucketBuilder {
  /** Elements of the leaf being filled (for an inline candidate: all of its elements). */
  leaf: Element[] = [];
  /** Bytes the leaf's elements take on a page (element headers + keys + values). */
  leafBytes = 0;
  /** Finished pages of the level being built (leaves, while filling). */
  readonly children: Child[] = [];
  lastKey: Buffer | undefined;
  readonly sequence = 0n;

  constructor(
    readonly name: Buffer,
    /** True while the bucket may still be stored inline in its parent. */
    public inline: boolean,
  ) {}
}

/** Writes a leaf page image at `off`: header, elements (positions relative to each element), keys and values. */
function writeLeaf(buf: Buffer, off: number, id: number, overflow: number, elems: readonly Element[]): void {
  writePageHeader(buf, off, id, LEAF_PAGE, elems.length, overflow);
  let data = off + PAGE_HEADER_SIZE + LEAF_ELEMENT_SIZE * elems.length;
  elems.forEach((e, i) => {
    const at = off + PAGE_HEADER_SIZE + LEAF_ELEMENT_SIZE * i;
    buf.writeUInt32LE(e.flags, at);
    buf.writeUInt32LE(data - at, at + 4);
    buf.writeUInt32LE(e.key.length, at + 8);
    buf.writeUInt32LE(e.value.length, at + 12);
    e.key.copy(buf, data);
    e.value.copy(buf, data + e.key.length);
    data += e.key.length + e.value.length;
  });
}

function writeBranch(buf: Buffer, id: number, overflow: number, children: readonly Child[]): void {
  writePageHeader(buf, 0, id, BRANCH_PAGE, children.length, overflow);
  let data = PAGE_HEADER_SIZE + BRANCH_ELEMENT_SIZE * children.length;
  children.forEach((c, i) => {
    const at = PAGE_HEADER_SIZE + BRANCH_ELEMENT_SIZE * i;
    buf.writeUInt32LE(data - at, at);
    buf.writeUInt32LE(c.key.length, at + 4);
    buf.writeBigUInt64LE(BigInt(c.page), at + 8);
    c.key.copy(buf, data);
    data += c.key.length;
  });
}
