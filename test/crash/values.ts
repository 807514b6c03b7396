/**
 * Keys and values of the crash test's writer. Every value is a pure function of its key, so the checker can
 * verify any key it finds in the store, acknowledged or not: a key holding anything else was corrupted.
 */
import { createHash } from 'node:crypto';

/** All keys of one crash test run live under this prefix. */
export const KEY_PREFIX = 'crash/';

/** The key of the writer's `seq`-th put (zero-padded, so key order is seq order). */
export function keyFor(seq: number): string {
  return `${KEY_PREFIX}${String(seq).padStart(8, '0')}`;
}

/** The sequence number encoded in a key, or undefined if it is not a writer key. */
export function seqOf(key: string): number | undefined {
  const m = /^crash\/(\d{8})$/.exec(key);
  return m === null ? undefined : Number(m[1]);
}

/** The one value the writer ever puts at `key` (~80 bytes, unique per key). */
export function valueFor(key: string): string {
  return `${key}=${createHash('sha256').update(key).digest('hex')}`;
}
