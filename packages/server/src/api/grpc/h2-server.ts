import { Readable } from 'node:stream';
import {
  constants as h2c,
  createServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { GrpcCode, type MethodDesc, type ServiceDesc } from '@latchkey/proto';
import type { Logger } from '../../node/etcd-server.js';
import { toWireError } from '../errors.js';
import {
  CallMetadata,
  type CallContext,
  type CallObserver,
  encodeGrpcMessage,
  frame,
  FrameParser,
  ProtocolError,
  type Route,
  type ServerCall,
  type ServiceImpl,
  STREAM_HIGH_WATER,
  type StreamHandler,
  type UnaryHandler,
} from './call.js';

import { H2Connection, type H2Stream } from './h2/connection.js';
import { sendHttpStatus, sendStatus, serveGrpcStream } from './h2/grpc-calls.js';

export { CallMetadata, encodeGrpcMessage, type CallContext, type CallObserver, type ServerCall, type ServiceImpl, type StreamHandler, type UnaryHandler } from './call.js';

/**
 * The client API's gRPC server. It speaks the gRPC-over-HTTP/2 wire protocol: length-prefixed messages,
 * `grpc-status` and percent-encoded `grpc-message` in trailers (or a trailers-only response for errors),
 * identity encoding only. Two HTTP/2 implementations carry it:
 * - cleartext connections (h2c with prior knowledge: every etcd client on http:// endpoints) go to our own
 *   engine, ./h2/ (`serveCleartext`), which costs a fraction of Node's `http2` per call;
 * - TLS connections go to Node's `http2` (`injectConnection`), which also carries the JSON gateway over HTTP/2.
 * Both hand the same handlers the same `CallContext` / `ServerCall` (./call.ts).
 */

export interface GrpcServerOptions {
  /** Largest request message accepted (larger: RESOURCE_EXHAUSTED). */
  maxReceiveBytes: number;
  log: Logger;
  /** Told about every call that starts and ends (metrics). */
  observer?: CallObserver;
  /** Calls one connection may have open at once (etcd's --max-concurrent-streams; default 2^32 - 1). */
  maxConcurrentStreams?: number;
}

export class GrpcServer {
  readonly http2: Http2Server;
  private readonly routes = new Map<string, Route>();
  private readonly sessions = new Set<Http2Session>();
  private readonly connections = new Set<H2Connection>();

  constructor(private readonly opts: GrpcServerOptions) {
    this.http2 = createServer({
      settings: { maxConcurrentStreams: opts.maxConcurrentStreams ?? 2 ** 32 - 1, initialWindowSize: 1024 * 1024 },
      maxSessionMemory: 64,
      // etcdctl and clientv3 ping every ~10 s; never treat pings as abuse.
      maxOutstandingPings: 64,
      peerMaxConcurrentStreams: 2 ** 31 - 1,
    });
    this.http2.on('session', (s) => {
      this.sessions.add(s);
      s.setMaxListeners(0);
      s.on('close', () => this.sessions.delete(s));
      s.on('error', () => undefined);
    });
    this.http2.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  /** Handles HTTP/2 requests that are not gRPC (the gateway over TLS). */
  fallback: ((stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void) | undefined;

  addService<S extends ServiceDesc>(desc: S, impl: ServiceImpl<S>): void {
    for (const [name, method] of Object.entries(desc)) {
      this.routes.set(method.path, { method, handler: impl[name as keyof S] as UnaryHandler | StreamHandler });
    }
  }

  /** Hands an accepted connection (already sniffed or negotiated as HTTP/2) to the server. */
  injectConnection(socket: import('node:stream').Duplex): void {
    this.http2.emit('connection', socket);
  }

  /** Serves a cleartext HTTP/2 connection whose first bytes (`head`, the client preface at least) were read. */
  serveCleartext(socket: import('node:stream').Duplex, head: Buffer): void {
    const conn: H2Connection = new H2Connection(socket, head, (stream) => this.onEngineStream(stream), undefined, undefined, this.opts.maxConcurrentStreams);
    this.connections.add(conn);
    socket.once('close', () => this.connections.delete(conn));
  }

  private onEngineStream(s: H2Stream): void {
    const headers = s.headers;
    const path = typeof headers[':path'] === 'string' ? headers[':path'] : '';
    const route = this.routes.get(path);
    const ct = typeof headers['content-type'] === 'string' ? headers['content-type'] : '';
    if (!route) return sendStatus(s, GrpcCode.UNIMPLEMENTED, `unknown method ${path}`);
    if (!ct.startsWith('application/grpc')) return sendHttpStatus(s, 415);
    const enc = headers['grpc-encoding'];
    if (enc !== undefined && enc !== 'identity') {
      return sendStatus(s, GrpcCode.UNIMPLEMENTED, `grpc: Decompressor is not installed for grpc-encoding "${String(enc)}"`);
    }
    serveGrpcStream(s, route, new CallMetadata(headers), { maxReceiveBytes: this.opts.maxReceiveBytes, log: this.opts.log, observer: this.opts.observer });
  }

  /** Closes every session: in-flight calls get GOAWAY and then are cut. */
  close(): void {
    for (const c of this.connections) c.close();
    this.connections.clear();
    for (const s of this.sessions) {
      s.goaway(h2c.NGHTTP2_NO_ERROR);
      s.destroy();
    }
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const route = this.routes.get(headers[':path'] ?? '');
    if (!route && this.fallback && !(headers['content-type'] ?? '').startsWith('application/grpc')) return this.fallback(stream, headers);
    if (!route) {
      return trailersOnly(stream, GrpcCode.UNIMPLEMENTED, `unknown method ${headers[':path'] ?? ''}`);
    }
    const ct = headers['content-type'] ?? '';
    if (!ct.startsWith('application/grpc')) {
      // Over TLS, HTTP/2 carries the JSON gateway too.
      if (this.fallback) return this.fallback(stream, headers);
      stream.respond({ ':status': 415, 'content-type': 'text/plain' }, { endStream: true });
      return;
    }
    const enc = headers['grpc-encoding'];
    if (enc !== undefined && enc !== 'identity') {
      return trailersOnly(stream, GrpcCode.UNIMPLEMENTED, `grpc: Decompressor is not installed for grpc-encoding "${enc}"`);
    }
    const metadata = new CallMetadata(headers, peerCommonName(stream));
    const obs = this.opts.observer;
    if (obs) {
      obs.started(route.method);
      stream.once('close', () => {
        const v = stream.sentTrailers?.['grpc-status'] ?? stream.sentHeaders?.['grpc-status'];
        obs.handled(route.method, v === undefined ? GrpcCode.CANCELLED : Number(v));
      });
    }
    if (route.method.requestStream || route.method.responseStream) this.streamCall(stream, route, metadata);
    else this.unaryCall(stream, route, metadata);
  }

  private unaryCall(stream: ServerHttp2Stream, route: Route, metadata: CallMetadata): void {
    const parser = new FrameParser(this.opts.maxReceiveBytes);
    let request: Uint8Array | undefined;
    let failed = false;
    stream.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        for (const m of parser.push(chunk)) {
          if (request !== undefined) throw new ProtocolError(GrpcCode.UNIMPLEMENTED, 'grpc: received more than one request message for a unary call');
          request = m;
        }
      } catch (err) {
        failed = true;
        sendError(stream, err);
      }
    });
    stream.on('end', () => {
      if (failed) return;
      if (request === undefined || parser.pending) {
        return trailersOnly(stream, GrpcCode.INTERNAL, 'grpc: no request message received for a unary call');
      }
      let req: unknown;
      try {
        req = route.method.requestType.decode(request);
      } catch (err) {
        return trailersOnly(stream, GrpcCode.INTERNAL, `grpc: error unmarshalling request: ${err instanceof Error ? err.message : String(err)}`);
      }
      let ac: AbortController | undefined;
      const ctx: CallContext = {
        metadata,
        get signal() {
          if (!ac) {
            const c = (ac = new AbortController());
            if (stream.closed) c.abort();
            else stream.once('close', () => c.abort());
          }
          return ac.signal;
        },
      };
      (route.handler as UnaryHandler)(req, ctx).then(
        (res) => {
          if (stream.closed || stream.destroyed) return;
          const body = frame(route.method.responseType.encode(res as never));
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(body);
        },
        (err: unknown) => {
          const w = toWireError(err);
          if (w.unexpected) this.opts.log.error(`${route.method.path}: unexpected error`, { err: err instanceof Error ? err.stack : String(err) });
          trailersOnly(stream, w.code, w.message);
        },
      );
    });
  }

  private streamCall(stream: ServerHttp2Stream, route: Route, metadata: CallMetadata): void {
    const call = new H2Call(stream, route.method, metadata, this.opts.maxReceiveBytes, this.opts.log);
    if (route.method.requestStream) {
      (route.handler as StreamHandler)(call);
      call.startReading();
      return;
    }
    // Server streaming: read the one request, then run the handler.
    call.readSingle().then(
      (req) => {
        if (req === undefined) return;
        call.request = req;
        (route.handler as StreamHandler)(call);
      },
      (err: unknown) => sendError(stream, err),
    );
  }
}

