import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';

/**
 * A gate in front of the HTTP/2 server for each new client connection, for one interoperability problem:
 * grpc-go, as etcdctl 3.4 and etcd's Go client use it for maintenance calls (`endpoint status --cluster`,
 * `defrag`, `--endpoints=http://…`), sends the endpoint URL — "http://127.0.0.1:2379" — as the `:authority`
 * pseudo-header. Node's HTTP/2 (nghttp2) rejects that value as malformed (RST_STREAM PROTOCOL_ERROR) before any
 * handler runs, and offers no option to relax the check.
 *
 * How the gate works:
 * 1. It answers the client's connection preface with an empty SETTINGS frame of its own (grpc-go sends nothing
 *    more until the server's preface arrives), then buffers the client's bytes until it has seen both the
 *    client's acknowledgement of that SETTINGS (removed from the buffer: the real server never sent it) and the
 *    first request's header block.
 * 2. If that request's `:authority` is well formed — every client but the one above — the socket itself goes to
 *    the HTTP/2 server with the buffered bytes put back: the fast path, untouched. The server's own SETTINGS is
 *    simply a second SETTINGS frame to the client, which HTTP/2 allows.
 * 3. Otherwise the connection is served through a rewriter: client header blocks are decoded (HPACK, with the
 *    client's dynamic table), `:authority` is reduced to its host:port, and they are re-encoded (with a table of
 *    our own that the server's decoder mirrors). Every other frame passes unchanged. Only such connections pay
 *    the cost, and they carry maintenance calls.
 */

interface HeaderField {
  name: string;
  value: string;
  neverIndex?: boolean;
}
interface HpackCompressor {
  write(headers: HeaderField[]): void;
  read(): Buffer | null;
}
interface HpackDecompressor {
  write(buf: Buffer): void;
  execute(): void;
  read(): HeaderField | null;
}
const hpack = createRequire(import.meta.url)('hpack.js') as {
  compressor: { create(o: { table: { size: number } }): HpackCompressor };
  decompressor: { create(o: { table: { size: number } }): HpackDecompressor };
};

const PREFACE_LEN = 24;
const FRAME_HEADER = 9;
const SETTINGS = 0x4;
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const FLAG_ACK = 0x1;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
const MAX_FRAME = 16384;
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]);

/** `:authority` values Node's HTTP/2 accepts (nghttp2's character check, without percent-escapes). */
const AUTHORITY_OK = /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]@%]*$/;

/** Reduces a URL-shaped authority ("http://host:port/…") to "host:port". */
export function fixAuthority(value: string): string {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(value);
  const host = m ? m[1]! : value;
  return AUTHORITY_OK.test(host) ? host : host.replace(/[^A-Za-z0-9\-._~:[\]]/g, '');
}

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
  raw: Buffer;
}

/** Splits complete frames off the front of `buf`; returns them and the rest. */
function takeFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let off = 0;
  while (buf.length - off >= FRAME_HEADER) {
    const len = buf.readUIntBE(off, 3);
    if (buf.length - off < FRAME_HEADER + len) break;
    const raw = buf.subarray(off, off + FRAME_HEADER + len);
    frames.push({ type: raw[3]!, flags: raw[4]!, stream: raw.readUInt32BE(5) & 0x7fffffff, payload: raw.subarray(FRAME_HEADER), raw });
    off += FRAME_HEADER + len;
  }
  return { frames, rest: buf.subarray(off) };
}

