/**
 * Pieces of HTTP/2 framing shared by the server's engine (packages/server/src/api/grpc/h2) and the client channel
 * (./channel.ts): frame headers (RFC 9113 §4.1) and the byte queue both use for DATA output and for gRPC message
 * reassembly.
 */

/** The 9-byte frame header: 24-bit length, type, flags, 31-bit stream id. */
export function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.allocUnsafe(9);
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