function peerCommonName(stream: ServerHttp2Stream): string | undefined {
  const socket = stream.session?.socket as (import('node:tls').TLSSocket & { encrypted?: boolean }) | undefined;
  if (!socket?.encrypted || !socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

function trailersOnly(stream: ServerHttp2Stream, code: number, message: string): void {
  if (stream.closed || stream.destroyed) return;
  if (stream.headersSent) {
    // Headers already went out: the status goes in trailers.
    try {
      stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) });
    } catch {
      stream.close(h2c.NGHTTP2_INTERNAL_ERROR);
    }
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) }, { endStream: true });
}

function sendError(stream: ServerHttp2Stream, err: unknown): void {
  if (err instanceof ProtocolError) return trailersOnly(stream, err.code, err.message);
  const w = toWireError(err);
  trailersOnly(stream, w.code, w.message);
}

/** A streaming call over one HTTP/2 stream: a readable of decoded requests plus a framed response writer. */
class H2Call extends Readable implements ServerCall {
  request: unknown;
  cancelled = false;
  private readonly parser: FrameParser;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushQueued = false;
  private responded = false;
  private finished = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly method: MethodDesc,
    readonly metadata: CallMetadata,
    maxReceive: number,
    private readonly log: Logger,
  ) {
    // autoDestroy off: the client half-closing its side must not end the call (a watch keeps sending).
    super({ objectMode: true, highWaterMark: 64, autoDestroy: false });
    this.parser = new FrameParser(maxReceive);
    stream.on('close', () => {
      if (!this.finished) {
        this.cancelled = true;
        this.emit('cancelled');
      }
      this.destroy();
    });
    stream.on('drain', () => this.emit('drain'));
  }

  /** Feeds incoming messages to the readable side. */
  startReading(): void {
    this.stream.on('data', (chunk: Buffer) => {
      try {
        for (const m of this.parser.push(chunk)) this.push(this.method.requestType.decode(m));
      } catch (err) {
        this.fail(err instanceof ProtocolError ? err : new ProtocolError(GrpcCode.INTERNAL, `grpc: error unmarshalling request: ${String(err)}`));
        this.stream.pause();
      }
    });
    this.stream.on('end', () => {
      if (this.parser.pending) this.fail(new ProtocolError(GrpcCode.INTERNAL, 'grpc: the request stream ended inside a message'));
      this.push(null);
    });
  }

  /** Reads the single request of a server-streaming call; undefined if the call already failed. */
  readSingle(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let req: Buffer | undefined;
      this.stream.on('data', (chunk: Buffer) => {
        try {
          for (const m of this.parser.push(chunk)) req = m;
        } catch (err) {
          reject(err);
        }
      });
      this.stream.on('end', () => {
        if (req === undefined || this.parser.pending) return reject(new ProtocolError(GrpcCode.INTERNAL, 'grpc: no complete request message received'));
        try {
          resolve(this.method.requestType.decode(req));
        } catch (err) {
          reject(new ProtocolError(GrpcCode.INTERNAL, `grpc: error unmarshalling request: ${String(err)}`));
        }
      });
    });
  }

  override _read(): void {}

  get writableLength(): number {
    return this.stream.writableLength + this.pendingBytes;
  }

  get writable(): boolean {
    return !this.finished && !this.stream.closed && !this.stream.destroyed;
  }

  write(msg: unknown): boolean {
    return this.writeRaw([this.method.responseType.encode(msg as never)]);
  }

  /**
   * Messages written in one turn of the event loop are coalesced into one stream write (one DATA frame run):
   * a revision fanned out to ten watchers of one stream costs the client one frame, not ten.
   */
  writeRaw(parts: readonly Buffer[]): boolean {
    if (this.finished || this.stream.closed || this.stream.destroyed) return false;
    this.respondOnce();
    let len = 0;
    for (const p of parts) len += p.length;
    const head = Buffer.allocUnsafe(5);
    head[0] = 0;
    head.writeUInt32BE(len, 1);
    this.pending.push(head, ...parts);
    this.pendingBytes += 5 + len;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
    return this.stream.writableLength + this.pendingBytes < STREAM_HIGH_WATER;
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.pending.length === 0 || this.stream.closed || this.stream.destroyed) return;
    const out = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.stream.write(out);
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream.closed || this.stream.destroyed) return;
    if (!this.responded) return trailersOnly(this.stream, GrpcCode.OK, '');
    this.flush();
    this.stream.once('wantTrailers', () => this.stream.sendTrailers({ 'grpc-status': '0' }));
    this.stream.end();
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream.closed || this.stream.destroyed) return;
    const w = err instanceof ProtocolError ? { code: err.code, message: err.message } : toWireError(err);
    if ('unexpected' in w && w.unexpected) this.log.error(`${this.method.path}: unexpected error`, { err: String(err) });
    if (!this.responded) return trailersOnly(this.stream, w.code, w.message);
    this.flush();
    this.stream.once('wantTrailers', () =>
      this.stream.sendTrailers({ 'grpc-status': String(w.code), 'grpc-message': encodeGrpcMessage(w.message) }),
    );
    this.stream.end();
  }

  private respondOnce(): void {
    if (this.responded) return;
    this.responded = true;
    this.stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  }
}
