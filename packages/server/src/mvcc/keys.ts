/**
 * Key conversions. The store indexes keys as "binary strings" (latin1: one code unit per byte), whose JS order is
 * byte order; the wire carries bytes.
 */

export function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export function keyBytes(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

/**
 * The exclusive upper bound of a range request as a binary string, or undefined for "no upper bound".
 * etcd's rule: an empty range_end means the single key; a range_end of one zero byte means every key >= key.
 */
export function rangeEndString(end: Uint8Array): string | undefined {
  if (end.length === 1 && end[0] === 0) return undefined;
  return keyString(end);
}

/** The smallest key greater than every key with this prefix (etcd's `GetPrefixRangeEnd`); "\0" if none exists. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.slice(0, i + 1);
    }
  }
  return Uint8Array.of(0);
}
