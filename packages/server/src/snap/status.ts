import { BoltReader } from './bbolt-reader.js';
import { Crc32c } from './crc32c.js';
import { CorruptSnapshotError } from './errors.js';

/** What `etcdctl snapshot status` prints for a file. */
export interface SnapshotStatus {
  /** CRC-32C over every top-level bucket's name, then its keys and values, in bbolt order. */
  hash: number;
  /** Main revision of the last key in bucket `key` (0 if it is empty). */
  revision: bigint;
  /** Number of keys in all top-level buckets. */
  totalKey: number;
  /** Database size in bytes: the high-water page times the page size (the SHA-256 trailer is not counted). */
  totalSize: number;
}

/**
 * Computes exactly what etcdctl 3.4's `snapshot status` computes (clientv3/snapshot Status): it first checks the
 * file as bbolt's tx.Check does and refuses a damaged one, then hashes and counts. The SHA-256 trailer is not
 * verified here (etcdctl does not either); `restoreSnapshot` verifies it.
 */
export async function snapshotStatus(path: string): Promise<SnapshotStatus> {
  using reader = BoltReader.open(path);
  const problems = reader.check();
  if (problems.length > 0) {
    throw new CorruptSnapshotError(`snapshot file integrity check failed. ${problems.length} errors found: ${problems.slice(0, 5).join('; ')}`, problems);
  }
  const crc = new Crc32c();
  let revision = 0n;
  let totalKey = 0;
  for (const b of reader.root().entries()) {
    if (!b.bucket) throw new CorruptSnapshotError(`cannot get hash of bucket ${b.key.toString('latin1')}`);
    crc.update(b.key);
    const isKey = b.key.equals(KEY_BUCKET);
    for (const e of b.bucket.entries()) {
      crc.update(e.key);
      // A nested bucket's value reads as nil in bbolt's ForEach: nothing is hashed for it.
      if (!e.bucket) crc.update(e.value);
      if (isKey && e.key.length >= 8) revision = e.key.readBigInt64BE(0);
      totalKey++;
    }
  }
  return { hash: crc.digest(), revision, totalKey, totalSize: reader.size };
}

const KEY_BUCKET = Buffer.from('key');
