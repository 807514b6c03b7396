/**
 * Snapshot files in etcd's format: a bbolt database laid out as etcd's backend, which `etcdctl snapshot
 * status/restore` and etcd itself accept, written from (and restored into) latchkey's backend.
 */
export { restoreSnapshot, verifySnapshotHash, hasHashTrailer, type RestoreOptions, type RestoreResult } from './restore.js';
export { snapshotStatus, type SnapshotStatus } from './status.js';
export { writeEtcdSnapshot } from './export.js';
export { BoltWriter } from './bbolt-writer.js';
export { BoltReader, BoltBucket, type BoltEntry } from './bbolt-reader.js';
export { BUCKETS } from './etcd-layout.js';
export { SnapshotError, NotBoltFileError, CorruptSnapshotError, HashMismatchError, MissingHashError, LayoutError, RestoreConfigError } from './errors.js';
