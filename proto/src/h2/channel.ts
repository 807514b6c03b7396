import { EventEmitter } from 'node:events';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { GrpcCode } from '../errors.js';
import { ByteQueue, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED, FLAG_PRIORITY, FRAME, frameHeader, FrameReader, headerFrames, u32 } from './frames.js';
import * as hpack from './hpack.js';

/**
 * Our gRPC-over-HTTP/2 client channel to one endpoint, used by the SDK (every call it makes) and by the server
 * (peer RPCs): a lean replacement for grpc-js's channel, with the subset of grpc-js's `Client` API we use
 * (`makeUnaryRequest`, `makeClientStreamRequest`, `makeBidiStreamRequest`, `makeServerStreamRequest`,
 * `waitForReady`, `getChannel().getConnectivityState`, `close`). grpc-js spends about a millisecond of CPU per
 * call on the machines we measure; this channel a fifth of that, which is most of a lock handoff's client-side
 * cost.
 *
 * One TCP (or TLS, ALPN "h2") connection, opened on demand and again after it breaks. What it implements: the
 * connection preface and SETTINGS, request header blocks from static-table references and literals (no dynamic
 * table, so no encoder state), the server's header blocks through a full HPACK decoder (grpc-go Huffman-codes
 * and indexes them), DATA in both directions with flow control (stream and connection windows, WINDOW_UPDATE,
 * SETTINGS changes), PING answers and keepalive pings while calls are open (a silent connection is declared
 * dead), RST_STREAM, GOAWAY (calls the server did not take fail as never sent), deadlines (`grpc-timeout` plus a
 * local timer) and cancellation.
 *
 * Errors are grpc-js-shaped (`code`, `details`) so the SDK's `fromGrpcError` maps them; a call that provably
 * never reached the server (no connection, or refused by GOAWAY/REFUSED_STREAM) reports details starting with
 * "No connection established", as grpc-js does, which is what the retry policy keys on.
 *
 * Output batching: frames produced before the microtask queue drains go out in one socket write.
 */

const { HpackDecoder, HpackError, encodeIndexed, encodeLiteral } = hpack;

/** Call metadata: what we read of grpc-js's `Metadata` (which satisfies it), or any map of header values. */
export interface MetadataLike {
  getMap(): Record<string, string | Buffer | Uint8Array>;
}

/** Plain call metadata. */
export function metadata(entries: Record<string, string> = {}): MetadataLike {
  return { getMap: () => ({ ...entries }) };
}

/** Connectivity states, numbered as grpc-js numbers them. */
export enum ConnectivityState {
  IDLE = 0,
  CONNECTING = 1,
  READY = 2,
  TRANSIENT_FAILURE = 3,
  SHUTDOWN = 4,
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const RST = { NO_ERROR: 0, PROTOCOL_ERROR: 1, REFUSED_STREAM: 7, CANCEL: 8 } as const;
const DEFAULT_WINDOW = 65535;
/** Our receive windows: per stream (SETTINGS) and for the connection (raised with a WINDOW_UPDATE). */
const STREAM_WINDOW = 4 << 20;
const CONN_WINDOW = 32 << 20;
const MAX_FRAME_IN = 16384;
const MAX_WINDOW = 2 ** 31 - 1;
const NOT_SENT = 'No connection established';

export interface H2ChannelOptions {
  /**
   * Use TLS (ALPN h2) with these options: a CA bundle to trust, a client certificate and key, OpenSSL cipher names,
   * and `rejectUnauthorized: false` to accept a server certificate nothing vouches for.
   */
  tls?: { ca?: Buffer | null; cert?: Buffer | null; key?: Buffer | null; ciphers?: string; servername?: string; rejectUnauthorized?: boolean } | undefined;
  /** Ping an open connection with calls in flight this often (default 10 s), and give up after the timeout. */
  keepaliveTimeMs?: number | undefined;
  keepaliveTimeoutMs?: number | undefined;
  /** Reconnect backoff bounds after a failed connection attempt (default 100 ms → 1 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** A call's failure, shaped like grpc-js's ServiceError. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${GrpcCode[code] ?? 'UNKNOWN'}: ${details}`);
  }
}

type Deadline = number | Date | undefined;

function deadlineMs(d: Deadline): number | undefined {
  if (d === undefined) return undefined;
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : undefined;
}

/** grpc-timeout: at most 8 digits and a unit. */
function grpcTimeout(msLeft: number): string {
  const ms = Math.max(1, Math.ceil(msLeft));
  return ms < 1e8 ? `${ms}m` : `${Math.ceil(ms / 1000)}S`;
}

/** HTTP status → gRPC code when a response carries no grpc-status (the gRPC HTTP/2 spec's table). */
function codeForHttp(status: number): number {
  switch (status) {
    case 400:
      return GrpcCode.INTERNAL;
    case 401:
      return GrpcCode.UNAUTHENTICATED;
    case 403:
      return GrpcCode.PERMISSION_DENIED;
    case 404:
      return GrpcCode.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcCode.UNAVAILABLE;
    default:
      return GrpcCode.UNKNOWN;
  }
}

function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The per-call state machine the connection drives. */
interface CallSink {
  /** One complete response message (its gRPC length prefix removed). */
  message(msg: Buffer): void;
  /** The call is over: status 0 is success. */
  finish(code: number, details: string): void;
  /** Request data queued for sending fell below the high-water mark after a write reported backpressure. */
  drain?(): void;
}

/** Request bytes a stream may queue (waiting for flow-control window or the socket) before `write` says wait. */
const WRITE_HIGH_WATER = 1 << 20;

/** One HTTP/2 stream carrying one call. */
class Stream {
  /** Our send window (the server's receive window for this stream). */
  sendWindow: number;
  recvUnacked = 0;
  /** Request bytes waiting for send window. */
  readonly out = new ByteQueue();
  /** END_STREAM once `out` is empty. */
  endPending = false;
  /** A write reported backpressure: call `sink.drain` once the queue is short again. */
  wantDrain = false;
  localEnded = false;
  responseHeaders = false;
  done = false;
  /** gRPC length-prefixed message reassembly: chunks of the message in progress (no copying until it is whole). */
  private readonly parts = new ByteQueue();
  /** Length of the message in progress, once its 5-byte prefix is in. */
  private need = -1;
  status: { code: number; details: string } | undefined;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: number,
    readonly sink: CallSink,
    initialWindow: number,
  ) {
    this.sendWindow = initialWindow;
  }

