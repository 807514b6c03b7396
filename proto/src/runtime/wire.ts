/**
 * Protocol-buffer wire format primitives used by the generated codecs in `../gen/`.
 *
 * Contracts:
 * - 64-bit integer fields are `bigint` (exact); fields annotated `[js:number]` in a .proto use `number` and are
 *   exact up to 2^53.
 * - Decoded `bytes` fields are zero-copy views (`subarray`) of the input buffer: a caller that keeps a decoded
 *   message longer than the input buffer must not mutate the input.
 * - Malformed input throws `WireError`; it never yields a partially valid message.
 */

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

const TWO32 = 4294967296;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** A cursor over an encoded message. */
export class Reader {
  pos: number;
  readonly end: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  /** Reads a varint of up to 32 significant bits as an unsigned number (tags, lengths, enums, uint32). */
  uint32(): number {
    const b = this.buf;
    let p = this.pos;
    let x = 0;
    let shift = 0;
    for (;;) {
      if (p >= this.end) throw new WireError('proto: unexpected end of input in varint');
      const c = b[p++]!;
      if (shift < 28) x |= (c & 0x7f) << shift;
      else if (shift === 28) x = (x >>> 0) + (c & 0x0f) * 2 ** 28;
      else if (shift >= 70) throw new WireError('proto: varint overflows 64 bits');
      // Bits above 32 are dropped, as protobuf does for 32-bit fields.
      if (c < 0x80) break;
      shift += 7;
    }
    this.pos = p;
    return x >>> 0;
  }

  /** int32: a varint whose low 32 bits are read as two's complement. */
  int32(): number {
    return this.uint32() | 0;
  }

  /** Reads a full 64-bit varint as [lo, hi] unsigned 32-bit halves. */
  private varint64(): [number, number] {
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (;;) {
      if (p >= this.end) throw new WireError('proto: unexpected end of input in varint');
      const c = b[p++]!;
      const bits = c & 0x7f;
      if (shift < 28) {
        lo |= bits << shift;
      } else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else if (shift < 64) {
        hi |= bits << (shift - 32);
      } else {
        throw new WireError('proto: varint overflows 64 bits');
      }
      if (c < 0x80) break;
      shift += 7;
    }
    this.pos = p;
    return [lo >>> 0, hi >>> 0];
  }

  int64(): bigint {
    const [lo, hi] = this.varint64();
    if (hi === 0) return BigInt(lo);
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }

  uint64(): bigint {
    const [lo, hi] = this.varint64();
    if (hi === 0) return BigInt(lo);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** A 64-bit varint read as a JS number; exact up to 2^53 (used for `[js:number]` fields). */
  int64Number(): number {
    const [lo, hi] = this.varint64();
    if (hi >= 0x80000000) return -((~hi >>> 0) * TWO32 + (~lo >>> 0) + 1);
    return hi * TWO32 + lo;
  }

  bool(): boolean {
    return this.uint32() !== 0;
  }

  bytes(): Uint8Array {
    const len = this.uint32();
    const start = this.pos;
    const stop = start + len;
    if (stop > this.end) throw new WireError('proto: length-delimited field exceeds the message');
    this.pos = stop;
    return this.buf.subarray(start, stop);
  }

  string(): string {
    return utf8.decode(this.bytes());
  }

  /** Returns the end offset of a length-delimited sub-message starting at the cursor. */
  subEnd(): number {
    const len = this.uint32();
    const stop = this.pos + len;
    if (stop > this.end) throw new WireError('proto: embedded message exceeds its parent');
    return stop;
  }

  /** Skips a field of the given wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint64();
        return;
      case 1:
        this.advance(8);
        return;
      case 2: {
        const len = this.uint32();
        this.advance(len);
        return;
      }
      case 5:
        this.advance(4);
        return;
      case 3: {
        // A legacy group: skip fields until the matching end-group tag.
        for (;;) {
          if (this.pos >= this.end) throw new WireError('proto: unterminated group');
          const tag = this.uint32();
          if ((tag & 7) === 4) return;
          this.skip(tag & 7);
        }
      }
      default:
        throw new WireError(`proto: illegal wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new WireError('proto: unexpected end of input');
    this.pos += n;
  }
}

/**
 * A growable output buffer. Length-delimited sub-messages are written in place: `fork()` reserves one byte for
 * the length, `join()` writes the length and, when it needs more than one byte, shifts the body right.
 */
export class Writer {
  buf: Buffer;
  pos = 0;
  private readonly forks: number[] = [];

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Writes an unsigned varint of at most 2^53. */
  uint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    while (v >= 0x80000000) {
      b[p++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    while (v > 0x7f) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  tag(field: number, wireType: number): void {
    this.uint(field * 8 + wireType);
  }

  /** int32 and enum values: negative numbers take ten bytes (sign-extended to 64 bits). */
  int32(v: number): void {
    if (v >= 0) this.uint(v);
    else this.int64(BigInt(v));
  }

  /** A 64-bit varint from a JS number (for `[js:number]` fields). */
  int64Number(v: number): void {
    if (v >= 0) this.uint(v);
    else this.int64(BigInt(v));
  }

  int64(v: bigint): void {
    if (v >= 0n && v < 0x20000000000000n) {
      this.uint(Number(v));
      return;
    }
    // Split into 32-bit halves once, then encode with number arithmetic (bigint shifts per byte are slow).
    const u = BigInt.asUintN(64, v);
    let lo = Number(u & 0xffffffffn);
    let hi = Number(u >> 32n);
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    while (hi > 0 || lo > 0x7f) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[p++] = lo;
    this.pos = p;
  }

  bool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  bytes(v: Uint8Array): void {
    this.uint(v.length);
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  string(v: string): void {
    const len = Buffer.byteLength(v, 'utf8');
    this.uint(len);
    this.ensure(len);
    this.buf.write(v, this.pos, len, 'utf8');
    this.pos += len;
  }

  /** Starts a length-delimited sub-message. Must be paired with `join()`. */
  fork(): void {
    this.ensure(1);
    this.forks.push(this.pos);
    this.pos += 1;
  }

  join(): void {
    const start = this.forks.pop();
    if (start === undefined) throw new Error('proto: join() without fork()');
    const len = this.pos - start - 1;
    if (len < 0x80) {
      this.buf[start] = len;
      return;
    }
    let extra = 0;
    for (let v = len >>> 7; v > 0; v >>>= 7) extra++;
    this.ensure(extra);
    this.buf.copy(this.buf, start + 1 + extra, start + 1, this.pos);
    let p = start;
    let v = len;
    while (v > 0x7f) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
    this.pos += extra;
  }

  /** Returns a copy of the written bytes and resets the writer for reuse. */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    this.forks.length = 0;
    return out;
  }
}

let shared: Writer | undefined;
let sharedBusy = false;

/**
 * Runs `fn` with a reusable writer and returns the encoded bytes. Encoding is synchronous, so one shared writer
 * serves the whole process; a nested call (encode inside encode) gets a fresh writer.
 */
export function withWriter(fn: (w: Writer) => void): Buffer {
  if (sharedBusy) {
    const w = new Writer();
    fn(w);
    return w.finish();
  }
  shared ??= new Writer(4096);
  sharedBusy = true;
  try {
    fn(shared);
    return shared.finish();
  } catch (err) {
    shared.pos = 0;
    throw err;
  } finally {
    sharedBusy = false;
    // Do not keep a huge buffer alive after one large message.
    if (shared.buf.length > 1 << 22) shared = undefined;
  }
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);
