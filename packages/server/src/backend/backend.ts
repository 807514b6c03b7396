/**
 * The storage backend under the MVCC store, the lessor and the membership/auth tables: a transactional,
 * ordered key-value store with named tables (LMDB in production, memory in unit tests).
 *
 * Contract:
 * - Writes happen only inside `batch(fn)`, which runs `fn` in one atomic write transaction. Reads inside the
 *   batch see the batch's own writes. Batches do not nest.
 * - A committed batch survives the process being killed (the operating system keeps it); a deferred one only once
 *   it is committed. Either survives a machine crash only after `sync()` resolves. The write-ahead log covers
 *   everything after the last sync, which is why the applied index is written in the same batch as the data it
 *   describes.
 * - Keys order bytewise. Values returned by `get`/`scan` are owned by the caller.
 */
export interface Backend {
  batch<T>(fn: () => T): T;
  /**
   * As `batch`, except that the backend may commit it later (write-behind, see write-behind.ts): its writes are
   * visible to reads at once but survive the process being killed only once committed, which `sync()` forces.
   * Only for writes the caller can redo after a restart. A backend without write-behind runs it as `batch`.
   */
  deferredBatch<T>(fn: () => T): T;
  get(table: Table, key: Uint8Array): Buffer | undefined;
  put(table: Table, key: Uint8Array, value: Uint8Array): void;
  del(table: Table, key: Uint8Array): void;
  /** Visits entries with `start <= key < end` in key order (either bound optional); return false to stop. */
  scan(table: Table, start: Uint8Array | undefined, end: Uint8Array | undefined, fn: (key: Buffer, value: Buffer) => boolean | void): void;
  /** Resolves once every batch committed before the call is durable on disk. */
  sync(): Promise<void>;
  /** Bytes the database occupies on disk, and bytes in use by live pages (after committing what waits). */
  size(): { total: number; inUse: number };
  /** `size().inUse`, or an estimate of it that commits nothing (for the quota, which samples it often). */
  sizeInUse(): number;
  /** Writes a consistent copy of every table to `out` (used by peer snapshots). */
  copyTo(out: string): Promise<void>;
  /**
   * A consistent read-only view of every table as of the call (one read transaction): batches committed later do
   * not show in it. Used by the Snapshot RPC to convert the state to etcd's format. `close()` releases it; until
   * then the backend keeps every page the view can see.
   */
  readView(): BackendView;
  close(): Promise<void>;
}

/** A frozen, read-only view of a backend (see `Backend.readView`). */
export interface BackendView {
  get(table: Table, key: Uint8Array): Buffer | undefined;
  /** As `Backend.scan`, over the frozen state. */
  scan(table: Table, start: Uint8Array | undefined, end: Uint8Array | undefined, fn: (key: Buffer, value: Buffer) => boolean | void): void;
  close(): void;
}

/** The backend's tables. Each is an independent ordered key space. */
export enum Table {
  /** revision (12 bytes) -> stored KeyValue record (see mvcc/store.ts) */
  Key = 'key',
  /** name -> value: applied index, compact revisions, cluster identity, … */
  Meta = 'meta',
  /** lease id (8 bytes, big-endian) -> stored lease record */
  Lease = 'lease',
  /** member id (8 bytes) -> MemberRecord */
  Members = 'members',
  /** auth state: users, roles, enabled flag, revision */
  Auth = 'auth',
}

export const ALL_TABLES: readonly Table[] = [Table.Key, Table.Meta, Table.Lease, Table.Members, Table.Auth];