  data(chunk: Buffer): void {
    this.parts.push(chunk);
    for (;;) {
      if (this.need < 0) {
        if (this.parts.length < 5) return;
        const head = this.parts.take(5);
        if (head[0] !== 0) throw new RpcError(GrpcCode.UNIMPLEMENTED, 'compressed messages are not supported');
        this.need = head.readUInt32BE(1);
      }
      if (this.parts.length < this.need) return;
      const msg = this.parts.take(this.need);
      this.need = -1;
      this.sink.message(msg);
    }
  }

  get partial(): boolean {
    return this.parts.length > 0 || this.need >= 0;
  }
}

/** One connection (a channel reconnects by making a new one). */
class Connection {
  readonly streams = new Map<number, Stream>();
  private nextId = 1;
  private readonly decoder = new HpackDecoder(4096);
  private readonly frames = new FrameReader(MAX_FRAME_IN, (len) => new RpcError(GrpcCode.INTERNAL, `h2: frame of ${len} bytes`));
  private sendWindow = DEFAULT_WINDOW;
  private recvUnacked = 0;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = 16384;
  private headerBlock: { stream: number; flags: number; parts: Buffer[] } | undefined;
  private outQueue: Buffer[] = [];
  private flushScheduled = false;
  private readonly blocked = new Set<Stream>();
  ready = false;
  closed = false;
  /** GOAWAY received: no new streams here. */
  draining = false;
  private pingTimer: NodeJS.Timeout | undefined;
  /** Set while a keepalive ping waits for its acknowledgement. */
  private pingDeadline: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Socket | TLSSocket,
    secure: boolean,
    private readonly keepaliveTimeMs: number,
    private readonly keepaliveTimeoutMs: number,
    private readonly onReady: () => void,
    private readonly onClosed: (conn: Connection, err: Error | undefined) => void,
  ) {
    socket.setNoDelay(true);
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(0x2, 0); // ENABLE_PUSH 0
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE
    settings.writeUInt32BE(STREAM_WINDOW, 8);
    const hello = Buffer.concat([PREFACE, frameHeader(12, FRAME.SETTINGS, 0, 0), settings, frameHeader(4, FRAME.WINDOW_UPDATE, 0, 0), u32(CONN_WINDOW - DEFAULT_WINDOW)]);
    socket.write(hello);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      this.ready = true;
      this.onReady();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      for (const s of this.streams.values()) this.drained(s);
    });
    socket.on('error', (err) => this.teardown(err));
    socket.on('close', () => this.teardown(undefined));
  }

  get active(): number {
    return this.streams.size;
  }

  /** Opens a stream: HEADERS now (in this batch), DATA as `write` is called. */
  open(headerBlock: Buffer, sink: CallSink): Stream {
    const id = this.nextId;
    this.nextId += 2;
    const s = new Stream(id, sink, this.peerInitialWindow);
    this.streams.set(id, s);
    this.emitHeaders(id, headerBlock);
    this.schedule();
    return s;
  }

  /** Queues request data; false when the caller should wait for the sink's `drain` before writing more. */
  write(s: Stream, data: Buffer, end: boolean): boolean {
    if (s.done || s.localEnded) return false;
    s.out.push(data);
    if (end) s.endPending = true;
    this.pump(s);
    this.schedule();
    const ok = s.out.length + this.socket.writableLength < WRITE_HIGH_WATER;
    if (!ok) s.wantDrain = true;
    return ok;
  }

  /** Tells writers that waited that their queue is short again. */
  private drained(s: Stream): void {
    if (!s.wantDrain || s.done || s.out.length + this.socket.writableLength >= WRITE_HIGH_WATER / 2) return;
    s.wantDrain = false;
    queueMicrotask(() => s.sink.drain?.());
  }

  /** Cancels a stream on the wire (RST_STREAM CANCEL); the caller reports the call's end itself. */
  reset(s: Stream, code: number = RST.CANCEL): void {
    if (s.done) return;
    s.done = true;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    if (!this.closed) {
      this.outQueue.push(frameHeader(4, FRAME.RST_STREAM, 0, s.id), u32(code));
      this.schedule();
    }
    this.keepaliveCheck();
  }

  close(): void {
    this.teardown(new RpcError(GrpcCode.CANCELLED, 'channel closed'));
  }

  // ------------------------------------------------------------------------------------------ output

  private emitHeaders(id: number, block: Buffer): void {
    headerFrames(id, block, false, this.peerMaxFrame, this.outQueue);
  }

  /** Frames a stream's queued request data as far as the windows allow. */
  private pump(s: Stream): void {
    while (s.out.length > 0) {
      const allowed = Math.min(this.sendWindow, s.sendWindow, this.peerMaxFrame);
      if (allowed <= 0) {
        this.blocked.add(s);
        return;
      }
      const take = Math.min(allowed, s.out.length);
      this.sendWindow -= take;
      s.sendWindow -= take;
      const end = s.out.length === take && s.endPending;
      this.outQueue.push(frameHeader(take, FRAME.DATA, end ? FLAG_END_STREAM : 0, s.id));
      s.out.takeParts(take, this.outQueue);
      if (end) {
        s.endPending = false;
        s.localEnded = true;
      }
    }
    this.blocked.delete(s);
    this.drained(s);
    if (s.endPending && !s.localEnded) {
      this.outQueue.push(frameHeader(0, FRAME.DATA, FLAG_END_STREAM, s.id));
      s.endPending = false;
      s.localEnded = true;
    }
  }

  private schedule(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.outQueue.length === 0) return;
    const out = this.outQueue;
    this.outQueue = [];
    this.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  }

  // ------------------------------------------------------------------------------------------ input

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.frames.push(chunk, (type, flags, id, payload) => {
        this.onFrame(type, flags, id, payload);
        return !this.closed;
      });
    } catch (err) {
      this.goawayAndClose(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.headerBlock && type !== FRAME.CONTINUATION) throw new RpcError(GrpcCode.INTERNAL, 'h2: expected CONTINUATION');
    switch (type) {
      case FRAME.DATA: {
        this.recvUnacked += payload.length;
        if (this.recvUnacked >= CONN_WINDOW / 2) {
          this.outQueue.push(frameHeader(4, FRAME.WINDOW_UPDATE, 0, 0), u32(this.recvUnacked));
          this.recvUnacked = 0;
          this.schedule();
        }
        const s = this.streams.get(id);
        if (!s) return;
        let data = payload;
        if (flags & FLAG_PADDED) data = payload.subarray(1, payload.length - payload[0]!);
        s.recvUnacked += payload.length;
        if (s.recvUnacked >= STREAM_WINDOW / 2 && !(flags & FLAG_END_STREAM)) {
          this.outQueue.push(frameHeader(4, FRAME.WINDOW_UPDATE, 0, id), u32(s.recvUnacked));
          s.recvUnacked = 0;
          this.schedule();
        }
        try {
          if (data.length > 0) s.data(data);
        } catch (err) {
          this.abortStream(s, err instanceof RpcError ? err.code : GrpcCode.INTERNAL, err instanceof RpcError ? err.details : String(err));
          return;
        }
        if (flags & FLAG_END_STREAM) this.endWithoutTrailers(s);
        return;
      }
      case FRAME.HEADERS: {
        let p = payload;
        let pad = 0;
        if (flags & FLAG_PADDED) {
          pad = p[0]!;
          p = p.subarray(1);
        }
        if (flags & FLAG_PRIORITY) p = p.subarray(5);
        const fragment = p.subarray(0, p.length - pad);
        if (flags & FLAG_END_HEADERS) this.onHeaderBlock(id, flags, fragment);
        else this.headerBlock = { stream: id, flags, parts: [Buffer.from(fragment)] };
        return;
      }
      case FRAME.CONTINUATION: {
        const hb = this.headerBlock;
        if (!hb || hb.stream !== id) throw new RpcError(GrpcCode.INTERNAL, 'h2: unexpected CONTINUATION');
        hb.parts.push(Buffer.from(payload));
        if (flags & FLAG_END_HEADERS) {
          this.headerBlock = undefined;
          this.onHeaderBlock(id, hb.flags, Buffer.concat(hb.parts));
        }
        return;
      }
      case FRAME.RST_STREAM: {
        const s = this.streams.get(id);
        if (!s) return;
        const code = payload.readUInt32BE(0);
        s.done = true;
        this.streams.delete(id);
        this.blocked.delete(s);
        if (s.status) s.sink.finish(s.status.code, s.status.details);
        else if (code === RST.REFUSED_STREAM) s.sink.finish(GrpcCode.UNAVAILABLE, `${NOT_SENT}: stream refused by the server`);
        else if (code === RST.CANCEL) s.sink.finish(GrpcCode.CANCELLED, 'Call cancelled by the server');
        else if (code === RST.NO_ERROR && s.responseHeaders) this.endWithoutTrailers(s);
        else s.sink.finish(GrpcCode.INTERNAL, `Received RST_STREAM with code ${code}`);
        this.keepaliveCheck();
        return;
      }
      case FRAME.SETTINGS: {
        if (flags & FLAG_ACK) return;
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          const key = payload.readUInt16BE(i);
          const value = payload.readUInt32BE(i + 2);
          if (key === 0x4) {
            const delta = value - this.peerInitialWindow;
            this.peerInitialWindow = value;
            for (const s of this.streams.values()) s.sendWindow += delta;
          } else if (key === 0x5) {
            this.peerMaxFrame = value;
          }
        }
        this.outQueue.push(frameHeader(0, FRAME.SETTINGS, FLAG_ACK, 0));
        this.unblock();
        this.schedule();
        return;
      }
      case FRAME.PING:
        if (flags & FLAG_ACK) {
          if (this.pingDeadline) clearTimeout(this.pingDeadline);
          this.pingDeadline = undefined;
        } else {
          this.outQueue.push(frameHeader(8, FRAME.PING, FLAG_ACK, 0), Buffer.from(payload));
          this.schedule();
        }
        return;
      case FRAME.GOAWAY: {
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        this.draining = true;
        // Streams the server never took: fail as not sent, so they are retried elsewhere.
        for (const s of [...this.streams.values()]) {
          if (s.id > last) {
            s.done = true;
            this.streams.delete(s.id);
            s.sink.finish(GrpcCode.UNAVAILABLE, `${NOT_SENT}: the server is going away`);
          }
        }
        this.keepaliveCheck();
        return;
      }
      case FRAME.WINDOW_UPDATE: {
        const inc = payload.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) {
          this.sendWindow = Math.min(MAX_WINDOW, this.sendWindow + inc);
          this.unblock();
        } else {
          const s = this.streams.get(id);
          if (s) {
            s.sendWindow += inc;
            if (s.out.length > 0 || s.endPending) this.pump(s);
          }
        }
        this.schedule();
        return;
      }
      case FRAME.PUSH_PROMISE:
        throw new RpcError(GrpcCode.INTERNAL, 'h2: PUSH_PROMISE (push is disabled)');
      default:
        return;
    }
  }

  private unblock(): void {
    for (const s of [...this.blocked]) this.pump(s);
  }

  private onHeaderBlock(id: number, flags: number, block: Buffer): void {
    let h: hpack.HeaderMap;
    try {
      h = this.decoder.decode(block, 1 << 24);
    } catch (err) {
      if (err instanceof HpackError) throw new RpcError(GrpcCode.INTERNAL, err.message);
      throw err;
    }
    const s = this.streams.get(id);
    if (!s) return;
    const grpcStatus = first(h['grpc-status']);
    if (!s.responseHeaders) {
      s.responseHeaders = true;
      const status = Number(first(h[':status']) ?? 0);
      if (status !== 200 && grpcStatus === undefined) return this.abortStream(s, codeForHttp(status), `Received HTTP status code ${status}`);
      const ct = first(h['content-type']) ?? '';
      if (grpcStatus === undefined && !ct.startsWith('application/grpc')) return this.abortStream(s, GrpcCode.UNKNOWN, `Received unexpected content-type "${ct}"`);
    }
    if (grpcStatus !== undefined) {
      s.status = { code: Number(grpcStatus), details: percentDecode(first(h['grpc-message']) ?? '') };
    }
    if (flags & FLAG_END_STREAM) this.complete(s);
  }

  /** END_STREAM from the server: the call is over. */
  private complete(s: Stream): void {
    if (s.done) return;
    s.done = true;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    // A stream we had not finished sending: tell the server to stop reading it.
    if (!s.localEnded) {
      this.outQueue.push(frameHeader(4, FRAME.RST_STREAM, 0, s.id), u32(RST.NO_ERROR));
      this.schedule();
    }
    if (s.status) s.sink.finish(s.partial && s.status.code === 0 ? GrpcCode.INTERNAL : s.status.code, s.partial && s.status.code === 0 ? 'stream ended inside a message' : s.status.details);
    else s.sink.finish(GrpcCode.INTERNAL, 'Received a response without a grpc-status');
    this.keepaliveCheck();
  }

  private endWithoutTrailers(s: Stream): void {
    this.complete(s);
  }

  /** Ends a call locally with an error and tells the server to drop the stream. */
  private abortStream(s: Stream, code: number, details: string): void {
    if (s.done) return;
    this.reset(s, RST.CANCEL);
    s.sink.finish(code, details);
  }

  // ------------------------------------------------------------------------------------------ keepalive

  /**
   * Called when calls start and end. Pings every keepaliveTimeMs while calls are open (never on an idle
   * connection: servers count pings without calls as abuse); a ping unanswered within keepaliveTimeoutMs
   * declares the connection dead. A draining connection (GOAWAY) closes once its last call is over.
   */
  keepaliveCheck(): void {
    if (this.closed) return;
    if (this.streams.size === 0) {
      if (this.pingTimer) clearInterval(this.pingTimer);
      if (this.pingDeadline) clearTimeout(this.pingDeadline);
      this.pingTimer = undefined;
      this.pingDeadline = undefined;
      if (this.draining) this.goawayAndClose(undefined);
      return;
    }
    this.pingTimer ??= setInterval(() => {
      if (this.closed || this.pingDeadline) return;
      this.outQueue.push(frameHeader(8, FRAME.PING, 0, 0), Buffer.alloc(8));
      this.schedule();
      this.pingDeadline = setTimeout(() => this.teardown(new RpcError(GrpcCode.UNAVAILABLE, 'keepalive ping timed out')), this.keepaliveTimeoutMs);
      this.pingDeadline.unref();
    }, this.keepaliveTimeMs);
    this.pingTimer.unref();
  }

  private goawayAndClose(err: Error | undefined): void {
    if (this.closed) return;
    if (err) {
      const p = Buffer.alloc(8);
      this.outQueue.push(frameHeader(8, FRAME.GOAWAY, 0, 0), p);
      this.flush();
    }
    this.teardown(err);
    this.socket.end();
  }

  private teardown(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.pingDeadline) clearTimeout(this.pingDeadline);
    this.socket.destroy();
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    const wasReady = this.ready;
    const reason = err instanceof RpcError ? err.details : err ? err.message : 'connection closed';
    for (const s of streams) {
      s.done = true;
      // Before the connection was up, nothing reached the server.
      s.sink.finish(err instanceof RpcError && err.code === GrpcCode.CANCELLED ? GrpcCode.CANCELLED : GrpcCode.UNAVAILABLE, wasReady ? reason : `${NOT_SENT}: ${reason}`);
    }
    this.onClosed(this, err);
  }
}

