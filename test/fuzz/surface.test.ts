/**
 * Fuzzing the client surfaces of a real latchkey process: gRPC (every method of every service, with random,
 * mutated and malformed messages and framing) and the HTTP/JSON gateway (random and mutated JSON bodies, bad
 * base64, wrong types, wrong methods and paths). For a bounded time (FUZZ_SECONDS, default 15 s in CI) and a
 * fixed seed (FUZZ_SEED) it checks that:
 *   - every request is answered with a status (a gRPC status or an HTTP status), never left hanging;
 *   - the process never dies;
 *   - nothing is corrupted: after the run, the member is SIGKILLed and restarted, and the whole keyspace at the
 *     last revision, and its HashKV, are the same as before the kill.
 */
import http2 from 'node:http2';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AuthService,
  ClusterService,
  ElectionService,
  HashKVRequest,
  HashKVResponse,
  KVService,
  LeaseService,
  LockService,
  MaintenanceService,
  RangeRequest,
  RangeResponse,
  WatchService,
  type MethodDesc,
  type ServiceDesc,
} from '@latchkey/proto';
import { Member } from '../harness/processes.js';

const SECONDS = Number(process.env['FUZZ_SECONDS'] ?? 15);
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261124);

/** xorshift32: small, seeded, reproducible. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const rnd = prng(SEED);
const int = (n: number): number => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));

const SERVICES: ServiceDesc[] = [KVService, WatchService, LeaseService, ClusterService, MaintenanceService, AuthService, LockService, ElectionService];
const METHODS: MethodDesc[] = SERVICES.flatMap((s) => Object.values(s));

/** Plausible valid requests to mutate, by method path. */
const VALID: Record<string, Buffer> = {
  [KVService.Range.path]: KVService.Range.requestType.encode({ key: Buffer.from('fuzz/a'), rangeEnd: Buffer.from('fuzz/z'), limit: 5n }),
  [KVService.Put.path]: KVService.Put.requestType.encode({ key: Buffer.from('fuzz/k'), value: Buffer.from('v') }),
  [KVService.DeleteRange.path]: KVService.DeleteRange.requestType.encode({ key: Buffer.from('fuzz/k') }),
  [KVService.Txn.path]: KVService.Txn.requestType.encode({
    compare: [{ key: Buffer.from('fuzz/k'), target: 1, createRevision: 0n }],
    success: [{ requestPut: { key: Buffer.from('fuzz/t'), value: Buffer.from('x') } }],
    failure: [{ requestRange: { key: Buffer.from('fuzz/t') } }],
  }),
  [KVService.Compact.path]: KVService.Compact.requestType.encode({ revision: 1n }),
  [WatchService.Watch.path]: WatchService.Watch.requestType.encode({ createRequest: { key: Buffer.from('fuzz/'), rangeEnd: Buffer.from('fuzz0'), startRevision: 1n } }),
  [LeaseService.LeaseGrant.path]: LeaseService.LeaseGrant.requestType.encode({ TTL: 5n }),
  [LeaseService.LeaseKeepAlive.path]: LeaseService.LeaseKeepAlive.requestType.encode({ ID: 12345n }),
};

function mutate(b: Buffer): Buffer {
  const out = Buffer.from(b);
  switch (int(5)) {
    case 0: // flip bits
      for (let i = 0; i < 1 + int(4) && out.length > 0; i++) out[int(out.length)]! ^= 1 << int(8);
      return out;
    case 1: // truncate
      return out.subarray(0, int(out.length + 1));
    case 2: // append garbage
      return Buffer.concat([out, bytes(1 + int(20))]);
    case 3: // splice random bytes in the middle
      return Buffer.concat([out.subarray(0, int(out.length + 1)), bytes(int(8)), out.subarray(int(out.length + 1))]);
    default: // an unknown high field with a huge length prefix
      return Buffer.concat([out, Buffer.from([0xfa, 0xff, 0xff, 0xff, 0x0f])]);
  }
}

