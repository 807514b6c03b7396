import type { Init, MethodDesc, ServiceDesc } from '@latchkey/proto';
import { ByteQueue, GrpcCode } from '@latchkey/proto';

/**
 * What a gRPC call looks like to the service handlers, whichever HTTP/2 implementation carries it (Node's
 * `http2` for TLS connections, our own engine in ./h2/ for cleartext ones, the gateway over HTTP/1.1), plus the
 * gRPC framing pieces they share.
 */

/**
 * Incoming call metadata: lowercased header names to values, as gRPC sends them, plus the common name of the
 * client's verified TLS certificate, if it presented one (etcd uses it as the user under client-cert-auth).
 */
export class CallMetadata {
  constructor(
    private readonly headers: Readonly<Record<string, string | string[] | undefined>>,
    readonly commonName?: string,
  ) {}

  get(key: string): string[] {
    const v = this.headers[key.toLowerCase()];
    if (v === undefined) return [];
    return Array.isArray(v) ? v : [v];
  }
}

export interface CallContext {
  readonly metadata: CallMetadata;
  /** Aborts when the client cancels or disconnects. Created on first access. */
  readonly signal: AbortSignal;
}

export type UnaryHandler<Req = any, Res = any> = (req: Req, ctx: CallContext) => Promise<Init<Res>>;

/**
 * A streaming call as handlers see it (the gateway provides the same shape over HTTP/1.1): an object-mode duplex
 * whose readable side yields decoded requests ('data', then 'end' when the client half-closes) and whose writable
 * side takes responses. `fail(err)` ends the call with the error's wire status; `end()` ends it with OK.
 * 'cancelled' fires when the client goes away. `request` holds the single request of a server-streaming call.
 */
export interface ServerCall<Req = any, Res = any> {
  readonly metadata: CallMetadata;
  request: Req;
  readonly cancelled: boolean;
  /** Bytes or messages buffered for sending; a bound on it is the handler's backpressure signal. */
  readonly writableLength: number;
  readonly writable: boolean;
  write(msg: Init<Res>): boolean;
  /** Writes one response message given as already-encoded parts (concatenated); binary transports only. */
  writeRaw?(parts: readonly Buffer[]): boolean;
  end(): void;
  fail(err: unknown): void;
  on(event: 'data', fn: (req: Req) => void): this;
  on(event: 'end' | 'drain' | 'cancelled' | 'close', fn: () => void): this;
  once(event: 'drain' | 'cancelled' | 'close', fn: () => void): this;
  pause(): this;
  resume(): this;
}

export type StreamHandler<Req = any, Res = any> = (call: ServerCall<Req, Res>) => void;

export type ServiceImpl<S extends ServiceDesc> = {
  [K in keyof S]: S[K]['requestStream'] extends true
    ? StreamHandler
    : S[K]['responseStream'] extends true
      ? StreamHandler
      : UnaryHandler;
};


export interface CallObserver {
  started(method: MethodDesc): void;
  handled(method: MethodDesc, code: number): void;
}

export interface Route {
  method: MethodDesc;
  handler: UnaryHandler | StreamHandler;
}

/** Bytes a streaming call may buffer before `write` reports backpressure. */
export const STREAM_HIGH_WATER = 1024 * 1024;

export class ProtocolError extends Error {
  constructor(
    readonly code: GrpcCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Splits a DATA byte stream into gRPC length-prefixed messages. Chunks of a message in progress are kept as they
 * came and joined once, when the message is whole (joining on every chunk would copy a large message once per
 * DATA frame).
 */
export class FrameParser {
  private readonly queue = new ByteQueue();
  /** Length of the message in progress once its 5-byte prefix is in; -1 before. */
  private need = -1;

  constructor(private readonly max: number) {}

  get pending(): boolean {
    return this.queue.length > 0 || this.need >= 0;
  }

  push(chunk: Buffer): Buffer[] {
    this.queue.push(chunk);
    const out: Buffer[] = [];
    for (;;) {
      if (this.need < 0) {
        if (this.queue.length < 5) break;
        const head = this.queue.take(5);
        if (head[0] !== 0) throw new ProtocolError(GrpcCode.UNIMPLEMENTED, 'grpc: compressed messages are not supported');
        const len = head.readUInt32BE(1);
        if (len > this.max) throw new ProtocolError(GrpcCode.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${len} vs. ${this.max})`);
        this.need = len;
      }
      if (this.queue.length < this.need) break;
      out.push(this.queue.take(this.need));
      this.need = -1;
    }
    return out;
  }
}

/** One gRPC length-prefixed message (uncompressed). */
export function frame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

/** gRPC's percent-encoding of grpc-message: bytes outside printable ASCII, and '%', become %XX. */
export function encodeGrpcMessage(msg: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(msg)) return msg;
  let out = '';
  for (const byte of Buffer.from(msg, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

