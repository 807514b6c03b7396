import { Readable } from 'node:stream';
import { GrpcCode, hpack } from '@latchkey/proto';
import type { Logger } from '../../../node/etcd-server.js';
import { toWireError } from '../../errors.js';
import {
  type CallContext,
  type CallMetadata,
  type CallObserver,
  encodeGrpcMessage,
  FrameParser,
  ProtocolError,
  type Route,
  type ServerCall,
  STREAM_HIGH_WATER,
  type StreamHandler,
  type UnaryHandler,
} from '../call.js';
import type { H2Stream } from './connection.js';
import { stage, tracing } from '../../../node/stage-trace.js';

/**
 * gRPC calls over our own HTTP/2 engine (./connection.ts): the same contract as the calls over Node's `http2`
 * in ../h2-server.ts — length-prefixed messages, `grpc-status`/`grpc-message` in trailers or a trailers-only
 * response — with the response header blocks encoded once at startup.
 */

const { encodeIndexed, encodeLiteral } = hpack;

const RESPONSE_HEADERS = Buffer.concat([encodeIndexed(':status', '200'), encodeLiteral('content-type', 'application/grpc')]);
const TRAILERS_OK = encodeLiteral('grpc-status', '0');
const OK_STATUS = GrpcCode.OK;

function statusBlock(code: number, message: string): Buffer {
  const parts = [encodeLiteral('grpc-status', String(code))];
  if (message !== '') parts.push(encodeLiteral('grpc-message', encodeGrpcMessage(message)));
  return Buffer.concat(parts);
}

/** Ends the stream with an error status: in trailers if headers went out, else as a trailers-only response. */
export function sendStatus(s: H2Stream, code: number, message: string): void {
  if (s.headersQueued) s.end(statusBlock(code, message), code);
  else s.trailersOnly(Buffer.concat([RESPONSE_HEADERS, statusBlock(code, message)]), code);
}

/** A plain HTTP response with no body (non-gRPC requests on a cleartext HTTP/2 connection). */
export function sendHttpStatus(s: H2Stream, status: number): void {
  s.trailersOnly(Buffer.concat([encodeLiteral(':status', String(status)), encodeLiteral('content-type', 'text/plain')]), status);
}

function sendError(s: H2Stream, err: unknown): void {
  if (err instanceof ProtocolError) return sendStatus(s, err.code, err.message);
  const w = toWireError(err);
  sendStatus(s, w.code, w.message);
}

function lengthPrefix(len: number): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = 0;
  head.writeUInt32BE(len, 1);
  return head;
}

export interface EngineCallOptions {
  maxReceiveBytes: number;
  log: Logger;
  observer?: CallObserver | undefined;
}

/** Serves one request stream: attaches the stream's listener (synchronously, as the engine requires). */
export function serveGrpcStream(s: H2Stream, route: Route, metadata: CallMetadata, opts: EngineCallOptions): void {
  opts.observer?.started(route.method);
  if (route.method.requestStream || route.method.responseStream) new EngineCall(s, route, metadata, opts);
  else serveUnary(s, route, metadata, opts);
}

function serveUnary(s: H2Stream, route: Route, metadata: CallMetadata, opts: EngineCallOptions): void {
  const parser = new FrameParser(opts.maxReceiveBytes);
  let request: Uint8Array | undefined;
  let failed = false;
  let ac: AbortController | undefined;
  const method = route.method;
  s.listener = {
    onData(chunk) {
      if (failed) return;
      try {
        for (const m of parser.push(chunk)) {
          if (request !== undefined) throw new ProtocolError(GrpcCode.UNIMPLEMENTED, 'grpc: received more than one request message for a unary call');
          request = m;
        }
      } catch (err) {
        failed = true;
        sendError(s, err);
      }
    },
    onEnd() {
      if (failed) return;
      if (request === undefined || parser.pending) {
        return sendStatus(s, GrpcCode.INTERNAL, 'grpc: no request message received for a unary call');
      }
      let req: unknown;
      // Stage-trace name: the method's last path segment (e.g. "Put").
      const traced = tracing ? method.path.slice(method.path.lastIndexOf('/') + 1) : '';
      if (tracing) stage(`req:${traced}`, -1);
      try {
        req = method.requestType.decode(request);
      } catch (err) {
        return sendStatus(s, GrpcCode.INTERNAL, `grpc: error unmarshalling request: ${err instanceof Error ? err.message : String(err)}`);
      }
      const ctx: CallContext = {
        metadata,
        get signal() {
          if (!ac) {
            ac = new AbortController();
            if (s.closed) ac.abort();
          }
          return ac.signal;
        },
      };
      (route.handler as UnaryHandler)(req, ctx).then(
        (res) => {
          if (s.closed) return;
          const body = method.responseType.encode(res as never);
          s.respond(RESPONSE_HEADERS);
          s.write(lengthPrefix(body.length));
          s.write(body);
          s.end(TRAILERS_OK, OK_STATUS);
          if (tracing) stage(`resp:${traced}`, -1);
        },
        (err: unknown) => {
          const w = toWireError(err);
          if (w.unexpected) opts.log.error(`${method.path}: unexpected error`, { err: err instanceof Error ? err.stack : String(err) });
          if (!s.closed) sendStatus(s, w.code, w.message);
        },
      );
    },
    onClose(reset) {
      if (reset) ac?.abort();
      opts.observer?.handled(method, s.sentStatus ?? GrpcCode.CANCELLED);
    },
  };
}