function grpcBody(path: string): Buffer {
  const msg = VALID[path] && rnd() < 0.7 ? mutate(VALID[path]!) : bytes(int(64));
  const frame = Buffer.alloc(5);
  switch (int(10)) {
    case 0: // compressed flag without a compressor
      frame[0] = 1;
      frame.writeUInt32BE(msg.length, 1);
      return Buffer.concat([frame, msg]);
    case 1: // declared length longer than the body
      frame.writeUInt32BE(msg.length + 1 + int(1000), 1);
      return Buffer.concat([frame, msg]);
    case 2: // a length above the receive limit
      frame.writeUInt32BE(0x7fffffff, 1);
      return frame;
    case 3: // no message at all
      return Buffer.alloc(0);
    case 4: // two messages
      frame.writeUInt32BE(msg.length, 1);
      return Buffer.concat([frame, msg, frame, msg]);
    default:
      frame.writeUInt32BE(msg.length, 1);
      return Buffer.concat([frame, msg]);
  }
}

const GATEWAY_PATHS = [
  '/v3/kv/range',
  '/v3/kv/put',
  '/v3/kv/deleterange',
  '/v3/kv/txn',
  '/v3/kv/compaction',
  '/v3/lease/grant',
  '/v3/lease/revoke',
  '/v3/lease/timetolive',
  '/v3/lease/leases',
  '/v3/maintenance/status',
  '/v3/maintenance/alarm',
  '/v3/cluster/member/list',
  '/v3/auth/status',
  '/v3/auth/user/get',
  '/v3beta/kv/range',
  '/v3/nosuch',
  '/',
];
const JSON_VALUES: unknown[] = ['Zm9v', 'not base64!', '', 0, -1, '18446744073709551616', '1.5', 1e300, true, null, [], {}, 'Zm9', { nested: [1, 2] }];
const FIELDS = ['key', 'range_end', 'rangeEnd', 'value', 'limit', 'revision', 'lease', 'ID', 'TTL', 'keys', 'prev_kv', 'compare', 'success', 'failure', 'sort_order', 'physical', 'name'];

function gatewayBody(): string {
  switch (int(6)) {
    case 0:
      return bytes(int(40)).toString('latin1');
    case 1:
      return '{"key":';
    case 2:
      return JSON.stringify(pick(JSON_VALUES));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < 1 + int(4); i++) o[pick(FIELDS)] = rnd() < 0.3 ? [{ request_put: { key: pick(JSON_VALUES) } }] : pick(JSON_VALUES);
      if (rnd() < 0.5) o['key'] = 'ZnV6ei9r';
      return JSON.stringify(o);
    }
  }
}

/** One gRPC call with a raw body; resolves with the grpc-status (or 'http <n>' or 'open' for a live stream). */
function grpcCall(session: http2.ClientHttp2Session, path: string, body: Buffer, contentType = 'application/grpc'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': contentType, te: 'trailers' });
    let status: string | undefined;
    // A bidirectional stream (Watch, LeaseKeepAlive) legitimately stays open, silent, while it has nothing to
    // say, and so do the calls that wait by design (Lock and Campaign until their turn, Observe until there is a
    // leader): after half a second that counts as an answer. Every other call must end with a status.
    const bidi = path.endsWith('/Watch') || path.endsWith('/LeaseKeepAlive') || BLOCKING.some((m) => m.path === path);
    const timer = setTimeout(
      () => {
        req.close();
        if (status !== undefined) resolve(status);
        else if (bidi) resolve('open');
        else reject(new Error(`no answer within 5 s on ${path}`));
      },
      bidi ? 500 : 5000,
    );
    req.on('response', (h) => {
      status = h['grpc-status'] !== undefined ? String(h['grpc-status']) : `http ${h[':status']}`;
      if (path.endsWith('/Watch') || path.endsWith('/LeaseKeepAlive') || path.endsWith('/Observe') || path.endsWith('/Snapshot')) {
        setTimeout(() => req.close(), 50);
      }
    });
    req.on('trailers', (t) => {
      if (t['grpc-status'] !== undefined) status = String(t['grpc-status']);
    });
    req.on('data', () => undefined);
    req.on('close', () => {
      clearTimeout(timer);
      if (status !== undefined) resolve(status);
      else if (bidi) resolve('open');
      else reject(new Error(`stream closed without an answer on ${path} (rst ${req.rstCode})`));
    });
    req.on('error', () => undefined);
    req.end(body);
  });
}

/** Calls that wait by design (etcd's too) and may stay silent: Lock, Campaign, Observe. */
const BLOCKING: readonly MethodDesc[] = [LockService.Lock, ElectionService.Campaign, ElectionService.Observe];
const BLOCKING_ROUTES = ['/v3/lock/lock', '/v3/election/campaign', '/v3/election/observe'];

