/**
 * Watch fan-out benchmark: N watchers on one prefix (spread over S gRPC streams on C connections), a writer
 * putting keys under the prefix as fast as W concurrent puts allow, for D seconds. Reports puts/s and events/s
 * delivered to all watchers, and the delay from a put's acknowledgement to the last watcher seeing it.
 *
 *   node test/dist/bench/watch-fanout.js --endpoint 127.0.0.1:2379 [--watchers 1000] [--streams 100]
 *        [--conns 10] [--writers 4] [--secs 5]
 *
 * Works against any etcd v3 endpoint (latchkey or etcd), so both can be measured in one run.
 */
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { KVService, WatchService, type Init, type WatchRequest, type WatchResponse, type PutRequest, type PutResponse } from '@latchkey/proto';

const { values } = parseArgs({
  options: {
    endpoint: { type: 'string', default: '127.0.0.1:2379' },
    watchers: { type: 'string', default: '1000' },
    streams: { type: 'string', default: '100' },
    conns: { type: 'string', default: '10' },
    writers: { type: 'string', default: '4' },
    secs: { type: 'string', default: '5' },
    prefix: { type: 'string', default: `/fanout-${Date.now()}/` },
  },
});
const N = Number(values.watchers);
const S = Number(values.streams);
const C = Number(values.conns);
const W = Number(values.writers);
const secs = Number(values.secs);
const prefix = Buffer.from(values.prefix!);
const prefixEnd = Buffer.from(prefix);
prefixEnd[prefixEnd.length - 1]! += 1;

const clients = Array.from({ length: C }, () => new grpc.Client(values.endpoint!, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 }));
// Writers get their own connection so their replies never queue behind watch traffic.
const writerClient = new grpc.Client(values.endpoint!, grpc.credentials.createInsecure());

let events = 0;
const ackTime = new Map<bigint, number>(); // mod revision -> time the put was acknowledged
const seenBy = new Map<bigint, number>(); // mod revision -> watchers that saw it
const lastSeen = new Map<bigint, number>();

async function openWatchers(): Promise<grpc.ClientDuplexStream<Init<WatchRequest>, WatchResponse>[]> {
  const streams: grpc.ClientDuplexStream<Init<WatchRequest>, WatchResponse>[] = [];
  let created = 0;
  await new Promise<void>((resolve) => {
    for (let s = 0; s < S; s++) {
      const m = WatchService.Watch;
      const call = clients[s % C]!.makeBidiStreamRequest<Init<WatchRequest>, WatchResponse>(m.path, (v) => m.requestType.encode(v), (b) => m.responseType.decode(b));
      call.on('data', (r: WatchResponse) => {
        if (r.created) {
          if (++created === N) resolve();
          return;
        }
        const now = performance.now();
        for (const e of r.events) {
          events++;
          const rev = e.kv!.modRevision;
          seenBy.set(rev, (seenBy.get(rev) ?? 0) + 1);
          lastSeen.set(rev, now);
        }
      });
      call.on('error', () => undefined);
      streams.push(call);
    }
    for (let i = 0; i < N; i++) streams[i % S]!.write({ createRequest: { key: prefix, rangeEnd: prefixEnd } });
  });
  return streams;
}

function put(client: grpc.Client, key: Buffer): Promise<PutResponse> {
  const m = KVService.Put;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest<Init<PutRequest>, PutResponse>(m.path, (v) => m.requestType.encode(v), (b) => m.responseType.decode(b), { key, value: Buffer.alloc(64, 1) }, (err, res) =>
      err || !res ? reject(err) : resolve(res),
    ),
  );
}

const streams = await openWatchers();
let puts = 0;
const t0 = performance.now();
const end = t0 + secs * 1000;
await Promise.all(
  Array.from({ length: W }, async (_, w) => {
    for (let i = 0; performance.now() < end; i++) {
      const r = await put(writerClient, Buffer.concat([prefix, Buffer.from(`${w}-${i}`)]));
      ackTime.set(r.header!.revision, performance.now());
      puts++;
    }
  }),
);
// Let the last events arrive (bounded).
const expected = puts * N;
const deadline = performance.now() + 10_000;
while (events < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
const elapsed = (Math.max(...lastSeen.values()) - t0) / 1000;
const delays = [...ackTime].filter(([rev]) => seenBy.get(rev) === N).map(([rev, t]) => lastSeen.get(rev)! - t).sort((a, b) => a - b);
const pct = (p: number) => (delays.length ? delays[Math.min(delays.length - 1, Math.floor(p * delays.length))]!.toFixed(1) : 'n/a');
console.log(
  JSON.stringify({
    endpoint: values.endpoint,
    watchers: N,
    streams: S,
    puts,
    putsPerSec: Math.round(puts / secs),
    events,
    expectedEvents: expected,
    eventsPerSec: Math.round(events / elapsed),
    fanoutDelayMsP50: pct(0.5),
    fanoutDelayMsP99: pct(0.99),
  }),
);
for (const s of streams) s.cancel();
for (const c of clients) c.close();
writerClient.close();
process.exit(events === expected ? 0 : 1);
