import type { Duplex } from 'node:stream';
import { ByteQueue, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED, FLAG_PRIORITY, FRAME, FRAME_HEADER, frameHeader, FrameReader, headerFrames, hpack, u32 } from '@latchkey/proto';

type HeaderMap = hpack.HeaderMap;
const { HpackDecoder, HpackError } = hpack;

/**
 * The server side of one HTTP/2 connection (RFC 9113), written for the client API's gRPC traffic: cleartext
 * connections (prior-knowledge h2c, which every etcd client uses for http:// endpoints) are served here instead of
 * by Node's `http2` module, whose per-request cost (stream objects, header object conversions, C++ round trips)
 * was more than half of a unary call's CPU time.
 *
 * What it implements: the connection preface and SETTINGS exchange, HEADERS + CONTINUATION with HPACK, DATA
 * with padding, flow control in both directions (connection and stream windows, WINDOW_UPDATE, SETTINGS
 * initial-window changes), PING, RST_STREAM, GOAWAY, PRIORITY (ignored), unknown frame types (ignored).
 * What it does not: server push, and any request that is not a stream the client opens.
 *
 * Output batching: frames produced before the microtask queue drains (every response a committed batch of Raft
 * entries resolves, say: their promise chains all finish in one drain) go to the socket in one write. A
 * microtask, not a later turn of the event loop, so a response leaves before the member goes on to other work
 * (sending commit notices to peers, the next Ready). DATA queued on one stream meanwhile becomes as few frames
 * as its flow-control window and the peer's maximum frame size allow.
 *
 * Contract with the layer above (`onStream`): it receives each new stream with its decoded request headers and
 * must attach a `StreamListener` synchronously. The listener then sees the stream's DATA payloads in order,
 * `onEnd` when the client half-closes, and exactly one `onClose` when the stream is over (normally, or reset by
 * the client, or because the connection went away).
 */


export const H2_ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const;

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** The largest frame we accept: the protocol default (we never announce a larger one). */
const MAX_FRAME_IN = 16384;
const DEFAULT_WINDOW = 65535;
/** Our receive windows: per stream (announced in SETTINGS) and for the connection (raised by a WINDOW_UPDATE). */
const STREAM_WINDOW = 1 << 20;
const CONN_WINDOW = 16 << 20;
/** The most header-block octets (across CONTINUATION frames) and header-list octets we accept for a request. */
const MAX_HEADER_BLOCK = 256 * 1024;
const MAX_HEADER_LIST = 1 << 20;
const MAX_WINDOW = 2 ** 31 - 1;
/** Above this many queued output bytes the connection writes at once instead of waiting for the batch. */
const FLUSH_NOW_BYTES = 256 * 1024;

export interface StreamListener {
  onData(chunk: Buffer): void;
  onEnd(): void;
  /** The stream is over. `reset`: it ended before we finished it (client RST_STREAM, or the connection went). */
  onClose(reset: boolean): void;
  /** Queued output shrank below what it was when a writer last saw backpressure. */
  onDrain?(): void;
}

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function controlFrame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  return Buffer.concat([frameHeader(payload.length, type, flags, stream), payload]);
}

/** One request stream, as the gRPC layer drives it. */
export class H2Stream {
  listener: StreamListener | undefined;
  /** Our send window for this stream (the peer's receive window), in octets; may go negative after SETTINGS. */
  sendWindow: number;
  /** Octets received and not yet returned to the client with a WINDOW_UPDATE. */
  recvUnacked = 0;
  remoteEnded = false;
  /** We queued our END_STREAM (trailers or a trailers-only response). */
  localEnded = false;
  closed = false;
  /** The gRPC status we sent in trailers (metrics), undefined until then. */
  sentStatus: number | undefined;
  headersQueued = false;
  /** Response header block waiting to be framed. */
  pendingHeaders: Buffer | undefined;
  pendingHeadersEndStream = false;
  /** DATA payload waiting to be framed (accepted by write(), blocked by flow control or the batch). */
  readonly data = new ByteQueue();
  /** Trailer block to send once `data` is empty. */
  pendingTrailers: Buffer | undefined;
  /** A writer saw backpressure: tell the listener when the queue drains. */
  wantDrain = false;

  constructor(
    readonly id: number,
    readonly headers: HeaderMap,
    private readonly conn: H2Connection,
    initialSendWindow: number,
  ) {
    this.sendWindow = initialSendWindow;
  }