/**
 * A streaming call: a readable of decoded requests (object mode) and a framed response writer, as handlers
 * expect from `ServerCall`. Server-streaming calls read their one request before the handler runs.
 */
class EngineCall extends Readable implements ServerCall {
  request: unknown;
  cancelled = false;
  private readonly parser: FrameParser;
  private responded = false;
  private finished = false;
  private single: Buffer | undefined;

  constructor(
    private readonly s: H2Stream,
    private readonly route: Route,
    readonly metadata: CallMetadata,
    private readonly opts: EngineCallOptions,
  ) {
    // autoDestroy off: the client half-closing its side must not end the call (a watch keeps sending).
    super({ objectMode: true, highWaterMark: 64, autoDestroy: false });
    this.parser = new FrameParser(opts.maxReceiveBytes);
    const method = route.method;
    const requestStream = method.requestStream;
    s.listener = {
      onData: (chunk) => {
        if (this.finished && !requestStream) return;
        try {
          for (const m of this.parser.push(chunk)) {
            if (requestStream) this.push(method.requestType.decode(m));
            else this.single = m;
          }
        } catch (err) {
          this.fail(err instanceof ProtocolError ? err : new ProtocolError(GrpcCode.INTERNAL, `grpc: error unmarshalling request: ${String(err)}`));
        }
      },
      onEnd: () => {
        if (requestStream) {
          if (this.parser.pending) this.fail(new ProtocolError(GrpcCode.INTERNAL, 'grpc: the request stream ended inside a message'));
          this.push(null);
          return;
        }
        if (this.finished) return;
        if (this.single === undefined || this.parser.pending) {
          return this.fail(new ProtocolError(GrpcCode.INTERNAL, 'grpc: no complete request message received'));
        }
        try {
          this.request = method.requestType.decode(this.single);
        } catch (err) {
          return this.fail(new ProtocolError(GrpcCode.INTERNAL, `grpc: error unmarshalling request: ${String(err)}`));
        }
        (route.handler as StreamHandler)(this);
      },
      onClose: () => {
        if (!this.finished) {
          this.cancelled = true;
          this.emit('cancelled');
        }
        this.opts.observer?.handled(method, s.sentStatus ?? GrpcCode.CANCELLED);
        this.destroy();
      },
      onDrain: () => this.emit('drain'),
    };
    if (requestStream) (route.handler as StreamHandler)(this);
  }

  override _read(): void {}

  get writableLength(): number {
    return this.s.queuedBytes;
  }

  get writable(): boolean {
    return !this.finished && !this.s.closed;
  }

  write(msg: unknown): boolean {
    return this.writeRaw([this.route.method.responseType.encode(msg as never)]);
  }

  writeRaw(parts: readonly Buffer[]): boolean {
    if (this.finished || this.s.closed) return false;
    if (!this.responded) {
      this.responded = true;
      this.s.respond(RESPONSE_HEADERS);
    }
    let len = 0;
    for (const p of parts) len += p.length;
    this.s.write(lengthPrefix(len));
    for (const p of parts) this.s.write(p);
    const ok = this.s.queuedBytes < STREAM_HIGH_WATER;
    if (!ok) this.s.wantDrain = true;
    return ok;
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.s.closed) return;
    if (!this.responded) sendStatus(this.s, GrpcCode.OK, '');
    else this.s.end(TRAILERS_OK, OK_STATUS);
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    if (this.s.closed) return;
    const w = err instanceof ProtocolError ? { code: err.code, message: err.message, unexpected: false } : toWireError(err);
    if (w.unexpected) this.opts.log.error(`${this.route.method.path}: unexpected error`, { err: String(err) });
    sendStatus(this.s, w.code, w.message);
  }
}

