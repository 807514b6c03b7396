import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CLIENT_PREFACE, H2Connection, type H2Stream } from './connection.js';
import { hpack } from '@latchkey/proto';

const { encodeIndexed, encodeLiteral } = hpack;

/**
 * The HTTP/2 engine against a real, independent peer: Node's own HTTP/2 client (nghttp2). A tiny server reads
 * each connection's preface and hands the socket to H2Connection; per-test handlers play the application.
 */

const OK_HEADERS = Buffer.concat([encodeIndexed(':status', '200'), encodeLiteral('content-type', 'application/octet-stream')]);
const TRAILERS = encodeLiteral('x-done', 'yes');

interface Harness {
  url: string;
  closes: boolean[];
  errors: Error[];
  connections: H2Connection[];
  stop(): Promise<void>;
}

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.stop()));
});

async function serve(onStream: (s: H2Stream) => void, maxQueued?: number, maxStreams?: number): Promise<Harness> {
  const closes: boolean[] = [];
  const errors: Error[] = [];
  const connections: H2Connection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < CLIENT_PREFACE.length) return;
      socket.off('data', onData);
      connections.push(
        new H2Connection(
          socket,
          head,
          (s) => {
            onStream(s);
            const l = s.listener!;
            const onClose = l.onClose;
            l.onClose = (reset) => {
              closes.push(reset);
              onClose(reset);
            };
          },
          (e) => errors.push(e),
          maxQueued,
          maxStreams,
        ),
      );
    };
    socket.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const h: Harness = {
    url: `http://127.0.0.1:${port}`,
    closes,
    errors,
    connections,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  open.push(h);
  return h;
}

/** Echo: answers the request body back, followed by `x-extra` octets of 'z', then trailers. */
function echo(s: H2Stream): void {
  const chunks: Buffer[] = [];
  s.listener = {
    onData: (c) => chunks.push(Buffer.from(c)),
    onEnd: () => {
      s.respond(OK_HEADERS);
      s.write(Buffer.concat(chunks));
      const extra = Number(s.headers['x-extra'] ?? 0);
      if (extra > 0) s.write(Buffer.alloc(extra, 'z'));
      s.end(TRAILERS, 0);
    },
    onClose: () => undefined,
  };
}

function request(client: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<{ status: number; body: Buffer; trailers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ':method': 'POST', ':path': '/echo', ...headers });
    const parts: Buffer[] = [];
    let status = 0;
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('trailers', (t) => (trailers = t));
    req.on('end', () => resolve({ status, body: Buffer.concat(parts), trailers }));
    req.on('error', reject);
    req.end(body);
  });
}

