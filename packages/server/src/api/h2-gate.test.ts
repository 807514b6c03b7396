import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { KVService, RangeRequest, RangeResponse } from '@latchkey/proto';
import { GrpcServer } from './grpc/h2-server.js';
import { ClientListener } from './listener.js';
import { fixAuthority } from './h2-gate.js';

const hpack = createRequire(import.meta.url)('hpack.js') as {
  compressor: { create(o: object): { write(h: object[]): void; read(): Buffer | null } };
  decompressor: { create(o: object): { write(b: Buffer): void; execute(): void; read(): { name: string; value: string } | null } };
};
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(): Promise<number> {
  const grpc = new GrpcServer({ maxReceiveBytes: 1 << 20, log: silent });
  grpc.addService(KVService, {
    Range: async (req) => ({ header: { revision: 7n }, kvs: [{ key: req.key, value: Buffer.from('v') }], count: 1n }),
    Put: async () => ({}),
    DeleteRange: async () => ({}),
    Txn: async () => ({}),
    Compact: async () => ({}),
  });
  const l = new ClientListener(grpc, (_req, res) => res.end('http'));
  await l.listen(0, '127.0.0.1');
  cleanups.push(async () => {
    grpc.close();
    await l.close();
  });
  return l.address().port;
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** Speaks raw HTTP/2 the way grpc-go does: preface + SETTINGS, wait for the server's SETTINGS, then the call. */
async function rawCall(port: number, authority: string): Promise<{ status: string; grpcStatus: string | undefined; body: Buffer }> {
  const sock: Socket = connect(port, '127.0.0.1');
  cleanups.push(() => void sock.destroy());
  const comp = hpack.compressor.create({ table: { size: 4096 } });
  const decomp = hpack.decompressor.create({ table: { size: 4096 } });
  let buf = Buffer.alloc(0);
  const headers: Record<string, string> = {};
  const data: Buffer[] = [];
  let sentCall = false;
  return new Promise((resolve, reject) => {
    sock.on('error', reject);
    sock.on('connect', () => sock.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))])));
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3);
        const type = buf[3]!;
        const flags = buf[4]!;
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === 4 && !(flags & 1)) {
          sock.write(frame(4, 1, 0, Buffer.alloc(0))); // ACK every server SETTINGS
          if (!sentCall) {
            sentCall = true;
            comp.write([
              { name: ':method', value: 'POST' },
              { name: ':scheme', value: 'http' },
              { name: ':path', value: KVService.Range.path },
              { name: ':authority', value: authority },
              { name: 'content-type', value: 'application/grpc' },
              { name: 'te', value: 'trailers' },
            ]);
            const block = comp.read()!;
            const msg = RangeRequest.encode({ key: Buffer.from('k') });
            const grpcFrame = Buffer.concat([Buffer.from([0]), Buffer.alloc(4), msg]);
            grpcFrame.writeUInt32BE(msg.length, 1);
            sock.write(Buffer.concat([frame(1, 4, 1, block), frame(0, 1, 1, grpcFrame)]));
          }
        } else if (type === 1) {
          decomp.write(payload);
          decomp.execute();
          for (let h = decomp.read(); h; h = decomp.read()) headers[h.name] = h.value;
          if (flags & 1) resolve({ status: headers[':status']!, grpcStatus: headers['grpc-status'], body: Buffer.concat(data) });
        } else if (type === 0) {
          data.push(payload);
        } else if (type === 3) {
          resolve({ status: `rst ${payload.readUInt32BE(0)}`, grpcStatus: undefined, body: Buffer.alloc(0) });
        }
      }
    });
  });
}

describe('h2 gate - :authority sent as a URL', () => {
  it('fixes URL-shaped authorities to host:port and leaves good ones alone', () => {
    expect(fixAuthority('http://127.0.0.1:2379')).toBe('127.0.0.1:2379');
    expect(fixAuthority('https://[::1]:2379/x')).toBe('[::1]:2379');
    expect(fixAuthority('127.0.0.1:2379')).toBe('127.0.0.1:2379');
  });

  it('serves a call whose :authority is "http://host:port" (grpc-go maintenance clients)', async () => {
    const port = await server();
    const r = await rawCall(port, `http://127.0.0.1:${port}`);
    expect([r.status, r.grpcStatus]).toEqual(['200', '0']);
    expect(RangeResponse.decode(r.body.subarray(5)).header?.revision).toBe(7n);
  });

  it('without the gate Node would reject that call (control)', async () => {
    const h2 = http2.createServer();
    h2.on('stream', (s) => s.respond({ ':status': 200 }, { endStream: true }));
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => h2.close(() => r())));
    const port = (h2.address() as { port: number }).port;
    const r = await rawCall(port, `http://127.0.0.1:${port}`);
    expect(r.status).toBe('rst 1'); // PROTOCOL_ERROR
  });

  it('keeps the fast path for well-formed authorities (a Node HTTP/2 client)', async () => {
    const port = await server();
    const r = await rawCall(port, `127.0.0.1:${port}`);
    expect([r.status, r.grpcStatus]).toEqual(['200', '0']);
  });
});
