/**
 * Keys and values at the client's edge: callers pass strings (UTF-8) or bytes; the wire always carries bytes.
 */

/** A key, value or prefix as a caller may give it. */
export type Bytes = string | Uint8Array;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The wire form of `b` (strings are UTF-8 encoded; byte arrays pass through unchanged, not copied). */
export function toBytes(b: Bytes): Uint8Array {
  return typeof b === 'string' ? encoder.encode(b) : b;
}

/** `b` decoded as UTF-8 (invalid sequences become U+FFFD). */
export function toText(b: Uint8Array): string {
  return decoder.decode(b);
}

/** `a` followed by `b`, as a new array. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Byte-wise comparison, as etcd orders keys. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * The range end that selects every key starting with `prefix` ("foo" → "fop"), as etcd's clients compute it;
 * a prefix of only 0xff bytes (or the empty prefix) gives `\0`, which etcd reads as "to the end of the keyspace".
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      // A copy: on a Buffer, slice() is a view, and incrementing it would change the caller's key.
      const end = Uint8Array.prototype.slice.call(prefix, 0, i + 1);
      end[i]! += 1;
      return end;
    }
  }
  return Uint8Array.of(0);
}

/** A lease ID as etcd's recipes write it in key names: lowercase hex, no padding (`fmt.Sprintf("%x")`). */
export function leaseHex(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16);
}
