import { Readable } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GrpcCode, JsonError, type MethodDesc } from '@latchkey/proto';
import type { Logger } from '../../node/etcd-server.js';
import { toWireError } from '../errors.js';
import { CallMetadata, type CallContext, type ServerCall, type StreamHandler, type UnaryHandler } from '../grpc/h2-server.js';
import { JsonSplitter } from './json-stream.js';

/** One gateway route: a POST path bound to an RPC and the handler that serves it over gRPC too. */
export interface GatewayRoute {
  readonly path: string;
  readonly method: MethodDesc;
  readonly handler: UnaryHandler | StreamHandler;
}

/**
 * gRPC status → HTTP status, as etcd 3.4's gateway (grpc-gateway 1.6.4, the Debian build latchkey is compared
 * with) maps them. NB: newer grpc-gateway versions (etcd 3.5 upstream) answer FailedPrecondition with 400.
 */
const HTTP_STATUS: Record<number, number> = {
  [GrpcCode.OK]: 200,
  [GrpcCode.CANCELLED]: 408,
  [GrpcCode.UNKNOWN]: 500,
  [GrpcCode.INVALID_ARGUMENT]: 400,
  [GrpcCode.DEADLINE_EXCEEDED]: 504,
  [GrpcCode.NOT_FOUND]: 404,
  [GrpcCode.ALREADY_EXISTS]: 409,
  [GrpcCode.PERMISSION_DENIED]: 403,
  [GrpcCode.RESOURCE_EXHAUSTED]: 429,
  [GrpcCode.FAILED_PRECONDITION]: 412,
  [GrpcCode.ABORTED]: 409,
  [GrpcCode.OUT_OF_RANGE]: 400,
  [GrpcCode.UNIMPLEMENTED]: 501,
  [GrpcCode.INTERNAL]: 500,
  [GrpcCode.UNAVAILABLE]: 503,
  [GrpcCode.DATA_LOSS]: 500,
  [GrpcCode.UNAUTHENTICATED]: 401,
};

const MAX_BODY = 2 * 1024 * 1024;

/** Who may call the gateway (etcd's --cors and --host-whitelist); ['*'] allows any. */
export interface GatewayAccess {
  cors: readonly string[];
  hostWhitelist: readonly string[];
}

const ANY: GatewayAccess = { cors: ['*'], hostWhitelist: ['*'] };

const MISDIRECTED = [
  'This latchkey member does not answer plain-HTTP requests for this Host header.',
  '',
  'Either add the host name to --host-whitelist, or use TLS (https requests are not checked).',
  'The check protects browsers on this machine against DNS rebinding (CVE-2018-5702).',
  '',
].join('\n');

/**
 * The HTTP/JSON gateway (etcd's grpc-gateway): POST /v3/… (and the /v3beta/… alias) with a JSON request body,
 * answered with proto3 JSON; streaming routes take a sequence of JSON messages and answer with chunked
 * `{"result": …}` lines. Requests run through the same handlers as gRPC calls.
 */
export class Gateway {
  private readonly routes = new Map<string, GatewayRoute>();

  constructor(
    routes: readonly GatewayRoute[],
    private readonly extra: (req: IncomingMessage, res: ServerResponse) => boolean,
    private readonly log: Logger,
    private readonly access: GatewayAccess = ANY,
  ) {
    for (const r of routes) this.routes.set(r.path, r);
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (!this.hostAllowed(req)) {
      res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' }).end(MISDIRECTED);
      return;
    }
    const origin = this.access.cors.includes('*') ? '*' : this.access.cors.find((o) => o === req.headers.origin);
    if (origin !== undefined) {
      res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS, PUT, DELETE');
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Headers', 'accept, content-type, authorization');
    }
    if (this.extra(req, res)) return;
    let path = (req.url ?? '/').split('?')[0]!;
    if (path.startsWith('/v3beta/')) path = `/v3/${path.slice('/v3beta/'.length)}`;
    const route = this.routes.get(path);
    if (req.method === 'OPTIONS') {
      res.writeHead(200).end();
      return;
    }
    if (!route) {
      // grpc-gateway answers unknown /v3 routes itself; anything else falls through to Go's default mux.
      const body = path.startsWith('/v3/') ? 'Not Found\n' : '404 page not found\n';
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
      return;
    }
    // Request headers are the call's metadata (the auth token travels in `authorization`).
    const sock = req.socket as { encrypted?: boolean; authorized?: boolean; getPeerCertificate?: () => { subject?: { CN?: unknown } } };
    const cn = sock.encrypted && sock.authorized ? sock.getPeerCertificate?.()?.subject?.CN : undefined;
    const metadata = new CallMetadata(req.headers, typeof cn === 'string' && cn !== '' ? cn : undefined);
    if (route.method.requestStream || route.method.responseStream) this.stream(route, req, res, metadata);
    else this.unary(route, req, res, metadata);
  };

  /** Plain-HTTP requests must name a whitelisted host (with or without its port); TLS requests always pass. */
  private hostAllowed(req: IncomingMessage): boolean {
    const list = this.access.hostWhitelist;
    if (list.includes('*') || (req.socket as { encrypted?: boolean }).encrypted) return true;
    const host = req.headers.host ?? '';
    const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    return list.includes(host) || list.includes(name);
  }

