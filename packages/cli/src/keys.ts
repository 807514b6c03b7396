/**
 * Keys and ranges as etcdctl's commands build them from their arguments (clientv3's WithPrefix, WithFromKey,
 * WithRange), always as fresh plain Uint8Arrays.
 */

/** `\0`: as a range end, "to the end of the keyspace"; as a key with that end, "every key". */
const NUL = Uint8Array.of(0);

/** A command-line word as the bytes etcd stores (UTF-8), as a plain Uint8Array (never a Buffer view). */
export const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

/**
 * The range end selecting every key that starts with `prefix` ("foo" → "fop"; all-0xff → "\0"), always a new
 * array. (The SDK's prefixEnd slices its input, which for a Buffer is a view: the input would be modified.)
 */
export function prefixRangeEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = Uint8Array.from(prefix.subarray(0, i + 1));
      end[i]! += 1;
      return end;
    }
  }
  return Uint8Array.of(0);
}

/**
 * The key and range end of `<key> [range_end]` with `--prefix` or `--from-key` (the caller has refused both at
 * once, and a range end with either): an empty key with either flag means every key (`\0`, `\0`).
 */
export function keyRange(key: string, rangeEnd: string | undefined, opts: { prefix?: boolean; fromKey?: boolean }): { key: Uint8Array; rangeEnd: Uint8Array } {
  const k = bytes(key);
  if (opts.prefix) return k.length === 0 ? { key: NUL, rangeEnd: NUL } : { key: k, rangeEnd: prefixRangeEnd(k) };
  if (opts.fromKey) return { key: k.length === 0 ? NUL : k, rangeEnd: NUL };
  return { key: k, rangeEnd: rangeEnd === undefined ? new Uint8Array(0) : bytes(rangeEnd) };
}
