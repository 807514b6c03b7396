import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { BoltReader, type BoltBucket } from './bbolt-reader.js';
import { BoltWriter } from './bbolt-writer.js';
import { BRANCH_PAGE, FREELIST_COUNT_ESCAPE, PAGE_HEADER_SIZE, decodeMeta, encodeMetaPage, readPageHeader } from './bbolt-format.js';
import { CorruptSnapshotError, NotBoltFileError } from './errors.js';

const dir = mkdtempSync(join(tmpdir(), 'latchkey-bbolt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const tmpFile = (): string => join(dir, `t${seq++}.db`);

/** A bucket's content as a test model: sorted entries, each a value or a nested bucket. */
interface Model {
  entries: [Buffer, Buffer | Model][];
}

async function write(root: Model, opts: { pageSize?: number; freePages?: number } = {}): Promise<string> {
  const path = tmpFile();
  const fh = await open(path, 'w+');
  const w = new BoltWriter(fh, opts);
  const fill = (m: Model): void => {
    for (const [k, v] of m.entries) {
      if (Buffer.isBuffer(v)) {
        w.put(k, v);
      } else {
        w.bucket(k);
        fill(v);
        w.end();
      }
    }
  };
  for (const [name, b] of root.entries) {
    w.bucket(name);
    fill(b as Model);
    w.end();
    // Flushing at arbitrary points must not change the file.
    if (w.pendingBytes > 64 * 1024) await w.flush();
  }
  await w.finish();
  await fh.close();
  return path;
}

function read(b: BoltBucket): Model {
  const entries: [Buffer, Buffer | Model][] = [];
  for (const e of b.entries()) entries.push([Buffer.from(e.key), e.bucket ? read(e.bucket) : Buffer.from(e.value)]);
  return { entries };
}

const sortUnique = (pairs: [Buffer, Buffer | Model][]): [Buffer, Buffer | Model][] => {
  const seen = new Map<string, [Buffer, Buffer | Model]>();
  for (const p of pairs) seen.set(p[0].toString('hex'), p);
  return [...seen.values()].sort((a, b) => Buffer.compare(a[0], b[0]));
};

const key = fc.uint8Array({ minLength: 1, maxLength: 24 }).map((a) => Buffer.from(a));
const value = fc.oneof(
  { weight: 20, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => new Uint8Array(n).fill(n % 251)) },
).map((a) => Buffer.from(a));
const leafBucket = fc.array(fc.tuple(key, value), { maxLength: 300 }).map((p) => ({ entries: sortUnique(p) }));
const bucket: fc.Arbitrary<Model> = fc
  .tuple(fc.array(fc.tuple(key, value), { maxLength: 300 }), fc.array(fc.tuple(key, leafBucket), { maxLength: 3 }))
  .map(([plain, nested]) => ({ entries: sortUnique([...plain, ...nested]) }));
const database = fc.array(fc.tuple(key, bucket), { minLength: 0, maxLength: 5 }).map((p) => ({ entries: sortUnique(p) }));

describe('bbolt writer and reader', () => {
  test('bbolt - a written file reads back the same buckets, keys and values, and passes the check', async () => {
    await fc.assert(
      fc.asyncProperty(database, fc.constantFrom(1024, 4096), async (db, pageSize) => {
        const path = await write(db, { pageSize });
        using r = BoltReader.open(path);
        expect(r.check()).toEqual([]);
        expect(read(r.root())).toEqual(db);
        expect(r.size).toBe(readFileSync(path).length);
        rmSync(path);
      }),
      { numRuns: 40 },
    );
  });

  test('bbolt - many keys make a tree of several branch levels; lookups find every key', async () => {
    const entries: [Buffer, Buffer][] = [];
    for (let i = 0; i < 6000; i++) entries.push([Buffer.from(`key-${String(i).padStart(6, '0')}`), Buffer.from(`value ${i}`)]);
    const path = await write({ entries: [[Buffer.from('big'), { entries }]] }, { pageSize: 1024 });
    using r = BoltReader.open(path);
    expect(r.check()).toEqual([]);
    const big = r.root().bucket(Buffer.from('big'))!;
    // Depth: follow the first child down to a leaf.
    let depth = 0;
    for (let id = big.rootPage; ; depth++) {
      const p = r.page(id);
      if ((p.header.flags & BRANCH_PAGE) === 0) break;
      id = Number(p.buf.readBigUInt64LE(PAGE_HEADER_SIZE + 8));
    }
    expect(depth).toBeGreaterThanOrEqual(2);
    for (const i of [0, 1, 999, 3001, 5999]) expect(big.get(Buffer.from(`key-${String(i).padStart(6, '0')}`))?.toString()).toBe(`value ${i}`);
    expect(big.get(Buffer.from('key-'))).toBeUndefined();
    expect(big.get(Buffer.from('zzz'))).toBeUndefined();
  });

  test('bbolt - small buckets without sub-buckets are inline; a big value spans overflow pages', async () => {
    const big = Buffer.alloc(10_000, 7);
    const path = await write({
      entries: [
        [Buffer.from('a-empty'), { entries: [] }],
        [Buffer.from('b-small'), { entries: [[Buffer.from('k'), Buffer.from('v')]] }],
        [Buffer.from('c-big'), { entries: [[Buffer.from('k'), big]] }],
        [Buffer.from('d-parent'), { entries: [[Buffer.from('child'), { entries: [] }]] }],
      ],
    });
    using r = BoltReader.open(path);
    expect(r.check()).toEqual([]);
    const root = r.root();
    expect(root.bucket(Buffer.from('a-empty'))!.rootPage).toBe(0);
    expect(root.bucket(Buffer.from('b-small'))!.rootPage).toBe(0);
    const c = root.bucket(Buffer.from('c-big'))!;
    expect(c.rootPage).not.toBe(0);
    expect(r.page(c.rootPage).header.overflow).toBe(2);
    expect(c.get(Buffer.from('k'))).toEqual(big);
    // A bucket holding a bucket is never inline; its empty child is.
    const d = root.bucket(Buffer.from('d-parent'))!;
    expect(d.rootPage).not.toBe(0);
    expect(d.bucket(Buffer.from('child'))!.rootPage).toBe(0);
  });

  test('bbolt - a freelist of 0xFFFF or more ids uses the count escape', async () => {
    const path = await write({ entries: [[Buffer.from('b'), { entries: [[Buffer.from('k'), Buffer.from('v')]] }]] }, { pageSize: 1024, freePages: 70_000 });
    using r = BoltReader.open(path);
    expect(r.check()).toEqual([]);
    const fl = r.page(r.meta.freelist);
    expect(fl.header.count).toBe(FREELIST_COUNT_ESCAPE);
    expect(fl.header.overflow).toBeGreaterThan(0);
    expect(r.freelistIds(fl)).toHaveLength(70_000);
    rmSync(path);
  });

  test('bbolt - the writer refuses keys out of order, empty keys and puts at the root', async () => {
    const fh = await open(tmpFile(), 'w+');
    const w = new BoltWriter(fh);
    expect(() => w.put(Buffer.from('k'), Buffer.from('v'))).toThrow(/root bucket/);
    w.bucket(Buffer.from('b'));
    w.put(Buffer.from('b'), Buffer.from('1'));
    expect(() => w.put(Buffer.from('a'), Buffer.from('2'))).toThrow(/increasing/);
    expect(() => w.put(Buffer.from('b'), Buffer.from('2'))).toThrow(/increasing/);
    expect(() => w.put(Buffer.alloc(0), Buffer.from('2'))).toThrow(/empty key/);
    await fh.close();
  });
});

describe('bbolt check: negative controls', () => {
  const sample = async (): Promise<{ path: string; leaf: number }> => {
    const entries: [Buffer, Buffer][] = [];
    for (let i = 0; i < 400; i++) entries.push([Buffer.from(`k${String(i).padStart(4, '0')}`), Buffer.alloc(30, i)]);
    const path = await write({ entries: [[Buffer.from('key'), { entries }]] }, { freePages: 2 });
    return { path, leaf: 2 };
  };
  const patch = (path: string, fn: (buf: Buffer) => void): void => {
    const buf = readFileSync(path);
    fn(buf);
    writeFileSync(path, buf);
  };
  const rewriteMeta = (buf: Buffer, change: (m: ReturnType<typeof decodeMeta>) => void): void => {
    for (const id of [0, 1]) {
      const m = decodeMeta(buf.subarray(id * 4096, (id + 1) * 4096));
      change(m);
      encodeMetaPage(id, m).copy(buf, id * 4096);
    }
  };

  test('bbolt check - a page id that does not match its position', async () => {
    const { path, leaf } = await sample();
    patch(path, (b) => b.writeBigUInt64LE(99n, leaf * 4096));
    using r = BoltReader.open(path);
    expect(r.check().join('\n')).toMatch(/page 2: header says page 99/);
  });

  test('bbolt check - a reachable page on the freelist, a page freed twice', async () => {
    const { path } = await sample();
    patch(path, (b) => {
      const meta = decodeMeta(b);
      const at = meta.freelist * 4096 + PAGE_HEADER_SIZE;
      b.writeBigUInt64LE(BigInt(meta.root.root), at); // the root page, in use, listed as free
    });
    using r = BoltReader.open(path);
    const problems = r.check().join('\n');
    expect(problems).toMatch(/reachable freed/);
    // The page that was free is now neither free nor reachable.
    expect(problems).toMatch(/unreachable unfreed/);
    patch(path, (b) => {
      const meta = decodeMeta(b);
      const at = meta.freelist * 4096 + PAGE_HEADER_SIZE;
      b.copy(b, at + 8, at, at + 8); // both entries the same id
    });
    using r2 = BoltReader.open(path);
    expect(r2.check().join('\n')).toMatch(/already freed/);
  });

  test('bbolt check - keys out of order inside a leaf', async () => {
    const { path, leaf } = await sample();
    patch(path, (b) => {
      const page = b.subarray(leaf * 4096, (leaf + 1) * 4096);
      expect(readPageHeader(page).count).toBeGreaterThan(2);
      // Swap the first two elements' (position, key size, value size): their keys trade places.
      const e0 = PAGE_HEADER_SIZE;
      const e1 = PAGE_HEADER_SIZE + 16;
      const a = Buffer.from(page.subarray(e0, e0 + 16));
      const c = Buffer.from(page.subarray(e1, e1 + 16));
      page.writeUInt32LE(c.readUInt32LE(4) + 16, e0 + 4);
      page.writeUInt32LE(a.readUInt32LE(4) - 16, e1 + 4);
    });
    using r = BoltReader.open(path);
    expect(r.check().join('\n')).toMatch(/keys out of order/);
  });

  test('bbolt check - a page past the root that nothing references', async () => {
    const { path } = await sample();
    patch(path, (b) => rewriteMeta(b, (m) => (m.pgid += 1)));
    // The file must hold the extra page.
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.alloc(4096)]));
    using r = BoltReader.open(path);
    expect(r.check().join('\n')).toMatch(/unreachable unfreed/);
  });

  test('bbolt reader - a truncated file and a file that is not bbolt are refused', async () => {
    const { path } = await sample();
    const full = readFileSync(path);
    writeFileSync(path, full.subarray(0, full.length - 4096));
    expect(() => BoltReader.open(path)).toThrow(CorruptSnapshotError);
    writeFileSync(path, Buffer.alloc(16384, 0x41));
    expect(() => BoltReader.open(path)).toThrow(NotBoltFileError);
    writeFileSync(path, Buffer.from('short'));
    expect(() => BoltReader.open(path)).toThrow(NotBoltFileError);
    // One damaged meta page: the other one is used (bbolt's fallback).
    const copy = Buffer.from(full);
    copy[16 + 20]! ^= 0xff; // inside meta 0's checksummed bytes
    writeFileSync(path, copy);
    using r = BoltReader.open(path);
    expect(r.meta.txid).toBe(1n);
    expect(r.check()).toEqual([]);
  });
});