/** A call handle: what `makeUnaryRequest` returns (grpc-js's ClientUnaryCall, reduced to `cancel`). */
export interface UnaryCallHandle {
  cancel(): void;
}

/**
 * A streaming call, as grpc-js's ClientDuplexStream looks to the SDK: `write`/`end`/`cancel`, and events
 * 'data' (decoded responses), 'error' (an RpcError; not for a clean end), 'end', and 'status'.
 */
export class ClientStream<Res> extends EventEmitter {
  /** @internal */ stream: Stream | undefined;
  /** @internal */ conn: Connection | undefined;
  /** @internal */ ended = false;
  /** @internal */ pendingWrites: Buffer[] = [];
  /** @internal */ pendingEnd = false;
  /** @internal */ canceled = false;

  constructor(private readonly serialize: (v: never) => Buffer) {
    super();
  }

  /** Sends a message; false means "wait for 'drain' before writing more" (the message is queued either way). */
  write(msg: unknown): boolean {
    if (this.ended) return false;
    const body = this.serialize(msg as never);
    const framed = Buffer.allocUnsafe(5 + body.length);
    framed[0] = 0;
    framed.writeUInt32BE(body.length, 1);
    body.copy(framed, 5);
    if (this.conn && this.stream) return this.conn.write(this.stream, framed, false);
    this.pendingWrites.push(framed);
    return true;
  }

