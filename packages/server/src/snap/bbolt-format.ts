/**
 * Facts of bbolt's file format (go.etcd.io/bbolt, format version 2), shared by the writer and the reader. All
 * integers are little-endian (bbolt writes its structs in the machine's order; every platform etcd ships on is
 * little-endian).
 *
 * A file is an array of fixed-size pages (the page size is recorded in the meta pages; etcd uses the OS page
 * size, 4096). Page `n` starts at byte `n * pageSize`. Every page starts with a 16-byte header:
 *
 *   offset 0  u64 id        the page's own number (must equal its position)
 *          8  u16 flags     0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist
 *         10  u16 count     number of elements (freelist: number of ids, 0xFFFF = "the count is the first id")
 *         12  u32 overflow  number of further pages this one spans (a page with big values is contiguous)
 *
 * Meta page (pages 0 and 1; the valid one with the higher txid wins), after the header:
 *
 *   16 u32 magic 0xED0CDAED   20 u32 version 2   24 u32 pageSize   28 u32 flags
 *   32 u64 root bucket's root page   40 u64 root bucket's sequence
 *   48 u64 freelist page   56 u64 pgid (high-water mark: pages >= it are not part of the file's state)
 *   64 u64 txid   72 u64 checksum = FNV-1a 64 of meta bytes 16..72
 *
 * Leaf element (16 bytes each, right after the header): u32 flags (0x01 = the value is a nested bucket),
 * u32 pos, u32 ksize, u32 vsize, where `pos` counts from the element's own first byte to its key; the value
 * follows the key. Branch element (16 bytes): u32 pos, u32 ksize, u64 child page; its key is the first key of
 * the child.
 *
 * A bucket's value is a 16-byte header (u64 root page, u64 sequence). With root 0 the bucket is "inline": a leaf
 * page image (header with id 0, elements, data) follows the header inside the value itself.
 */

export const MAGIC = 0xed0cdaed;
export const VERSION = 2;
export const DEFAULT_PAGE_SIZE = 4096;

export const PAGE_HEADER_SIZE = 16;
export const LEAF_ELEMENT_SIZE = 16;
export const BRANCH_ELEMENT_SIZE = 16;
export const BUCKET_HEADER_SIZE = 16;
/** Bytes of the meta struct covered by the checksum (magic through txid). */
export const META_CHECKSUMMED = 56;

export const BRANCH_PAGE = 0x01;
export const LEAF_PAGE = 0x02;
export const META_PAGE = 0x04;
export const FREELIST_PAGE = 0x10;

/** Leaf element flag: the value is a bucket. */
export const BUCKET_LEAF_FLAG = 0x01;

/** bbolt's limits on keys and values. */
export const MAX_KEY_SIZE = 32768;
export const MAX_VALUE_SIZE = 2 ** 31 - 2;
/** A page's element count is a u16 and bbolt refuses 0xFFFF elements in one node. */
export const MAX_ELEMENTS_PER_PAGE = 0xfffe;
/** The freelist page's count value meaning "the real count is the first u64". */
export const FREELIST_COUNT_ESCAPE = 0xffff;

/** The meta struct. Page numbers are JS numbers: 2^53 pages is far beyond any file. */
export interface Meta {
  magic: number;
  version: number;
  pageSize: number;
  flags: number;
  root: { root: number; sequence: bigint };
  freelist: number;
  pgid: number;
  txid: bigint;
  checksum: bigint;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** FNV-1a, 64 bits (Go's hash/fnv New64a). */
export function fnv64a(data: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (const b of data) {
    h ^= BigInt(b);
    h = (h * FNV_PRIME) & MASK64;
  }
  return h;
}

/** Writes a page header at `off` of `buf`. */
export function writePageHeader(buf: Buffer, off: number, id: number, flags: number, count: number, overflow: number): void {
  buf.writeBigUInt64LE(BigInt(id), off);
  buf.writeUInt16LE(flags, off + 8);
  buf.writeUInt16LE(count, off + 10);
  buf.writeUInt32LE(overflow, off + 12);
}

export interface PageHeader {
  id: number;
  flags: number;
  count: number;
  overflow: number;
}

export function readPageHeader(buf: Buffer, off = 0): PageHeader {
  return {
    id: u64(buf, off),
    flags: buf.readUInt16LE(off + 8),
    count: buf.readUInt16LE(off + 10),
    overflow: buf.readUInt32LE(off + 12),
  };
}

/** Encodes a meta page image (one page of `meta.pageSize` bytes) with page id `id`, computing the checksum. */
export function encodeMetaPage(id: number, meta: Omit<Meta, 'checksum' | 'magic' | 'version'>): Buffer {
  const page = Buffer.alloc(meta.pageSize);
  writePageHeader(page, 0, id, META_PAGE, 0, 0);
  const m = page.subarray(PAGE_HEADER_SIZE);
  m.writeUInt32LE(MAGIC, 0);
  m.writeUInt32LE(VERSION, 4);
  m.writeUInt32LE(meta.pageSize, 8);
  m.writeUInt32LE(meta.flags, 12);
  m.writeBigUInt64LE(BigInt(meta.root.root), 16);
  m.writeBigUInt64LE(meta.root.sequence, 24);
  m.writeBigUInt64LE(BigInt(meta.freelist), 32);
  m.writeBigUInt64LE(BigInt(meta.pgid), 40);
  m.writeBigUInt64LE(meta.txid, 48);
  m.writeBigUInt64LE(fnv64a(m.subarray(0, META_CHECKSUMMED)), 56);
  return page;
}

/** Decodes the meta struct of a meta page image (no validation: see `metaProblem`). */
export function decodeMeta(page: Buffer): Meta {
  const m = page.subarray(PAGE_HEADER_SIZE);
  return {
    magic: m.readUInt32LE(0),
    version: m.readUInt32LE(4),
    pageSize: m.readUInt32LE(8),
    flags: m.readUInt32LE(12),
    root: { root: u64(m, 16), sequence: m.readBigUInt64LE(24) },
    freelist: u64(m, 32),
    pgid: u64(m, 40),
    txid: m.readBigUInt64LE(48),
    checksum: m.readBigUInt64LE(56),
  };
}

/** Why bbolt would refuse this meta page, or undefined if it is valid (bbolt's meta.validate). */
export function metaProblem(page: Buffer): string | undefined {
  const meta = decodeMeta(page);
  if (meta.magic !== MAGIC) return 'invalid magic';
  if (meta.version !== VERSION) return `version ${meta.version}, not ${VERSION}`;
  if (meta.checksum !== 0n && meta.checksum !== fnv64a(page.subarray(PAGE_HEADER_SIZE, PAGE_HEADER_SIZE + META_CHECKSUMMED))) return 'checksum mismatch';
  return undefined;
}

/** A u64 that must fit a JS number (page ids, sizes). */
export function u64(buf: Buffer, off: number): number {
  const v = buf.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  return Number(v);
}