  private unary(route: GatewayRoute, req: IncomingMessage, res: ServerResponse, metadata: CallMetadata): void {
    readBody(req).then(
      async (body) => {
        const ac = new AbortController();
        res.on('close', () => ac.abort());
        let msg: unknown;
        try {
          msg = route.method.requestType.fromJSON(body.trim() === '' ? {} : JSON.parse(body));
        } catch (err) {
          this.fail(res, { code: GrpcCode.INVALID_ARGUMENT, message: jsonMessage(err) });
          return;
        }
        const ctx: CallContext = { metadata, signal: ac.signal };
        try {
          const out = await (route.handler as UnaryHandler)(msg as never, ctx);
          const json = JSON.stringify(route.method.responseType.toJSON(out as never));
          res.writeHead(200, { 'content-type': 'application/json', 'grpc-metadata-content-type': 'application/grpc' }).end(json);
        } catch (err) {
          const w = toWireError(err);
          if (w.unexpected) this.log.error(`${route.path}: unexpected error`, { err: err instanceof Error ? err.stack : String(err) });
          this.fail(res, w);
        }
      },
      (err: unknown) => this.fail(res, { code: GrpcCode.INVALID_ARGUMENT, message: err instanceof Error ? err.message : String(err) }),
    );
  }

  private fail(res: ServerResponse, w: { code: number; message: string }): void {
    if (res.headersSent) return;
    res
      .writeHead(HTTP_STATUS[w.code] ?? 500, { 'content-type': 'application/json', trailer: 'Grpc-Trailer-Content-Type' })
      .end(JSON.stringify({ error: w.message, message: w.message, code: w.code }));
  }

  /**
   * Streaming routes: the request body is parsed into messages as it arrives and fed to the handler through a
   * call object that looks like a grpc-js server stream; each message the handler writes becomes a line.
   */
  private stream(route: GatewayRoute, req: IncomingMessage, res: ServerResponse, metadata: CallMetadata): void {
    const call = new GatewayCall(route.method, res, metadata);
    const splitter = new JsonSplitter();
    let started = false;
    const start = (first: unknown): void => {
      started = true;
      if (!route.method.requestStream) call.request = first;
      (route.handler as StreamHandler)(call);
      if (route.method.requestStream) call.push(first);
    };
    const feed = (text: string): boolean => {
      let msg: unknown;
      try {
        msg = route.method.requestType.fromJSON(JSON.parse(text));
      } catch (err) {
        if (!started) this.fail(res, { code: GrpcCode.UNKNOWN, message: jsonMessage(err) });
        else call.fail({ code: GrpcCode.UNKNOWN, message: jsonMessage(err) });
        req.destroy();
        return false;
      }
      if (!started) start(msg);
      else if (route.method.requestStream) call.push(msg);
      return true;
    };
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      for (const text of splitter.push(chunk)) if (!feed(text)) return;
    });
    req.on('end', () => {
      const rest = splitter.rest();
      if (rest !== '') {
        feed(rest);
        return;
      }
      if (!started) start(route.method.requestType.fromJSON({}));
      // The client finished sending; the stream stays open for responses (watch, keepalive) until it disconnects.
      if (route.method.requestStream) call.push(null);
    });
    res.on('close', () => call.cancel());
  }
}

/** A streaming call over an HTTP/1.1 response: decoded request messages in, `{"result": …}` lines out. */
class GatewayCall extends Readable implements ServerCall {
  request: unknown;
  cancelled = false;
  private wroteHead = false;
  private finished = false;

  constructor(
    private readonly method: MethodDesc,
    private readonly res: ServerResponse,
    readonly metadata: CallMetadata,
  ) {
    // autoDestroy off: the client half-closing its side must not end the call (a watch keeps sending).
    super({ objectMode: true, highWaterMark: 64, autoDestroy: false });
    res.on('drain', () => this.emit('drain'));
  }

  override _read(): void {}

  get writableLength(): number {
    return this.res.writableLength ?? 0;
  }

  get writable(): boolean {
    return !this.finished && !this.res.writableEnded && !this.res.destroyed;
  }

  write(msg: unknown): boolean {
    if (!this.writable) return false;
    this.head();
    return this.res.write(`${JSON.stringify({ result: this.method.responseType.toJSON(msg as never) })}\n`);
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.head();
    this.res.end();
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    const w = typeof err === 'object' && err !== null && 'code' in err && 'message' in err && !(err instanceof Error) ? (err as { code: number; message: string }) : toWireError(err);
    if (this.res.writableEnded) return;
    const status = HTTP_STATUS[w.code] ?? 500;
    if (!this.res.headersSent) {
      this.res.writeHead(status, { 'content-type': 'application/json' });
      this.res.end(JSON.stringify({ error: w.message, message: w.message, code: w.code }));
      return;
    }
    this.res.end(`${JSON.stringify({ error: { grpc_code: w.code, http_code: status, message: w.message, http_status: '' } })}\n`);
  }

  cancel(): void {
    if (this.cancelled || this.finished) return;
    this.cancelled = true;
    this.emit('cancelled');
    this.destroy();
  }

  private head(): void {
    if (this.wroteHead) return;
    this.wroteHead = true;
    this.res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'grpc-metadata-content-type': 'application/grpc' });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function jsonMessage(err: unknown): string {
  if (err instanceof JsonError) return err.message;
  if (err instanceof SyntaxError) return /Unexpected end/.test(err.message) ? 'unexpected EOF' : err.message;
  return err instanceof Error ? err.message : String(err);
}