  end(): void {
    if (this.conn && this.stream) this.conn.write(this.stream, Buffer.alloc(0), true);
    else this.pendingEnd = true;
  }

  /** Cancels the call. Its 'status', 'error' and 'end' events follow asynchronously, as grpc-js emits them. */
  cancel(): void {
    if (this.ended || this.canceled) return;
    this.canceled = true;
    if (this.conn && this.stream) this.conn.reset(this.stream);
    process.nextTick(() => this.finishWith(GrpcCode.CANCELLED, 'Cancelled on client'));
  }

  /** The responses as an async iterable: ends with the call, throws its error (RpcError) if it failed. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Res, void, undefined> {
    const queue: Res[] = [];
    let failure: RpcError | undefined;
    let done = this.ended;
    let wake: (() => void) | undefined;
    const onData = (v: Res): void => {
      queue.push(v);
      wake?.();
    };
    const onError = (e: RpcError): void => {
      failure = e;
      wake?.();
    };
    const onEnd = (): void => {
      done = true;
      wake?.();
    };
    this.on('data', onData);
    this.on('error', onError);
    this.on('end', onEnd);
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (failure) throw failure;
        if (done) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.off('data', onData);
      this.off('error', onError);
      this.off('end', onEnd);
    }
  }

  /** @internal */
  finishWith(code: number, details: string): void {
    if (this.ended) return;
    this.ended = true;
    // Writers waiting for 'drain' must not wait forever on a call that is over.
    this.emit('drain');
    this.emit('status', { code, details });
    if (code !== GrpcCode.OK && this.listenerCount('error') > 0) this.emit('error', new RpcError(code, details));
    this.emit('end');
  }
}

