/**
 * Pieces of HTTP/2 framing shared by the server's engine (packages/server/src/api/grpc/h2) and the client channel
 * (./channel.ts): frame types and flags, frame and header-block framing (RFC 9113 §4.1, §6.2, §6.10), and the
 * byte queue both use for DATA output and for gRPC message reassembly.
 */

/** Frame types (RFC 9113 §6). */
export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;
/** Octets of a frame header. */
export const FRAME_HEADER = 9;

/** The 9-byte frame header: 24-bit length, type, flags, 31-bit stream id. */
export function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h[0] = (length >>> 16) & 0xff;
  h[1] = (length >>> 8) & 0xff;
  h[2] = length & 0xff;
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return h;
}

/** A 32-bit big-endian payload (WINDOW_UPDATE increments, RST_STREAM codes). */
export function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

/**
 * Splits a connection's incoming bytes into frames. A frame split across chunks waits for the rest (joined
 * once the next chunk comes: frames are at most `maxFrame` octets, so this copies little).
 */
export class FrameReader {
  private rest: Buffer | undefined;

  /** `tooLarge` makes the error thrown for a frame longer than `maxFrame`. */
  constructor(
    private readonly maxFrame: number,
    private readonly tooLarge: (length: number) => Error,
  ) {}

  /**
   * Calls `onFrame` for each whole frame in order, until it returns false (the connection closed). An error
   * (an oversized frame, or thrown by `onFrame`) propagates, and what remained of the input is dropped.
   */
  push(chunk: Buffer, onFrame: (type: number, flags: number, stream: number, payload: Buffer) => boolean): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    let off = 0;
    while (buf.length - off >= FRAME_HEADER) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (len > this.maxFrame) throw this.tooLarge(len);
      if (buf.length - off < FRAME_HEADER + len) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const stream = buf.readUInt32BE(off + 5) & 0x7fffffff;
      const payload = buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len);
      off += FRAME_HEADER + len;
      if (!onFrame(type, flags, stream, payload)) return;
    }
    if (off < buf.length) this.rest = off === 0 ? buf : buf.subarray(off);
  }
}

/**
 * A header block as one HEADERS frame, or HEADERS plus CONTINUATION frames of at most `maxFrame` octets each
 * (END_HEADERS on the last, END_STREAM on the first when `endStream`). Appends to `out`; returns the octets.
 */
export function headerFrames(stream: number, block: Buffer, endStream: boolean, maxFrame: number, out: Buffer[]): number {
  const endFlag = endStream ? FLAG_END_STREAM : 0;
  if (block.length <= maxFrame) {
    out.push(frameHeader(block.length, FRAME.HEADERS, FLAG_END_HEADERS | endFlag, stream), block);
    return FRAME_HEADER + block.length;
  }
  let bytes = 0;
  for (let off = 0; off < block.length; off += maxFrame) {
    const part = block.subarray(off, Math.min(off + maxFrame, block.length));
    const last = off + maxFrame >= block.length;
    const type = off === 0 ? FRAME.HEADERS : FRAME.CONTINUATION;
    const flags = (last ? FLAG_END_HEADERS : 0) | (off === 0 ? endFlag : 0);
    out.push(frameHeader(part.length, type, flags, stream), part);
    bytes += FRAME_HEADER + part.length;
  }
  return bytes;
}

/**
 * Bytes kept as the chunks they arrived in, taken from the front: as one buffer (a view when one chunk holds
 * them, else one copy) or as the chunk views that hold them (no copy). Joining on every push instead would copy
 * a large message once per chunk.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private bytes = 0;

  /** Bytes queued. */
  get length(): number {
    return this.bytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  /** Removes the first `n` bytes (n ≤ length) and returns them as one buffer. */
  take(n: number): Buffer {
    const head = this.chunks[0];
    if (head !== undefined && head.length >= n) {
      const out = head.subarray(0, n);
      if (head.length === n) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
      this.bytes -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.bytes -= n;
    return out;
  }

  /** Removes the first `n` bytes (n ≤ length) and appends the chunks (or chunk views) holding them to `out`. */
  takeParts(n: number, out: Buffer[]): void {
    let left = n;
    while (left > 0) {
      const head = this.chunks[0]!;
      if (head.length <= left) {
        out.push(head);
        this.chunks.shift();
        left -= head.length;
      } else {
        out.push(head.subarray(0, left));
        this.chunks[0] = head.subarray(left);
        left = 0;
      }
    }
    this.bytes -= n;
  }

  clear(): void {
    this.chunks.length = 0;
    this.bytes = 0;
  }
}
