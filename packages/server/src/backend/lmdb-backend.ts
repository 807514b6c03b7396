import { statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { type Backend, type BackendView, Table, ALL_TABLES } from './backend.js';

/**
 * The production backend: one LMDB environment (a memory-mapped copy-on-write B+tree, the design bbolt ported
 * to Go for etcd) with a named database per table.
 *
 * Durability: LMDB runs with `noSync`, so committing a batch costs microseconds instead of an fsync. Without
 * WRITEMAP, a committed batch is in the operating system's page cache when `batch` returns and survives the
 * process being killed; `sync()` flushes it to the device (mdb_env_sync). The server calls `sync()` before it
 * releases write-ahead-log segments, so a machine crash replays the log from the last synced applied index.
 */
export class LmdbBackend implements Backend {
  private readonly env: RootDatabase<Buffer, Buffer>;
  private readonly dbs = new Map<Table, Database<Buffer, Buffer>>();
  private inBatch = false;

  constructor(private readonly dir: string) {
    this.env = open<Buffer, Buffer>({
      path: dir,
      noSync: true,
      maxDbs: ALL_TABLES.length + 2,
      keyEncoding: 'binary',
      encoding: 'binary',
      // The map grows on demand; this is only the initial reservation of address space.
      mapSize: 256 * 1024 * 1024,
    });
    for (const t of ALL_TABLES) {
      this.dbs.set(t, this.env.openDB<Buffer, Buffer>({ name: t, keyEncoding: 'binary', encoding: 'binary' }));
    }
  }

  batch<T>(fn: () => T): T {
    if (this.inBatch) throw new Error('backend: batches do not nest');
    this.inBatch = true;
    try {
      return this.env.transactionSync(fn);
    } finally {
      this.inBatch = false;
    }
  }

  /** Commits at once: write-behind is a layer of its own (write-behind.ts). */
  deferredBatch<T>(fn: () => T): T {
    return this.batch(fn);
  }

  get(table: Table, key: Uint8Array): Buffer | undefined {
    const v = this.db(table).getBinary(asBuffer(key));
    return v === undefined ? undefined : Buffer.from(v);
  }

  put(table: Table, key: Uint8Array, value: Uint8Array): void {
    if (!this.inBatch) throw new Error('backend: writes must happen inside batch()');
    this.db(table).putSync(asBuffer(key), asBuffer(value));
  }

  del(table: Table, key: Uint8Array): void {
    if (!this.inBatch) throw new Error('backend: writes must happen inside batch()');
    this.db(table).removeSync(asBuffer(key));
  }

  scan(table: Table, start: Uint8Array | undefined, end: Uint8Array | undefined, fn: (key: Buffer, value: Buffer) => boolean | void): void {
    const opts: { start?: Buffer; end?: Buffer } = {};
    if (start) opts.start = asBuffer(start);
    if (end) opts.end = asBuffer(end);
    for (const { key, value } of this.db(table).getRange(opts)) {
      if (fn(Buffer.from(key), Buffer.from(value)) === false) return;
    }
  }

  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      (this.env as unknown as { sync(cb: (err?: Error) => void): void }).sync((err) => (err ? reject(err) : resolve()));
    });
  }

  sizeInUse(): number {
    return this.size().inUse;
  }

  size(): { total: number; inUse: number } {
    let total = 0;
    try {
      total = statSync(join(this.dir, 'data.mdb')).size;
    } catch {
      total = 0;
    }
    // In use: the pages the tables' B+trees occupy (freed pages are reused by LMDB, so this is what a quota and
    // an operator care about; the file itself never shrinks).
    type Stats = { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
    let pages = 2; // the two meta pages
    let pageSize = 4096;
    for (const db of this.dbs.values()) {
      const st = db.getStats() as Stats;
      pageSize = st.pageSize;
      pages += st.treeBranchPageCount + st.treeLeafPageCount + st.overflowPages;
    }
    return { total, inUse: pages * pageSize };
  }

  /** Writes `out` as one LMDB data file (the environment's data.mdb, copied under one read transaction). */
  async copyTo(out: string): Promise<void> {
    // LMDB copies an environment into a directory; take the data file out of it.
    const dir = `${out}.d`;
    await mkdir(dir, { recursive: true });
    try {
      await this.env.backup(dir, false);
      await rename(join(dir, 'data.mdb'), out);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  readView(): BackendView {
    const transaction = this.env.useReadTransaction();
    let open = true;
    const check = (): void => {
      if (!open) throw new Error('backend: the read view is closed');
    };
    return {
      get: (table, key) => {
        check();
        const v = this.db(table).get(asBuffer(key), { transaction });
        return v === undefined ? undefined : Buffer.from(v);
      },
      scan: (table, start, end, fn) => {
        check();
        const opts: { start?: Buffer; end?: Buffer; transaction: typeof transaction } = { transaction };
        if (start) opts.start = asBuffer(start);
        if (end) opts.end = asBuffer(end);
        for (const { key, value } of this.db(table).getRange(opts)) {
          if (fn(Buffer.from(key), Buffer.from(value)) === false) return;
        }
      },
      close: () => {
        if (open) transaction.done();
        open = false;
      },
    };
  }

  async close(): Promise<void> {
    await this.env.close();
  }

  private db(t: Table): Database<Buffer, Buffer> {
    return this.dbs.get(t)!;
  }
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