export class H2Channel {
  private conn: Connection | undefined;
  private connecting = false;
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private backoffMs: number;
  private nextAttemptAt = 0;
  private closed = false;
  private lastError = '';
  private readonly host: string;
  private readonly port: number;
  private readonly baseHeaders: Buffer;
  private readonly pathHeaders = new Map<string, Buffer>();
  private readonly keepaliveTimeMs: number;
  private readonly keepaliveTimeoutMs: number;

  constructor(
    readonly target: string,
    private readonly opts: H2ChannelOptions = {},
  ) {
    const i = target.lastIndexOf(':');
    this.host = i > 0 ? target.slice(0, i).replace(/^\[|\]$/g, '') : target;
    this.port = i > 0 ? Number(target.slice(i + 1)) : opts.tls ? 443 : 80;
    this.backoffMs = opts.minBackoffMs ?? 100;
    this.keepaliveTimeMs = opts.keepaliveTimeMs ?? 10_000;
    this.keepaliveTimeoutMs = opts.keepaliveTimeoutMs ?? 5_000;
    // Request headers that never change for this channel. Pseudo-headers first (:path goes in per call).
    this.baseHeaders = Buffer.concat([encodeIndexed(':method', 'POST'), encodeIndexed(':scheme', opts.tls ? 'https' : 'http')]);
    this.tailHeaders = Buffer.concat([
      encodeLiteral(':authority', target),
      encodeLiteral('content-type', 'application/grpc'),
      encodeLiteral('te', 'trailers'),
      encodeLiteral('user-agent', 'latchkey-client'),
    ]);
  }

