import { huffmanDecode, HuffmanError } from './huffman.js';

export { HuffmanError, huffmanDecode, huffmanEncode } from './huffman.js';

/**
 * HPACK (RFC 7541) for one side of an HTTP/2 connection (the server's client API and the SDK's transport both use
 * it): a full decoder for the peer's header blocks
 * (static table, dynamic table with size updates, integers, Huffman strings) and an encoder that only ever emits
 * "literal without indexing" and static-table references — our own header blocks never touch the dynamic table,
 * so the peer's decoder state never depends on us and the encoding of a header is a constant.
 *
 * Strings are kept as latin1 (one char per octet): header octets round-trip exactly, and the dynamic table's
 * size accounting (name octets + value octets + 32 per entry) is just `.length`.
 */

export class HpackError extends Error {}

/** RFC 7541 Appendix A. Index 1 is STATIC[0]. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** One decoded header block: names (lowercase, as HTTP/2 requires) to values; repeated names become arrays. */
export type HeaderMap = Record<string, string | string[] | undefined>;

/**
 * The decoder's dynamic table is a ring of [name, value] pairs, newest first for indexing: after inserting A then
 * B, index 62 is B and 63 is A. `size` counts octets as RFC 7541 §4.1 defines them.
 */
export class HpackDecoder {
  private entries: [string, string][] = [];
  private size = 0;
  private maxSize: number;

  /** @param limit the SETTINGS_HEADER_TABLE_SIZE we announced (the most a size update may ask for). */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit;
  }

  /** Decodes a complete header block. Throws HpackError on malformed input (a connection error). */
  decode(block: Uint8Array, maxListBytes: number): HeaderMap {
    // No prototype: a header named "__proto__" or "constructor" is just a header.
    const out: HeaderMap = Object.create(null) as HeaderMap;
    let pos = 0;
    let listBytes = 0;
    let fieldsSeen = false;
    const end = block.length;
    const int = (prefixBits: number): number => {
      if (pos >= end) throw new HpackError('hpack: truncated integer');
      const mask = (1 << prefixBits) - 1;
      let v = block[pos++]! & mask;
      if (v < mask) return v;
      let mul = 1;
      for (;;) {
        if (pos >= end) throw new HpackError('hpack: truncated integer');
        const b = block[pos++]!;
        v += (b & 0x7f) * mul;
        if (v > 0x7fffffff) throw new HpackError('hpack: integer overflow');
        if ((b & 0x80) === 0) return v;
        mul *= 128;
      }
    };
    const str = (): string => {
      if (pos >= end) throw new HpackError('hpack: truncated string');
      const huffman = (block[pos]! & 0x80) !== 0;
      const len = int(7);
      if (pos + len > end) throw new HpackError('hpack: truncated string');
      let s: string;
      try {
        s = huffman ? huffmanDecode(block, pos, pos + len) : latin1(block, pos, pos + len);
      } catch (err) {
        if (err instanceof HuffmanError) throw new HpackError(err.message);
        throw err;
      }
      pos += len;
      return s;
    };
    const emit = (name: string, value: string): void => {
      listBytes += name.length + value.length + 32;
      if (listBytes > maxListBytes) throw new HpackError('hpack: header list too large');
      const prev = out[name];
      if (prev === undefined) out[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else out[name] = [prev, value];
    };
    while (pos < end) {
      const b = block[pos]!;
      if (b & 0x80) {
        // Indexed field.
        const [name, value] = this.lookup(int(7));
        emit(name, value);
        fieldsSeen = true;
      } else if (b & 0x40) {
        // Literal with incremental indexing.
        const idx = int(6);
        const name = idx === 0 ? str() : this.lookup(idx)[0];
        const value = str();
        this.insert(name, value);
        emit(name, value);
        fieldsSeen = true;
      } else if (b & 0x20) {
        // Dynamic table size update: only at the start of a block.
        if (fieldsSeen) throw new HpackError('hpack: table size update after a field');
        const size = int(5);
        if (size > this.limit) throw new HpackError('hpack: table size update above the limit');
        this.maxSize = size;
        this.evict(0);
      } else {
        // Literal without indexing (0000) or never indexed (0001): same decoding.
        const idx = int(4);
        const name = idx === 0 ? str() : this.lookup(idx)[0];
        emit(name, str());
        fieldsSeen = true;
      }
    }
    return out;
  }

  private lookup(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('hpack: index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const e = this.entries[index - STATIC_TABLE.length - 1];
    if (!e) throw new HpackError(`hpack: index ${index} beyond the dynamic table`);
    return e;
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.evict(size);
    // An entry larger than the table empties it and is not added (RFC 7541 §4.4).
    if (size <= this.maxSize) {
      this.entries.unshift([name, value]);
      this.size += size;
    }
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.entries.length > 0 && this.size + room > this.maxSize) {
      const [n, v] = this.entries.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

function latin1(b: Uint8Array, start: number, end: number): string {
  // Short strings: a loop beats creating a Buffer view.
  if (end - start <= 32) {
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
    return s;
  }
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}

// ------------------------------------------------------------------------------------------------ encoding

function encodeInt(out: number[], value: number, prefixBits: number, firstByteFlags: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(firstByteFlags | value);
    return;
  }
  out.push(firstByteFlags | mask);
  value -= mask;
  while (value >= 128) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function encodeString(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1');
  encodeInt(out, bytes.length, 7, 0);
  for (const b of bytes) out.push(b);
}

/** `name: value` as a literal without indexing; the name by static index when the static table has it. */
export function encodeLiteral(name: string, value: string): Buffer {
  const out: number[] = [];
  const idx = STATIC_TABLE.findIndex(([n]) => n === name);
  if (idx >= 0) {
    encodeInt(out, idx + 1, 4, 0x00);
  } else {
    out.push(0x00);
    encodeString(out, name);
  }
  encodeString(out, value);
  return Buffer.from(out);
}

/** A static-table entry as an indexed field (one byte for the first 127 entries). */
export function encodeIndexed(name: string, value: string): Buffer {
  const idx = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
  if (idx < 0) throw new Error(`hpack: ${name}: ${value} is not in the static table`);
  const out: number[] = [];
  encodeInt(out, idx + 1, 7, 0x80);
  return Buffer.from(out);
}