  /** Octets queued on this stream plus what the connection has handed the socket but it has not sent. */
  get queuedBytes(): number {
    return this.data.length + this.conn.socketBacklog();
  }

  /** Queues response headers (once). */
  respond(block: Buffer): void {
    if (this.headersQueued || this.localEnded || this.closed) return;
    this.headersQueued = true;
    this.pendingHeaders = block;
    this.conn.dirty(this);
  }

  write(chunk: Buffer): void {
    if (this.localEnded || this.closed || chunk.length === 0) return;
    this.data.push(chunk);
    this.conn.queued(chunk.length);
    this.conn.dirty(this);
  }

  /** Queues trailers with END_STREAM after the data already written. */
  end(trailers: Buffer, status: number): void {
    if (this.localEnded || this.closed) return;
    this.localEnded = true;
    this.sentStatus = status;
    this.pendingTrailers = trailers;
    this.conn.dirty(this);
  }

  /** A response that is only a header block with END_STREAM (gRPC's trailers-only form, used for errors). */
  trailersOnly(block: Buffer, status: number): void {
    if (this.localEnded || this.closed) return;
    if (this.headersQueued) {
      this.end(block, status);
      return;
    }
    this.headersQueued = true;
    this.localEnded = true;
    this.sentStatus = status;
    this.pendingHeaders = block;
    this.pendingHeadersEndStream = true;
    this.conn.dirty(this);
  }

  /** Resets the stream (RST_STREAM) and closes it. */
  reset(code: number): void {
    if (this.closed) return;
    this.conn.resetStream(this, code);
  }
}

