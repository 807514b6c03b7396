import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GrpcCode } from '../errors.js';
import { ConnectivityState, H2Channel, metadata, type MetadataLike, RpcError } from './channel.js';

/**
 * The SDK's HTTP/2 channel against an independent peer: Node's own HTTP/2 server (nghttp2) playing a gRPC
 * server, so framing, flow control, trailers and error paths are checked against someone else's implementation.
 */

function frame(b: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(b.length, 1);
  return Buffer.concat([h, b]);
}

/** Reads a gRPC request body (one or more length-prefixed messages). */
function messages(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off + 5 <= body.length; ) {
    const len = body.readUInt32BE(off + 1);
    out.push(body.subarray(off + 5, off + 5 + len));
    off += 5 + len;
  }
  return out;
}

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => void;

const servers: { close(): Promise<void> }[] = [];
const channels: H2Channel[] = [];
afterEach(async () => {
  for (const c of channels.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(
  handler: Handler,
  streaming?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): Promise<{ target: string; sessions: http2.ServerHttp2Session[]; sockets: net.Socket[] }> {
  const sessions: http2.ServerHttp2Session[] = [];
  const sockets: net.Socket[] = [];
  const server = http2.createServer();
  server.on('connection', (sock: net.Socket) => sockets.push(sock));
  server.on('session', (s) => sessions.push(s));
  server.on('stream', (stream, headers) => {
    if (streaming) return streaming(stream, headers);
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => handler(stream, headers, Buffer.concat(parts)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  servers.push({
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  });
  return { target: `127.0.0.1:${port}`, sessions, sockets };
}

function ok(stream: http2.ServerHttp2Stream, payload: Buffer): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(frame(payload));
}

function channel(target: string, opts: ConstructorParameters<typeof H2Channel>[1] = {}): H2Channel {
  const c = new H2Channel(target, opts);
  channels.push(c);
  return c;
}

function unary(c: H2Channel, path: string, body: Buffer, deadline?: number, md: MetadataLike = metadata()): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest<Buffer, Buffer>(path, (b) => b, (b) => b, body, md, { deadline }, (err, v) => (err ? reject(err) : resolve(v!)));
  });
}

describe('h2 channel - against Node http2 as the server', () => {
  it('makes a client-streaming call: several messages up, one response down', async () => {
    const { target } = await serve((stream, _h, body) => ok(stream, Buffer.from(messages(body).map((m) => m.toString()).join('+'))));
    const c = channel(target);
    const r = await new Promise<Buffer>((resolve, reject) => {
      const s = c.makeClientStreamRequest<Buffer, Buffer>('/svc/Up', (b) => b, (b) => b, metadata(), {}, (err, v) => (err ? reject(err) : resolve(v!)));
      for (const w of ['a', 'b', 'c']) s.write(Buffer.from(w));
      s.end();
    });
    expect(r.toString()).toBe('a+b+c');
  });

  it('makes unary calls with the gRPC headers and metadata, concurrently on one connection', async () => {
    const seen: http2.IncomingHttpHeaders[] = [];
    const { target, sessions } = await serve((stream, headers, body) => {
      seen.push(headers);
      ok(stream, Buffer.concat([Buffer.from('echo:'), messages(body)[0]!]));
    });
    const c = channel(target);
    const md = metadata({ token: 'abc' });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => unary(c, '/svc/M', Buffer.from(`r${i}`), Date.now() + 5000, md)));
    expect(results.map((r) => r.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `echo:r${i}`));
    expect(sessions.length).toBe(1);
    const h = seen[0]!;
    expect([h[':method'], h[':path'], h['content-type'], h['te'], h['token']]).toEqual(['POST', '/svc/M', 'application/grpc', 'trailers', 'abc']);
    expect(h['grpc-timeout']).toMatch(/^\d{1,8}m$/);
  });

  it('maps trailers-only errors, percent-encoded messages and HTTP errors to gRPC errors', async () => {
    const { target } = await serve((stream, headers) => {
      if (headers[':path'] === '/svc/Fail') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '9', 'grpc-message': 'etcdserver: 100%25 wrong' }, { endStream: true });
      } else {
        stream.respond({ ':status': 503 }, { endStream: true });
      }
    });
    const c = channel(target);
    const e1 = await unary(c, '/svc/Fail', Buffer.from('x')).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(RpcError);
    expect([(e1 as RpcError).code, (e1 as RpcError).details]).toEqual([GrpcCode.FAILED_PRECONDITION, 'etcdserver: 100% wrong']);
    const e2 = (await unary(c, '/svc/Http', Buffer.from('x')).catch((e: unknown) => e)) as RpcError;
    expect(e2.code).toBe(GrpcCode.UNAVAILABLE);
  });

  it('sends a request body far larger than the server windows (waits for WINDOW_UPDATEs)', async () => {
    const { target } = await serve((stream, _h, body) => ok(stream, Buffer.from(String(messages(body)[0]!.length))));
    const c = channel(target);
    const big = Buffer.alloc(3 << 20, 7);
    expect((await unary(c, '/svc/Big', big)).toString()).toBe(String(3 << 20));
  });

  it('receives a response larger than its windows', async () => {
    const { target } = await serve((stream) => ok(stream, Buffer.alloc(20 << 20, 9)));
    const c = channel(target);
    const r = await unary(c, '/svc/Big', Buffer.from('x'));
    expect(r.length).toBe(20 << 20);
  });

  it('fails a call past its deadline with DEADLINE_EXCEEDED and resets the stream', async () => {
    let reset = false;
    const { target } = await serve(() => undefined, (stream) => {
      stream.on('close', () => (reset = stream.rstCode === http2.constants.NGHTTP2_CANCEL));
      stream.on('data', () => undefined);
    });
    const c = channel(target);
    const e = (await unary(c, '/svc/Slow', Buffer.from('x'), Date.now() + 200).catch((err: unknown) => err)) as RpcError;
    expect(e.code).toBe(GrpcCode.DEADLINE_EXCEEDED);
    await expect.poll(() => reset).toBe(true);
  });

  it('streams both ways: server messages arrive as data events, the client half-closes, status ends it', async () => {
    const { target } = await serve(() => undefined, (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('data', (c: Buffer) => {
        for (const m of messages(c)) stream.write(frame(Buffer.concat([Buffer.from('got:'), m])));
      });
      stream.on('end', () => {
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end();
      });
    });
    const c = channel(target);
    const s = c.makeBidiStreamRequest<Buffer, Buffer>('/svc/Bidi', (b) => b, (b) => b, metadata());
    const got: string[] = [];
    const status = new Promise<number>((r) => s.on('status', (st: { code: number }) => r(st.code)));
    s.on('data', (b: Buffer) => {
      got.push(b.toString());
      if (got.length === 3) s.end();
    });
    for (const w of ['a', 'b', 'c']) s.write(Buffer.from(w));
    expect(await status).toBe(GrpcCode.OK);
    expect(got).toEqual(['got:a', 'got:b', 'got:c']);
  });

  it('fails open calls as UNAVAILABLE when the connection drops, then reconnects for the next call', async () => {
    const { target, sessions, sockets } = await serve((stream, headers) => {
      if (headers[':path'] === '/svc/Hang') return;
      ok(stream, Buffer.from('fine'));
    });
    const c = channel(target);
    expect((await unary(c, '/svc/Ok', Buffer.from('x'))).toString()).toBe('fine');
    const hanging = unary(c, '/svc/Hang', Buffer.from('x')).catch((e: unknown) => e);
    await expect.poll(() => sessions.length).toBe(1);
    // An abrupt end (no GOAWAY, which would tell which streams the server never took).
    sockets[0]!.destroy();
    const e = (await hanging) as RpcError;
    expect(e.code).toBe(GrpcCode.UNAVAILABLE);
    expect(e.details.startsWith('No connection established'), e.details).toBe(false); // it had been sent
    expect((await unary(c, '/svc/Ok', Buffer.from('x'))).toString()).toBe('fine');
    expect(sessions.length).toBe(2);
  });

  it('reports a call to an endpoint that never answers as not sent', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    const c = channel(`127.0.0.1:${port}`);
    const e = (await unary(c, '/svc/M', Buffer.from('x'), Date.now() + 300).catch((err: unknown) => err)) as RpcError;
    expect(e.code).toBe(GrpcCode.UNAVAILABLE);
    expect(e.details.startsWith('No connection established')).toBe(true);
    expect(c.getChannel().getConnectivityState(false)).not.toBe(ConnectivityState.READY);
  });

  it('declares a connection dead when keepalive pings go unanswered', async () => {
    // A TCP server that accepts and then says nothing: no SETTINGS, no PING ACK.
    const sockets: net.Socket[] = [];
    const s = net.createServer((sock) => {
      sockets.push(sock);
      sock.on('data', () => undefined);
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push({ close: () => new Promise<void>((r) => { for (const x of sockets) x.destroy(); s.close(() => r()); }) });
    const c = channel(`127.0.0.1:${(s.address() as net.AddressInfo).port}`, { keepaliveTimeMs: 100, keepaliveTimeoutMs: 100 });
    const t0 = Date.now();
    const e = (await unary(c, '/svc/M', Buffer.from('x')).catch((err: unknown) => err)) as RpcError;
    expect(e.code).toBe(GrpcCode.UNAVAILABLE);
    expect(e.details).toMatch(/keepalive/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('fails calls the server refused with GOAWAY as not sent', async () => {
    const { target, sessions } = await serve((stream) => ok(stream, Buffer.from('fine')));
    const c = channel(target);
    await unary(c, '/svc/Ok', Buffer.from('x'));
    // GOAWAY with last stream id 1: the next stream (3) is not taken.
    sessions[0]!.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
    await expect.poll(() => c.getChannel().getConnectivityState(false) !== ConnectivityState.READY).toBe(true);
    expect((await unary(c, '/svc/Ok', Buffer.from('x'))).toString()).toBe('fine');
    expect(sessions.length).toBe(2);
  });
});