async function gatewayCall(base: string, path: string, method: string, body: string): Promise<number | 'open'> {
  const ac = new AbortController();
  const blocking = method === 'POST' && BLOCKING_ROUTES.some((r) => path === r || path === r.replace('/v3/', '/v3beta/'));
  const timer = setTimeout(() => ac.abort(), blocking ? 500 : 5000);
  try {
    const res = await fetch(base + path, method === 'GET' ? { method, signal: ac.signal } : { method, body, signal: ac.signal });
    await res.text();
    return res.status;
  } catch (err) {
    if (blocking && ac.signal.aborted) return 'open';
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

const members: Member[] = [];
afterAll(async () => {
  for (const m of members) await m.dispose();
});

describe('fuzz - client surfaces', () => {
  it(
    'answers every malformed request with a status, never crashes, never corrupts data',
    async () => {
      const m = await Member.start({ kind: 'latchkey' });
      members.push(m);
      const session = http2.connect(`http://${m.endpoint}`);
      session.on('error', () => undefined);
      const base = `http://${m.endpoint}`;
      const counts = new Map<string, number>();
      const count = (k: string): void => void counts.set(k, (counts.get(k) ?? 0) + 1);
      const end = Date.now() + SECONDS * 1000;
      let requests = 0;
      while (Date.now() < end) {
        const batch: Promise<void>[] = [];
        for (let i = 0; i < 16; i++) {
          requests++;
          if (rnd() < 0.65) {
            const path = rnd() < 0.95 ? pick(METHODS).path : `/${bytes(6).toString('hex')}/${pick(['Range', 'X'])}`;
            const ct = rnd() < 0.05 ? 'text/plain' : 'application/grpc';
            batch.push(grpcCall(session, path, grpcBody(path), ct).then((s) => count(`grpc ${s}`)));
          } else {
            const method = rnd() < 0.9 ? 'POST' : pick(['GET', 'PUT', 'DELETE']);
            batch.push(gatewayCall(base, pick(GATEWAY_PATHS), method, gatewayBody()).then((s) => count(`http ${s}`)));
          }
        }
        await Promise.all(batch);
        expect(m.running, `the server died during fuzzing (log: ${m.logPath})`).toBe(true);
      }
      // Nothing corrupted: the keyspace and its hash survive a crash and restart unchanged.
      const snapshot = await grpcUnary(session, KVService.Range, RangeRequest.encode({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) }), RangeResponse.decode);
      const rev = snapshot.header!.revision;
      const hash = await grpcUnary(session, MaintenanceService.HashKV, HashKVRequest.encode({ revision: rev }), HashKVResponse.decode);
      session.close();
      await m.kill('SIGKILL');
      await m.restart();
      const again = http2.connect(`http://${m.endpoint}`);
      again.on('error', () => undefined);
      const after = await grpcUnary(again, KVService.Range, RangeRequest.encode({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), revision: rev }), RangeResponse.decode);
      const hashAfter = await grpcUnary(again, MaintenanceService.HashKV, HashKVRequest.encode({ revision: rev }), HashKVResponse.decode);
      again.close();
      expect(after.kvs).toEqual(snapshot.kvs);
      expect(hashAfter.hash).toBe(hash.hash);
      console.log(`fuzz: seed ${SEED}, ${requests} requests in ${SECONDS} s, answers: ${JSON.stringify(Object.fromEntries([...counts].sort()))}, crashes: 0`);
    },
    (SECONDS + 90) * 1000,
  );
});

function grpcUnary<T>(session: http2.ClientHttp2Session, m: MethodDesc, msg: Buffer, decode: (b: Uint8Array) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    const frame = Buffer.alloc(5);
    frame.writeUInt32BE(msg.length, 1);
    const req = session.request({ ':method': 'POST', ':path': m.path, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    let status = '';
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
    });
    req.on('trailers', (t) => {
      status = String(t['grpc-status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => {
      const body = Buffer.concat(chunks);
      if (status !== '0' || body.length < 5) return reject(new Error(`${m.path}: grpc-status ${status}`));
      resolve(decode(body.subarray(5)));
    });
    req.on('error', reject);
    req.end(Buffer.concat([frame, msg]));
  });
}