export class H2Connection {
  private readonly streams = new Map<number, H2Stream>();
  private readonly decoder = new HpackDecoder(4096);
  private readonly frames = new FrameReader(MAX_FRAME_IN, (len) => new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, `h2: frame of ${len} bytes`));
  private lastStreamId = 0;
  /** Our send window for the whole connection. */
  private sendWindow = DEFAULT_WINDOW;
  private recvUnacked = 0;
  /** The client's SETTINGS as they affect what we send. */
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = 16384;
  /** A header block being assembled from HEADERS + CONTINUATION frames. */
  private headerBlock: { stream: number; flags: number; parts: Buffer[]; bytes: number } | undefined;
  /** Control frames (SETTINGS ACK, PING ACK, WINDOW_UPDATE, RST_STREAM, GOAWAY) go out before stream frames. */
  private control: Buffer[] = [];
  private readonly dirtyStreams = new Set<H2Stream>();
  private flushScheduled = false;
  private closed = false;
  private goaway = false;
  private queuedData = 0;

  constructor(
    private readonly socket: Duplex,
    head: Buffer,
    private readonly onStream: (stream: H2Stream) => void,
    private readonly onError: (err: Error) => void = () => undefined,
    private readonly maxQueued = MAX_QUEUED,
    /** Streams the client may have open at once (our SETTINGS_MAX_CONCURRENT_STREAMS); more are refused. */
    private readonly maxStreams = MAX_WINDOW,
  ) {
    // Our preface: SETTINGS (then the connection window raised with a WINDOW_UPDATE).
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(SETTING.MAX_CONCURRENT_STREAMS, 0);
    settings.writeUInt32BE(maxStreams, 2);
    settings.writeUInt16BE(SETTING.INITIAL_WINDOW_SIZE, 6);
    settings.writeUInt32BE(STREAM_WINDOW, 8);
    this.control.push(controlFrame(FRAME.SETTINGS, 0, 0, settings), controlFrame(FRAME.WINDOW_UPDATE, 0, 0, u32(CONN_WINDOW - DEFAULT_WINDOW)));
    this.scheduleFlush();

    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      for (const s of this.streams.values()) {
        if (s.wantDrain && s.queuedBytes < DRAIN_BELOW) {
          s.wantDrain = false;
          s.listener?.onDrain?.();
        }
      }
    });
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    socket.on('end', () => this.teardown());
    if (head.length < CLIENT_PREFACE.length || !head.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) {
      this.fail(new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: bad connection preface'));
      return;
    }
    if (head.length > CLIENT_PREFACE.length) this.onData(head.subarray(CLIENT_PREFACE.length));
  }

  /** Sends GOAWAY and closes the connection; open streams are reset. */
  close(): void {
    if (this.closed) return;
    this.queueGoaway(H2_ERROR.NO_ERROR);
    this.flush();
    this.socket.end();
    this.teardown();
    this.socket.destroy();
  }

  /** Bytes handed to the socket that it has not written yet. */
  socketBacklog(): number {
    return (this.socket as Duplex & { writableLength: number }).writableLength;
  }

  // ------------------------------------------------------------------------------------------- input

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.frames.push(chunk, (type, flags, stream, payload) => {
        this.onFrame(type, flags, stream, payload);
        return !this.closed;
      });
    } catch (err) {
      this.fail(err instanceof ConnectionError ? err : new ConnectionError(H2_ERROR.INTERNAL_ERROR, String(err)));
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.headerBlock && type !== FRAME.CONTINUATION) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: expected CONTINUATION');
    switch (type) {
      case FRAME.DATA:
        return this.onDataFrame(flags, streamId, payload);
      case FRAME.HEADERS:
        return this.onHeadersFrame(flags, streamId, payload);
      case FRAME.CONTINUATION:
        return this.onContinuation(flags, streamId, payload);
      case FRAME.PRIORITY:
        if (payload.length !== 5) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'h2: PRIORITY size');
        return;
      case FRAME.RST_STREAM: {
        if (payload.length !== 4) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'h2: RST_STREAM size');
        const s = this.streams.get(streamId);
        if (s) this.closeStream(s, true);
        return;
      }
      case FRAME.SETTINGS:
        return this.onSettings(flags, streamId, payload);
      case FRAME.PING:
        if (payload.length !== 8) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'h2: PING size');
        if (streamId !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: PING on a stream');
        if (!(flags & FLAG_ACK)) {
          this.control.push(controlFrame(FRAME.PING, FLAG_ACK, 0, Buffer.from(payload)));
          this.scheduleFlush();
        }
        return;
      case FRAME.GOAWAY:
        this.goaway = true;
        return;
      case FRAME.WINDOW_UPDATE:
        return this.onWindowUpdate(streamId, payload);
      case FRAME.PUSH_PROMISE:
        throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: PUSH_PROMISE from a client');
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1).
        return;
    }
  }

  private onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: DATA on stream 0');
    // Flow control counts the whole payload, padding included, whatever becomes of the stream.
    this.recvUnacked += payload.length;
    if (this.recvUnacked >= CONN_WINDOW / 2) {
      this.control.push(controlFrame(FRAME.WINDOW_UPDATE, 0, 0, u32(this.recvUnacked)));
      this.recvUnacked = 0;
      this.scheduleFlush();
    }
    let data = payload;
    if (flags & FLAG_PADDED) {
      if (payload.length < 1 || payload[0]! >= payload.length) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: bad DATA padding');
      data = payload.subarray(1, payload.length - payload[0]!);
    }
    const s = this.streams.get(streamId);
    if (!s || s.remoteEnded) {
      // Late frames of a stream we already closed (a cancelled call) are dropped; a stream never opened is an error.
      if (streamId > this.lastStreamId) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: DATA on an idle stream');
      if (s) this.resetStream(s, H2_ERROR.STREAM_CLOSED);
      return;
    }
    s.recvUnacked += payload.length;
    if (s.recvUnacked >= STREAM_WINDOW / 2 && !(flags & FLAG_END_STREAM)) {
      this.control.push(controlFrame(FRAME.WINDOW_UPDATE, 0, s.id, u32(s.recvUnacked)));
      s.recvUnacked = 0;
      this.scheduleFlush();
    }
    if (data.length > 0) s.listener?.onData(data);
    if (flags & FLAG_END_STREAM) this.remoteEnd(s);
  }

  private onHeadersFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: HEADERS on stream 0');
    let p = payload;
    let pad = 0;
    if (flags & FLAG_PADDED) {
      if (p.length < 1) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: bad HEADERS padding');
      pad = p[0]!;
      p = p.subarray(1);
    }
    if (flags & FLAG_PRIORITY) {
      if (p.length < 5) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: bad HEADERS priority');
      p = p.subarray(5);
    }
    if (pad > p.length) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: bad HEADERS padding');
    const fragment = p.subarray(0, p.length - pad);
    if (flags & FLAG_END_HEADERS) {
      this.onHeaderBlock(streamId, flags, fragment);
    } else {
      this.headerBlock = { stream: streamId, flags, parts: [Buffer.from(fragment)], bytes: fragment.length };
    }
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const hb = this.headerBlock;
    if (!hb || hb.stream !== streamId) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: unexpected CONTINUATION');
    hb.parts.push(Buffer.from(payload));
    hb.bytes += payload.length;
    if (hb.bytes > MAX_HEADER_BLOCK) throw new ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, 'h2: header block too large');
    if (flags & FLAG_END_HEADERS) {
      this.headerBlock = undefined;
      this.onHeaderBlock(streamId, hb.flags, Buffer.concat(hb.parts));
    }
  }

  private onHeaderBlock(streamId: number, flags: number, block: Buffer): void {
    let headers: HeaderMap;
    try {
      // Always decode: the HPACK state must follow every block, even one we are about to refuse.
      headers = this.decoder.decode(block, MAX_HEADER_LIST);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(H2_ERROR.COMPRESSION_ERROR, err.message);
      throw err;
    }
    const existing = this.streams.get(streamId);
    if (existing) {
      // Trailers from the client: they must end the stream.
      if (!(flags & FLAG_END_STREAM) || existing.remoteEnded) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: HEADERS without END_STREAM on an open stream');
      this.remoteEnd(existing);
      return;
    }
    if (streamId <= this.lastStreamId || streamId % 2 === 0) {
      if (streamId % 2 === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: even stream id from a client');
      // A stream we closed already: refuse quietly.
      this.control.push(controlFrame(FRAME.RST_STREAM, 0, streamId, u32(H2_ERROR.STREAM_CLOSED)));
      this.scheduleFlush();
      return;
    }
    this.lastStreamId = streamId;
    // RFC 9113 §5.1.2: a stream beyond the advertised limit is refused (the client may retry it).
    if (this.goaway || this.streams.size >= this.maxStreams) {
      this.control.push(controlFrame(FRAME.RST_STREAM, 0, streamId, u32(H2_ERROR.REFUSED_STREAM)));
      this.scheduleFlush();
      return;
    }
    const s = new H2Stream(streamId, headers, this, this.peerInitialWindow);
    this.streams.set(streamId, s);
    this.onStream(s);
    if (flags & FLAG_END_STREAM && !s.closed) this.remoteEnd(s);
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: SETTINGS on a stream');
    if (flags & FLAG_ACK) {
      if (payload.length !== 0) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'h2: SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'h2: SETTINGS size');
    for (let i = 0; i < payload.length; i += 6) {
      const id = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (id === SETTING.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'h2: initial window too large');
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'h2: stream window overflow');
          if (delta > 0 && s.data.length > 0) this.dirty(s);
        }
      } else if (id === SETTING.MAX_FRAME_SIZE) {
        if (value < 16384 || value > 16777215) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: bad max frame size');
        this.peerMaxFrame = value;
      } else if (id === SETTING.ENABLE_PUSH && value > 1) {
        throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: bad ENABLE_PUSH');
      }
      // HEADER_TABLE_SIZE limits the table of our encoder, which never indexes; the rest does not concern us.
    }
    this.control.push(controlFrame(FRAME.SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
    this.scheduleFlush();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'h2: WINDOW_UPDATE size');
    const inc = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (inc === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'h2: zero WINDOW_UPDATE');
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'h2: connection window overflow');
      for (const s of this.streams.values()) if (s.data.length > 0) this.dirty(s);
      return;
    }
    const s = this.streams.get(streamId);
    if (!s) return;
    if (inc === 0) return this.resetStream(s, H2_ERROR.PROTOCOL_ERROR);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) return this.resetStream(s, H2_ERROR.FLOW_CONTROL_ERROR);
    if (s.data.length > 0) this.dirty(s);
  }

  private remoteEnd(s: H2Stream): void {
    if (s.remoteEnded) return;
    s.remoteEnded = true;
    s.listener?.onEnd();
    this.maybeFinish(s);
  }

  // ------------------------------------------------------------------------------------------- output

  /**
   * @internal Response data accepted and not yet framed (waiting for the client's flow-control window). A client
   * that keeps asking without reading would make it grow without bound: past `maxQueued` the connection is closed
   * (as Node's `maxSessionMemory` would), which frees it.
   */
  queued(bytes: number): void {
    this.queuedData += bytes;
    if (this.queuedData > this.maxQueued && !this.closed) {
      queueMicrotask(() => this.fail(new ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, `h2: ${this.queuedData} response bytes queued for a client that does not read`)));
    }
  }

  /** @internal A stream has output to frame. */
  dirty(s: H2Stream): void {
    this.dirtyStreams.add(s);
    this.scheduleFlush();
  }

  /** @internal */
  resetStream(s: H2Stream, code: number): void {
    this.control.push(controlFrame(FRAME.RST_STREAM, 0, s.id, u32(code)));
    this.closeStream(s, !s.localEnded || s.data.length > 0 || s.pendingTrailers !== undefined);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const out = this.control;
    this.control = [];
    let bytes = 0;
    for (const b of out) bytes += b.length;
    for (const s of this.dirtyStreams) {
      this.dirtyStreams.delete(s);
      bytes += this.frameStream(s, out);
      if (bytes >= FLUSH_NOW_BYTES) {
        this.writeOut(out);
        out.length = 0;
        bytes = 0;
      }
    }
    if (out.length > 0) this.writeOut(out);
  }

  private writeOut(out: Buffer[]): void {
    if (out.length === 1) {
      this.socket.write(out[0]!);
      return;
    }
    this.socket.write(Buffer.concat(out));
  }

  /** Turns a stream's queued output into frames, as far as flow control allows. Returns the octets produced. */
  private frameStream(s: H2Stream, out: Buffer[]): number {
    if (s.closed) return 0;
    let bytes = 0;
    if (s.pendingHeaders) {
      const block = s.pendingHeaders;
      const end = s.pendingHeadersEndStream;
      s.pendingHeaders = undefined;
      bytes += this.headerFrames(s.id, block, end, out);
      if (end) {
        this.maybeFinish(s);
        return bytes;
      }
    }
    while (s.data.length > 0) {
      const allowed = Math.min(this.sendWindow, s.sendWindow, this.peerMaxFrame);
      if (allowed <= 0) break;
      const take = Math.min(allowed, s.data.length);
      this.queuedData -= take;
      this.sendWindow -= take;
      s.sendWindow -= take;
      out.push(frameHeader(take, FRAME.DATA, 0, s.id));
      s.data.takeParts(take, out);
      bytes += FRAME_HEADER + take;
    }
    if (s.data.length === 0 && s.pendingTrailers) {
      const block = s.pendingTrailers;
      s.pendingTrailers = undefined;
      bytes += this.headerFrames(s.id, block, true, out);
      this.maybeFinish(s);
    }
    if (s.wantDrain && !s.closed && s.queuedBytes + bytes < DRAIN_BELOW) {
      s.wantDrain = false;
      const l = s.listener;
      if (l?.onDrain) queueMicrotask(() => l.onDrain!());
    }
    return bytes;
  }

  /** A header block as HEADERS (+ CONTINUATION) frames. */
  private headerFrames(stream: number, block: Buffer, endStream: boolean, out: Buffer[]): number {
    return headerFrames(stream, block, endStream, this.peerMaxFrame, out);
  }

  /** Closes a stream both sides have ended. If we ended first, the client is told to stop with RST_STREAM(NO_ERROR). */
  private maybeFinish(s: H2Stream): void {
    if (s.closed || !s.localEnded || s.pendingHeaders || s.data.length > 0 || s.pendingTrailers) return;
    if (!s.remoteEnded) {
      this.control.push(controlFrame(FRAME.RST_STREAM, 0, s.id, u32(H2_ERROR.NO_ERROR)));
      this.scheduleFlush();
    }
    this.closeStream(s, false);
  }

  private closeStream(s: H2Stream, reset: boolean): void {
    if (s.closed) return;
    s.closed = true;
    this.streams.delete(s.id);
    this.dirtyStreams.delete(s);
    this.queuedData -= s.data.length;
    s.data.clear();
    s.listener?.onClose(reset);
  }

  private queueGoaway(code: number): void {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(this.lastStreamId, 0);
    p.writeUInt32BE(code, 4);
    this.control.push(controlFrame(FRAME.GOAWAY, 0, 0, p));
  }

  private fail(err: ConnectionError): void {
    if (this.closed) return;
    this.onError(err);
    this.queueGoaway(err.code);
    this.flush();
    this.teardown();
    this.socket.end();
  }

  /** The connection is gone: every open stream ends as reset. */
  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams.values()]) this.closeStream(s, true);
  }
}

/** Response bytes a connection may hold for a client that does not read before it is closed. */
const MAX_QUEUED = 256 * 1024 * 1024;

/** A stream's writer is told to go on once its queue is below this. */
const DRAIN_BELOW = 512 * 1024;
