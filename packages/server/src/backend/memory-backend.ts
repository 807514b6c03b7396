import { type Backend, type BackendView, Table, ALL_TABLES } from './backend.js';

/**
 * A backend held in memory, for unit tests: same contract as the LMDB backend except that nothing survives the
 * process. A batch that throws is rolled back.
 */
export class MemoryBackend implements Backend {
  private tables = new Map<Table, Map<string, Buffer>>(ALL_TABLES.map((t) => [t, new Map()]));
  private pending: Map<Table, Map<string, Buffer | null>> | undefined;

  batch<T>(fn: () => T): T {
    if (this.pending) throw new Error('backend: batches do not nest');
    this.pending = new Map();
    try {
      const out = fn();
      for (const [t, writes] of this.pending) {
        const table = this.tables.get(t)!;
        for (const [k, v] of writes) {
          if (v === null) table.delete(k);
          else table.set(k, v);
        }
      }
      return out;
    } finally {
      this.pending = undefined;
    }
  }

  /** Commits at once: write-behind is a layer of its own (write-behind.ts). */
  deferredBatch<T>(fn: () => T): T {
    return this.batch(fn);
  }

  get(table: Table, key: Uint8Array): Buffer | undefined {
    const k = hex(key);
    const p = this.pending?.get(table)?.get(k);
    if (p !== undefined) return p === null ? undefined : Buffer.from(p);
    const v = this.tables.get(table)!.get(k);
    return v === undefined ? undefined : Buffer.from(v);
  }

  put(table: Table, key: Uint8Array, value: Uint8Array): void {
    this.writes(table).set(hex(key), Buffer.from(value));
  }

  del(table: Table, key: Uint8Array): void {
    this.writes(table).set(hex(key), null);
  }

  scan(table: Table, start: Uint8Array | undefined, end: Uint8Array | undefined, fn: (key: Buffer, value: Buffer) => boolean | void): void {
    const merged = new Map(this.tables.get(table)!);
    for (const [k, v] of this.pending?.get(table) ?? []) {
      if (v === null) merged.delete(k);
      else merged.set(k, v);
    }
    const lo = start ? hex(start) : undefined;
    const hi = end ? hex(end) : undefined;
    const keys = [...merged.keys()].filter((k) => (lo === undefined || k >= lo) && (hi === undefined || k < hi)).sort();
    for (const k of keys) {
      if (fn(Buffer.from(k, 'hex'), Buffer.from(merged.get(k)!)) === false) return;
    }
  }

  async sync(): Promise<void> {}

  sizeInUse(): number {
    return this.size().inUse;
  }

  size(): { total: number; inUse: number } {
    let n = 0;
    for (const t of this.tables.values()) for (const [k, v] of t) n += k.length / 2 + v.length;
    return { total: n, inUse: n };
  }

  async copyTo(): Promise<void> {
    throw new Error('backend: the memory backend cannot be copied to a file');
  }

  readView(): BackendView {
    // A copy of the committed tables (a batch in progress is not part of the view).
    const frozen = new MemoryBackend();
    frozen.tables = new Map([...this.tables].map(([t, m]) => [t, new Map(m)]));
    return { get: (t, k) => frozen.get(t, k), scan: (t, s, e, fn) => frozen.scan(t, s, e, fn), close: () => undefined };
  }

  async close(): Promise<void> {}

  private writes(table: Table): Map<string, Buffer | null> {
    if (!this.pending) throw new Error('backend: writes must happen inside batch()');
    let w = this.pending.get(table);
    if (!w) this.pending.set(table, (w = new Map()));
    return w;
  }
}

// Lowercase hex keeps byte order under string comparison.
function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