  private readonly tailHeaders: Buffer;

  // ------------------------------------------------------------------------------- grpc-js-like surface

  getChannel(): { getConnectivityState(tryToConnect: boolean): ConnectivityState } {
    return {
      getConnectivityState: (tryToConnect) => {
        if (this.closed) return ConnectivityState.SHUTDOWN;
        if (this.conn?.ready && !this.conn.draining) return ConnectivityState.READY;
        if (tryToConnect) this.ensureConnection();
        if (this.connecting) return ConnectivityState.CONNECTING;
        return this.lastError ? ConnectivityState.TRANSIENT_FAILURE : ConnectivityState.IDLE;
      },
    };
  }

  waitForReady(deadline: Deadline, callback: (err?: Error) => void): void {
    if (this.closed) return callback(new Error('channel closed'));
    if (this.conn?.ready && !this.conn.draining) return callback();
    const ms = deadlineMs(deadline);
    let timer: NodeJS.Timeout | undefined;
    const w = {
      resolve: () => {
        if (timer) clearTimeout(timer);
        callback();
      },
      reject: (e: Error) => {
        if (timer) clearTimeout(timer);
        callback(e);
      },
    };
    this.waiters.push(w);
    if (ms !== undefined) {
      timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        callback(new Error(`Failed to connect before the deadline${this.lastError ? ` (${this.lastError})` : ''}`));
      }, Math.max(0, ms - Date.now()));
    }
    this.ensureConnection();
  }

  makeUnaryRequest<Req, Res>(
    path: string,
    serialize: (v: Req) => Buffer,
    deserialize: (b: Buffer) => Res,
    argument: Req,
    metadata: MetadataLike,
    options: { deadline?: Deadline },
    callback: (err: RpcError | null, value?: Res) => void,
  ): UnaryCallHandle {
    let response: Buffer | undefined;
    let settled = false;
    let stream: Stream | undefined;
    let conn: Connection | undefined;
    const settle = (err: RpcError | null, value?: Res): void => {
      if (settled) return;
      settled = true;
      if (stream?.timer) clearTimeout(stream.timer);
      callback(err, value);
    };
    const sink: CallSink = {
      message: (msg) => {
        response = Buffer.from(msg);
      },
      finish: (code, details) => {
        if (code !== GrpcCode.OK) return settle(new RpcError(code, details));
        if (response === undefined) return settle(new RpcError(GrpcCode.INTERNAL, 'No message received'));
        let value: Res;
        try {
          value = deserialize(response);
        } catch (err) {
          return settle(new RpcError(GrpcCode.INTERNAL, `Response message parsing error: ${String(err)}`));
        }
        settle(null, value);
      },
    };
    const body = serialize(argument);
    const framed = Buffer.allocUnsafe(5 + body.length);
    framed[0] = 0;
    framed.writeUInt32BE(body.length, 1);
    body.copy(framed, 5);
    const deadline = deadlineMs(options.deadline);
    const start = (): void => {
      if (settled) return;
      conn = this.conn;
      if (!conn?.ready || conn.draining) return settle(new RpcError(GrpcCode.UNAVAILABLE, `${NOT_SENT}: ${this.lastError || 'not connected'}`));
      stream = conn.open(this.headerBlock(path, metadata, deadline), sink);
      conn.write(stream, framed, true);
      conn.keepaliveCheck();
      if (deadline !== undefined) {
        const s = stream;
        const c = conn;
        s.timer = setTimeout(() => {
          c.reset(s);
          settle(new RpcError(GrpcCode.DEADLINE_EXCEEDED, 'Deadline exceeded'));
        }, Math.max(0, deadline - Date.now()));
      }
    };
    this.whenReady(start, (err) => settle(new RpcError(GrpcCode.UNAVAILABLE, `${NOT_SENT}: ${err.message}`)), deadline);
    return {
      cancel: () => {
        if (settled) return;
        if (stream && conn) conn.reset(stream);
        // The callback runs later, never inside cancel() (as with grpc-js).
        process.nextTick(() => settle(new RpcError(GrpcCode.CANCELLED, 'Cancelled on client')));
      },
    };
  }

  /** A client-streaming call with one response (grpc-js's makeClientStreamRequest): write, end, then the callback. */
  makeClientStreamRequest<Req, Res>(
    path: string,
    serialize: (v: Req) => Buffer,
    deserialize: (b: Buffer) => Res,
    metadata: MetadataLike,
    options: { deadline?: Deadline },
    callback: (err: RpcError | null, value?: Res) => void,
  ): ClientStream<Res> {
    const cs = this.openStream(path, serialize, deserialize, metadata, options, undefined);
    let value: Res | undefined;
    let got = false;
    cs.on('data', (v: Res) => {
      value = v;
      got = true;
    });
    cs.on('status', (st: { code: number; details: string }) => {
      if (st.code !== GrpcCode.OK) callback(new RpcError(st.code, st.details));
      else if (!got) callback(new RpcError(GrpcCode.INTERNAL, 'No message received'));
      else callback(null, value);
    });
    return cs;
  }

  makeBidiStreamRequest<Req, Res>(path: string, serialize: (v: Req) => Buffer, deserialize: (b: Buffer) => Res, metadata: MetadataLike, options: { deadline?: Deadline } = {}): ClientStream<Res> {
    return this.openStream(path, serialize, deserialize, metadata, options, undefined);
  }

  makeServerStreamRequest<Req, Res>(
    path: string,
    serialize: (v: Req) => Buffer,
    deserialize: (b: Buffer) => Res,
    argument: Req,
    metadata: MetadataLike,
    options: { deadline?: Deadline } = {},
  ): ClientStream<Res> {
    return this.openStream(path, serialize, deserialize, metadata, options, argument);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new Error('channel closed'));
    this.conn?.close();
    this.conn = undefined;
  }

  // ------------------------------------------------------------------------------------------ internals

  private openStream<Req, Res>(
    path: string,
    serialize: (v: Req) => Buffer,
    deserialize: (b: Buffer) => Res,
    metadata: MetadataLike,
    options: { deadline?: Deadline },
    single: Req | undefined,
  ): ClientStream<Res> {
    const cs = new ClientStream<Res>(serialize as (v: never) => Buffer);
    const deadline = deadlineMs(options.deadline);
    const sink: CallSink = {
      message: (msg) => {
        if (cs.ended) return;
        let value: Res;
        try {
          value = deserialize(Buffer.from(msg));
        } catch (err) {
          if (cs.stream && cs.conn) cs.conn.reset(cs.stream);
          cs.finishWith(GrpcCode.INTERNAL, `Response message parsing error: ${String(err)}`);
          return;
        }
        cs.emit('data', value);
      },
      finish: (code, details) => cs.finishWith(code, details),
      drain: () => cs.emit('drain'),
    };
    const start = (): void => {
      if (cs.ended) return;
      const conn = this.conn;
      if (!conn?.ready || conn.draining) return cs.finishWith(GrpcCode.UNAVAILABLE, `${NOT_SENT}: ${this.lastError || 'not connected'}`);
      const s = conn.open(this.headerBlock(path, metadata, deadline), sink);
      cs.stream = s;
      cs.conn = conn;
      if (single !== undefined) cs.write(single);
      for (const w of cs.pendingWrites.splice(0)) conn.write(s, w, false);
      if (single !== undefined || cs.pendingEnd) conn.write(s, Buffer.alloc(0), true);
      conn.keepaliveCheck();
      if (deadline !== undefined) {
        s.timer = setTimeout(() => {
          conn.reset(s);
          cs.finishWith(GrpcCode.DEADLINE_EXCEEDED, 'Deadline exceeded');
        }, Math.max(0, deadline - Date.now()));
      }
    };
    // Streams start on the next microtask at the earliest, so the caller attaches its listeners first.
    queueMicrotask(() => this.whenReady(start, (err) => cs.finishWith(GrpcCode.UNAVAILABLE, `${NOT_SENT}: ${err.message}`), deadline));
    return cs;
  }

  /** Runs `fn` once the connection is up (now, if it is), or `fail` if it cannot come up by the deadline. */
  private whenReady(fn: () => void, fail: (err: Error) => void, deadline: number | undefined): void {
    if (this.conn?.ready && !this.conn.draining) return fn();
    this.waitForReady(deadline ?? Date.now() + 20_000, (err) => (err ? fail(err) : fn()));
  }

  private headerBlock(path: string, metadata: MetadataLike, deadline: number | undefined): Buffer {
    let p = this.pathHeaders.get(path);
    if (!p) {
      p = encodeLiteral(':path', path);
      this.pathHeaders.set(path, p);
    }
    const parts = [this.baseHeaders, p, this.tailHeaders];
    if (deadline !== undefined) parts.push(encodeLiteral('grpc-timeout', grpcTimeout(deadline - Date.now())));
    const map = metadata.getMap();
    for (const k in map) {
      const v = map[k];
      if (typeof v === 'string') parts.push(encodeLiteral(k, v));
      else if (v !== undefined && k.endsWith('-bin')) parts.push(encodeLiteral(k, Buffer.from(v).toString('base64')));
    }
    return Buffer.concat(parts);
  }

  private ensureConnection(): void {
    if (this.closed || this.connecting || (this.conn && !this.conn.closed && !this.conn.draining)) return;
    const wait = this.nextAttemptAt - Date.now();
    if (wait > 0) {
      this.connecting = true;
      setTimeout(() => {
        this.connecting = false;
        this.ensureConnection();
      }, wait).unref();
      return;
    }
    this.connecting = true;
    const t = this.opts.tls;
    const socket: Socket | TLSSocket = t
      ? tlsConnect({
          host: this.host,
          port: this.port,
          ALPNProtocols: ['h2'],
          ...(t.ca ? { ca: t.ca } : {}),
          ...(t.cert ? { cert: t.cert } : {}),
          ...(t.key ? { key: t.key } : {}),
          ...(t.ciphers ? { ciphers: t.ciphers } : {}),
          ...(t.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
          servername: t.servername ?? (isIP(this.host) ? undefined : this.host),
        })
      : netConnect({ host: this.host, port: this.port, noDelay: true });
    const conn: Connection = new Connection(
      socket,
      t !== undefined,
      this.keepaliveTimeMs,
      this.keepaliveTimeoutMs,
      () => {
        this.connecting = false;
        this.backoffMs = this.opts.minBackoffMs ?? 100;
        this.lastError = '';
        if (this.conn !== conn) return;
        for (const w of this.waiters.splice(0)) w.resolve();
      },
      (c, err) => {
        if (this.conn === c) this.conn = undefined;
        if (!c.ready) {
          // A failed attempt: back off before the next one, and tell waiters only when their deadline passes.
          this.connecting = false;
          this.lastError = err?.message ?? 'connection closed';
          this.nextAttemptAt = Date.now() + this.backoffMs;
          this.backoffMs = Math.min(this.opts.maxBackoffMs ?? 1_000, this.backoffMs * 2);
          if (this.waiters.length > 0 && !this.closed) this.ensureConnection();
        }
      },
    );
    this.conn = conn;
  }
}