describe('h2 engine - against Node http2 as the client', () => {
  it('serves many concurrent requests on one connection', async () => {
    const h = await serve(echo);
    const client = http2.connect(h.url);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => request(client, {}, Buffer.from(`request ${i}`))));
    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(`request ${i}`);
      expect(r.trailers['x-done']).toBe('yes');
    });
    expect(h.closes.filter((reset) => !reset)).toHaveLength(200);
    client.close();
  });

  it('respects the client flow-control window for a response far larger than it', async () => {
    const h = await serve(echo);
    // A 16 KiB stream window and a 3 MiB response: the engine must wait for WINDOW_UPDATEs, frame by frame.
    const client = http2.connect(h.url, { settings: { initialWindowSize: 16384 } });
    const r = await request(client, { 'x-extra': String(3 << 20) }, Buffer.from('head:'));
    expect(r.body.length).toBe(5 + (3 << 20));
    expect(r.body.subarray(0, 5).toString()).toBe('head:');
    expect(r.body.subarray(5).every((b) => b === 0x7a)).toBe(true);
    client.close();
  });

  it('receives a request body larger than its own windows (sends WINDOW_UPDATEs)', async () => {
    const h = await serve(echo);
    const client = http2.connect(h.url);
    const body = Buffer.alloc(40 << 20);
    for (let i = 0; i < body.length; i += 4096) body[i] = i % 251;
    const r = await request(client, {}, body);
    expect(r.body.equals(body)).toBe(true);
    client.close();
  });

  it('decodes large header blocks split into CONTINUATION frames', async () => {
    let seen = '';
    const h = await serve((s) => {
      seen = String(s.headers['x-big']);
      echo(s);
    });
    const client = http2.connect(h.url, { maxHeaderListPairs: 4, settings: {} });
    const big = 'b'.repeat(60_000);
    const r = await request(client, { 'x-big': big }, Buffer.from('ok'));
    expect(r.status).toBe(200);
    expect(seen).toBe(big);
    client.close();
  });

  it('tells the application when the client resets a stream', async () => {
    let resolveOpened!: () => void;
    const opened = new Promise<void>((r) => (resolveOpened = r));
    let closedWith: boolean | undefined;
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    const h = await serve((s) => {
      s.listener = {
        onData: () => undefined,
        onEnd: () => undefined,
        onClose: (reset) => {
          closedWith = reset;
          resolveClosed();
        },
      };
      resolveOpened();
    });
    const client = http2.connect(h.url);
    const req = client.request({ ':method': 'POST', ':path': '/hang' });
    req.on('error', () => undefined);
    await opened;
    req.close(http2.constants.NGHTTP2_CANCEL);
    await closed;
    expect(closedWith).toBe(true);
    client.close();
  });

  it('advertises its stream limit, which the client then respects', async () => {
    // The handler answers streams in pairs, so with 4 requests a client that ignored the limit would have all 4
    // open at once; one that respects it never has more than 2.
    const held: H2Stream[] = [];
    let open = 0;
    let peak = 0;
    const h = await serve(
      (s) => {
        open++;
        peak = Math.max(peak, open);
        const chunks: Buffer[] = [];
        s.listener = {
          onData: (c) => chunks.push(Buffer.from(c)),
          onEnd: () => {
            held.push(s);
            if (held.length === 2) for (const x of held.splice(0)) {
              x.respond(OK_HEADERS);
              x.end(TRAILERS, 0);
            }
          },
          onClose: () => {
            open--;
          },
        };
      },
      undefined,
      2,
    );
    const client = http2.connect(h.url);
    await new Promise<void>((r) => client.once('remoteSettings', () => r()));
    expect(client.remoteSettings.maxConcurrentStreams).toBe(2);
    const results = await Promise.all(Array.from({ length: 4 }, () => request(client, {}, Buffer.from('x'))));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(peak).toBe(2);
    client.close();
  });

  it('answers PINGs and acknowledges SETTINGS', async () => {
    const h = await serve(echo);
    const client = http2.connect(h.url);
    // Node's client cancels pings sent before the server's SETTINGS arrived.
    await new Promise<void>((r) => client.once('remoteSettings', () => r()));
    const rtt = await new Promise<number>((resolve, reject) => client.ping(Buffer.from('12345678'), (err, d) => (err ? reject(err) : resolve(d))));
    expect(rtt).toBeGreaterThanOrEqual(0);
    await new Promise<void>((resolve) => client.settings({ initialWindowSize: 1 << 20 }, () => resolve()));
    const r = await request(client, {}, Buffer.from('after settings'));
    expect(r.body.toString()).toBe('after settings');
    client.close();
  });

  it('closes a connection whose client never reads once too much output is queued', async () => {
    const h = await serve(echo, 1 << 20);
    // A zero stream window: nothing can be sent, so every response byte stays queued.
    const client = http2.connect(h.url, { settings: { initialWindowSize: 0 } });
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    client.on('error', () => undefined);
    for (let i = 0; i < 4; i++) {
      const req = client.request({ ':method': 'POST', ':path': '/echo', 'x-extra': String(400_000) });
      req.on('error', () => undefined);
      req.end(Buffer.from('x'));
    }
    await closed;
    expect(h.errors.map((e) => e.message.split(' ')[0])).toEqual(['h2:']);
    expect(h.errors[0]!.message).toMatch(/queued for a client that does not read/);
  });

  it('ends the connection with GOAWAY on a protocol violation', async () => {
    const h = await serve(echo);
    const socket = net.connect(Number(new URL(h.url).port), '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (c) => received.push(c));
    await new Promise<void>((r) => socket.once('connect', () => r()));
    // Preface, then a DATA frame on stream 0 (a connection error).
    socket.write(Buffer.concat([CLIENT_PREFACE, Buffer.from([0, 0, 1, 0, 0, 0, 0, 0, 0, 0x61])]));
    await new Promise<void>((r) => socket.once('close', () => r()));
    const all = Buffer.concat(received);
    // Somewhere in what the server sent: a GOAWAY (type 7) frame with PROTOCOL_ERROR (1).
    let off = 0;
    let goaway: number | undefined;
    while (off + 9 <= all.length) {
      const len = all.readUIntBE(off, 3);
      if (all[off + 3] === 7) goaway = all.readUInt32BE(off + 9 + 4);
      off += 9 + len;
    }
    expect(goaway).toBe(1);
    expect(h.errors.length).toBe(1);
  });

  it('refuses a bad preface', async () => {
    const h = await serve(echo);
    const socket = net.connect(Number(new URL(h.url).port), '127.0.0.1');
    socket.on('data', () => undefined);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'));
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(h.errors.map((e) => e.message)).toEqual(['h2: bad connection preface']);
  });
});