/** The header-block fragment of a HEADERS frame (padding and priority fields removed). */
function headersFragment(f: Frame): { fragment: Buffer; priority: Buffer | undefined } {
  let p = f.payload;
  let pad = 0;
  if (f.flags & FLAG_PADDED) {
    pad = p[0]!;
    p = p.subarray(1);
  }
  let priority: Buffer | undefined;
  if (f.flags & FLAG_PRIORITY) {
    priority = p.subarray(0, 5);
    p = p.subarray(5);
  }
  return { fragment: p.subarray(0, p.length - pad), priority };
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(FRAME_HEADER);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

function decodeBlock(d: HpackDecompressor, block: Buffer): HeaderField[] {
  d.write(block);
  d.execute();
  const out: HeaderField[] = [];
  for (let h = d.read(); h !== null; h = d.read()) out.push(h);
  return out;
}

/**
 * Takes over a socket whose first bytes (`head`, beginning with the HTTP/2 preface) were already read, and
 * hands `deliver` either the socket itself (bytes restored) or a rewriting stream.
 */
export function gateHttp2(socket: Duplex, head: Buffer, deliver: (conn: Duplex) => void): void {
  socket.write(EMPTY_SETTINGS);
  const probe = hpack.decompressor.create({ table: { size: 4096 } });
  let buffered = head;
  let scanned = PREFACE_LEN; // offset of the next unparsed frame in `buffered`
  let ackSeen = false;
  let block: Buffer[] | undefined; // header block being collected
  let authority: string | undefined;
  let decided = false;

  const decide = (): void => {
    decided = true;
    socket.off('data', onData);
    clearTimeout(timer);
    socket.pause();
    if (authority === undefined || AUTHORITY_OK.test(authority)) {
      socket.unshift(buffered);
      deliver(socket);
      return;
    }
    deliver(new AuthorityRewriter(socket, buffered));
  };

  const scan = (): void => {
    while (buffered.length - scanned >= FRAME_HEADER) {
      const len = buffered.readUIntBE(scanned, 3);
      if (buffered.length - scanned < FRAME_HEADER + len) return;
      const type = buffered[scanned + 3]!;
      const flags = buffered[scanned + 4]!;
      const raw = buffered.subarray(scanned, scanned + FRAME_HEADER + len);
      if (type === SETTINGS && flags & FLAG_ACK && !ackSeen) {
        ackSeen = true;
        // Drop the acknowledgement of our SETTINGS: the real server never sent one.
        buffered = Buffer.concat([buffered.subarray(0, scanned), buffered.subarray(scanned + FRAME_HEADER + len)]);
        continue;
      }
      if (authority === undefined && (type === HEADERS || (type === CONTINUATION && block))) {
        const f: Frame = { type, flags, stream: 0, payload: raw.subarray(FRAME_HEADER), raw };
        block ??= [];
        block.push(type === HEADERS ? headersFragment(f).fragment : f.payload);
        if (flags & FLAG_END_HEADERS) {
          try {
            authority = decodeBlock(probe, Buffer.concat(block)).find((h) => h.name === ':authority')?.value ?? '';
          } catch {
            authority = ''; // not ours to judge: let the server reject it
          }
        }
      }
      scanned += FRAME_HEADER + len;
    }
  };

  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    scan();
    if ((ackSeen && authority !== undefined) || buffered.length > 1 << 20) decide();
  };
  // A client that never completes the exchange still gets the server (which will time it out or reject it).
  const timer = setTimeout(() => {
    if (!decided) decide();
  }, 10_000);
  timer.unref();
  socket.on('data', onData);
  scan();
  if (ackSeen && authority !== undefined) decide();
}

/** The slow path: client→server header blocks re-encoded with a well-formed `:authority`; the rest passes. */
class AuthorityRewriter extends Duplex {
  private readonly decoder = hpack.decompressor.create({ table: { size: 4096 } });
  private readonly encoder = hpack.compressor.create({ table: { size: 4096 } });
  private pending: Buffer;
  private prefaceDone = false;
  private block: { stream: number; flags: number; priority: Buffer | undefined; parts: Buffer[] } | undefined;

  constructor(
    private readonly socket: Duplex,
    initial: Buffer,
  ) {
    super();
    this.pending = Buffer.alloc(0);
    this.feed(initial);
    socket.on('data', (c: Buffer) => this.feed(c));
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', (e) => this.destroy(e));
    socket.resume();
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }

  private feed(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.prefaceDone) {
      if (this.pending.length < PREFACE_LEN) return;
      this.push(this.pending.subarray(0, PREFACE_LEN));
      this.pending = this.pending.subarray(PREFACE_LEN);
      this.prefaceDone = true;
    }
    const { frames, rest } = takeFrames(this.pending);
    this.pending = rest;
    for (const f of frames) this.forward(f);
  }

  private forward(f: Frame): void {
    if (f.type === HEADERS) {
      const { fragment, priority } = headersFragment(f);
      this.block = { stream: f.stream, flags: f.flags, priority, parts: [fragment] };
    } else if (f.type === CONTINUATION && this.block) {
      this.block.parts.push(f.payload);
    } else {
      this.push(f.raw);
      return;
    }
    if (!(f.flags & FLAG_END_HEADERS)) return;
    const b = this.block!;
    this.block = undefined;
    let headers: HeaderField[];
    try {
      headers = decodeBlock(this.decoder, Buffer.concat(b.parts));
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    const fixed = headers.map((h) => (h.name === ':authority' ? { name: h.name, value: fixAuthority(h.value) } : { name: h.name, value: h.value }));
    this.encoder.write(fixed);
    const parts: Buffer[] = [];
    for (let c = this.encoder.read(); c !== null; c = this.encoder.read()) parts.push(c);
    let encoded = Buffer.concat(parts);
    const first = b.priority ? Buffer.concat([b.priority, encoded.subarray(0, MAX_FRAME - 5)]) : encoded.subarray(0, MAX_FRAME);
    encoded = encoded.subarray(first.length - (b.priority ? 5 : 0));
    const baseFlags = (b.flags & (FLAG_END_STREAM | FLAG_PRIORITY)) | (encoded.length === 0 ? FLAG_END_HEADERS : 0);
    this.push(frame(HEADERS, baseFlags, b.stream, first));
    while (encoded.length > 0) {
      const part = encoded.subarray(0, MAX_FRAME);
      encoded = encoded.subarray(part.length);
      this.push(frame(CONTINUATION, encoded.length === 0 ? FLAG_END_HEADERS : 0, b.stream, part));
    }
  }
}
