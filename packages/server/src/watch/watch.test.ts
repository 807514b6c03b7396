import { describe, expect, it } from 'vitest';
import { Event_EventType, WatchCreateRequest_FilterType as F, WatchRequest, type Init, type WatchResponse } from '@latchkey/proto';
import { MemoryBackend } from '../backend/memory-backend.js';
import { KVStore } from '../mvcc/store.js';
import { WatchHub } from './hub.js';
import { WatchStream, type WatchSink } from './stream.js';

const b = (s: string) => Buffer.from(s);

function setup() {
  const backend = new MemoryBackend();
  const store = new KVStore(backend, { attach() {}, detach() {} });
  const hub = new WatchHub(store);
  const write = (fn: (t: ReturnType<KVStore['write']>) => void) => {
    const rev = backend.batch(() => {
      const t = store.write();
      fn(t);
      const r = t.end();
      return { r, changes: t.changes };
    });
    if (rev.changes.length > 0) hub.notify([{ rev: rev.r, changes: rev.changes }]);
  };
  const put = (k: string, v: string) => write((t) => t.put(b(k), b(v), 0n));
  const del = (k: string) => write((t) => t.deleteRange(b(k), new Uint8Array(0)));
  const stream = (bound = Infinity) => {
    const out: Init<WatchResponse>[] = [];
    let drain: (() => void) | undefined;
    const sink: WatchSink & { out: typeof out; take(): typeof out; drain(): void } = {
      out,
      send: (r) => void out.push(r),
      sendEvents: (header, watchId, batch) => void out.push({ header, watchId, events: [...batch.events] }),
      get full() {
        return out.length >= bound;
      },
      onDrain: (fn) => {
        drain = fn;
      },
      maxResponseBytes: 100,
      take: () => out.splice(0),
      drain: () => drain?.(),
    };
    const ws = new WatchStream(hub, store, sink, (rev) => ({ clusterId: 1n, memberId: 2n, revision: rev, raftTerm: 1n }), { progressIntervalMs: 1e9 });
    const send = (req: Init<WatchRequest>) => ws.handle(WatchRequest.create(req));
    return { sink, ws, send };
  };
  /** Several puts applied as one committed batch: the hub is told about all their revisions at once. */
  const putBatch = (kvs: [string, string][]) => {
    const revs = kvs.map(([k, v]) =>
      backend.batch(() => {
        const t = store.write();
        t.put(b(k), b(v), 0n);
        const r = t.end();
        return { rev: r, changes: t.changes };
      }),
    );
    hub.notify(revs);
  };
  return { backend, store, hub, put, del, write, stream, putBatch };
}

const tick = () => new Promise((r) => setTimeout(r, 5));
const keysOf = (r: Init<WatchResponse>) => (r.events ?? []).map((e) => Buffer.from(e.kv!.key!).toString());

describe('watch - protocol', () => {
  it('assigns ids 0, 1, 2 and acknowledges creation before any event', () => {
    const { stream } = setup();
    const { sink, send } = stream();
    send({ createRequest: { key: b('a') } });
    send({ createRequest: { key: b('b') } });
    expect(sink.out.map((r) => [r.watchId, r.created])).toEqual([
      [0n, true],
      [1n, true],
    ]);
  });

  it('refuses a duplicate client-chosen id and an empty range with created+canceled and watch_id -1', () => {
    const { stream } = setup();
    const { sink, send } = stream();
    send({ createRequest: { key: b('a'), watchId: 7n } });
    send({ createRequest: { key: b('a'), watchId: 7n } });
    send({ createRequest: { key: b('b'), rangeEnd: b('a') } });
    expect(sink.out.slice(1).map((r) => [r.watchId, r.created, r.canceled, r.cancelReason])).toEqual([
      [-1n, true, true, 'mvcc: duplicate watch ID provided on the WatchStream'],
      [-1n, true, true, 'mvcc: watcher range is empty'],
    ]);
  });

  it('delivers all events of one revision in one response, immediately, with prev_kv and filters', () => {
    const { stream, put, write } = setup();
    put('k1', 'old');
    const { sink, send } = stream();
    send({ createRequest: { key: b('k'), rangeEnd: b('l'), prevKv: true } });
    send({ createRequest: { key: b('k'), rangeEnd: b('l'), filters: [F.NOPUT] } });
    sink.take();
    write((t) => {
      t.put(b('k1'), b('new'), 0n);
      t.put(b('k2'), b('x'), 0n);
      t.deleteRange(b('k1'), new Uint8Array(0));
    });
    const out = sink.take();
    expect(out.length).toBe(2);
    expect(out[0]!.events!.map((e) => e.type)).toEqual([Event_EventType.PUT, Event_EventType.PUT, Event_EventType.DELETE]);
    expect(Buffer.from(out[0]!.events![0]!.prevKv!.value!).toString()).toBe('old');
    expect(out[0]!.events![1]!.prevKv).toBeUndefined(); // a creation has no prev_kv
    expect(out[1]!.events!.map((e) => e.type)).toEqual([Event_EventType.DELETE]);
  });

  it('replays history from start_revision inclusive, then continues live', async () => {
    const { stream, put } = setup();
    put('a', '1'); // 2
    put('a', '2'); // 3
    put('b', '1'); // 4
    const { sink, send } = stream();
    send({ createRequest: { key: b('a'), startRevision: 3n } });
    await tick();
    put('a', '3'); // 5
    const out = sink.take();
    expect(out[0]!.created).toBe(true);
    expect(out.slice(1).map((r) => (r.events ?? []).map((e) => e.kv!.modRevision))).toEqual([[3n], [5n]]);
  });

  it('a start revision ahead of the store (a member that lags) gets no event below it, in one batch or one by one', async () => {
    const { stream, put, putBatch } = setup();
    put('a', '1'); // 2
    const { sink, send } = stream();
    // A client resuming after revision 5 on a member still at revision 2.
    send({ createRequest: { key: b('a'), startRevision: 6n } });
    send({ createRequest: { key: b('a'), startRevision: 4n } });
    send({ progressRequest: {} }); // nothing below their starts is owed: answered at once, as etcd does
    expect(sink.out.filter((r) => r.watchId === -1n)).toMatchObject([{ header: { revision: 2n } }]);
    put('a', '2'); // 3
    putBatch([
      ['a', '3'], // 4
      ['a', '4'], // 5
      ['a', '5'], // 6
    ]);
    await tick();
    put('a', '6'); // 7
    const revsOf = (id: bigint) => sink.out.filter((r) => r.watchId === id && r.events?.length).flatMap((r) => r.events!.map((e) => e.kv!.modRevision));
    expect(revsOf(0n)).toEqual([6n, 7n]);
    expect(revsOf(1n)).toEqual([4n, 5n, 6n, 7n]);
  });

  it('cancels a watcher whose start revision was compacted, with the compaction revision and no reason', async () => {
    const { stream, put, store, backend } = setup();
    put('a', '1');
    put('a', '2');
    backend.batch(() => store.compact(3n));
    const { sink, send } = stream();
    send({ createRequest: { key: b('a'), startRevision: 2n } });
    await tick();
    const last = sink.out.at(-1)!;
    expect([last.canceled, last.compactRevision, last.cancelReason, last.header?.revision]).toEqual([true, 3n, undefined, 0n]);
  });

  it('answers cancel with canceled and says nothing for an unknown id', () => {
    const { stream, put } = setup();
    const { sink, send } = stream();
    send({ createRequest: { key: b('a') } });
    send({ cancelRequest: { watchId: 0n } });
    send({ cancelRequest: { watchId: 42n } });
    put('a', 'after cancel');
    expect(sink.out.map((r) => [r.watchId, !!r.created, !!r.canceled])).toEqual([
      [0n, true, false],
      [0n, false, true],
    ]);
  });

  it('answers a progress request with watch_id -1 and the current revision', () => {
    const { stream, put } = setup();
    put('x', '1');
    const { sink, send } = stream();
    send({ createRequest: { key: b('a') } });
    send({ progressRequest: {} });
    expect(sink.out.at(-1)).toMatchObject({ watchId: -1n, header: { revision: 2n } });
  });

  it('a progress request waiting for a replaying watcher is answered once it caught up, even with nothing to replay', async () => {
    const { stream, put } = setup();
    put('x', '1');
    put('y', '2');
    const { sink, send } = stream();
    send({ createRequest: { key: b('a'), startRevision: 1n } }); // replays revisions 1..3: nothing matches 'a'
    send({ progressRequest: {} });
    expect(sink.out.some((r) => r.watchId === -1n)).toBe(false); // still behind: it may not claim revision 3 yet
    for (let round = 0; round < 100 && !sink.out.some((r) => r.watchId === -1n); round++) await tick();
    expect(sink.out.filter((r) => r.watchId === -1n)).toMatchObject([{ header: { revision: 3n } }]);
  });

  it('a progress request waiting for a watcher is answered when that watcher is canceled', () => {
    const { stream, put } = setup();
    put('x', '1');
    const { sink, send } = stream();
    send({ createRequest: { key: b('x'), startRevision: 1n } });
    send({ progressRequest: {} });
    expect(sink.out.some((r) => r.watchId === -1n)).toBe(false);
    send({ cancelRequest: { watchId: 0n } });
    expect(sink.out.at(-1)).toMatchObject({ watchId: -1n, header: { revision: 2n } });
  });
});

describe('watch - batched notification', () => {
  it('a watcher matching several revisions of one committed batch gets them in one response, in order', () => {
    const { stream, putBatch } = setup();
    const { sink, send } = stream();
    send({ createRequest: { key: b('k'), rangeEnd: b('l') } });
    send({ createRequest: { key: b('k2') } });
    sink.take();
    putBatch([['k1', 'a'], ['x', 'b'], ['k2', 'c'], ['k3', 'd']]); // revisions 2..5
    const out = sink.take();
    expect(out.map((r) => [r.watchId, keysOf(r), r.header?.revision])).toEqual([
      [0n, ['k1', 'k2', 'k3'], 5n],
      [1n, ['k2'], 4n], // the header is the revision of the last change delivered, as without batching
    ]);
  });

  it('a stream that fills in the middle of a batch keeps the rest queued and gets it, once, after draining', async () => {
    const { stream, putBatch, put } = setup();
    const { sink, send } = stream(2);
    send({ createRequest: { key: b('k'), rangeEnd: b('l') } });
    putBatch(Array.from({ length: 600 }, (_, i): [string, string] => [`k${i}`, 'v'])); // more than one response's worth
    const seen = sink.take().flatMap(keysOf);
    expect(seen.length).toBeLessThan(600);
    for (let round = 0; round < 50 && seen.length < 600; round++) {
      sink.drain();
      await tick();
      seen.push(...sink.take().flatMap(keysOf));
    }
    expect(seen).toEqual(Array.from({ length: 600 }, (_, i) => `k${i}`));
    put('k-live', 'v');
    expect(sink.take().flatMap(keysOf)).toEqual(['k-live']);
  });
});

describe('watch - views', () => {
  it('watchers of one range with different options, and a slow one among equals, each get exactly their events', async () => {
    const { stream, putBatch, del, put } = setup();
    const fast = stream();
    const slow = stream(2);
    const noDel = stream();
    fast.send({ createRequest: { key: b('k'), rangeEnd: b('l') } });
    slow.send({ createRequest: { key: b('k'), rangeEnd: b('l') } }); // same view as `fast`, on a stream that fills
    noDel.send({ createRequest: { key: b('k'), rangeEnd: b('l'), filters: [F.NODELETE] } });
    for (const s of [fast, slow, noDel]) s.sink.take();
    const expected: string[] = [];
    for (let round = 0; round < 5; round++) {
      putBatch(Array.from({ length: 10 }, (_, i): [string, string] => [`k${round}-${i}`, 'v']));
      for (let i = 0; i < 10; i++) expected.push(`k${round}-${i}`);
      del(`k${round}-0`);
      expected.push(`k${round}-0`);
    }
    put('k-end', 'v');
    expected.push('k-end');
    const seenSlow = slow.sink.take().flatMap(keysOf);
    for (let round = 0; round < 50 && seenSlow.length < expected.length; round++) {
      slow.sink.drain();
      await tick();
      seenSlow.push(...slow.sink.take().flatMap(keysOf));
    }
    expect(fast.sink.take().flatMap(keysOf)).toEqual(expected);
    expect(seenSlow).toEqual(expected);
    // NODELETE: the deletes of k<round>-0 are not reported.
    const types = noDel.sink.take().flatMap((r) => (r.events ?? []).map((e) => e.type));
    expect(types.length).toBe(51);
    expect(types.every((t) => t === Event_EventType.PUT)).toBe(true);
  });
});

describe('watch - slow consumers', () => {
  it('a full stream never loses or duplicates events: it catches up from history once drained', async () => {
    const { stream, put } = setup();
    const { sink, send } = stream(3);
    send({ createRequest: { key: b('k'), rangeEnd: b('l') } });
    for (let i = 0; i < 20; i++) put(`k${i}`, 'v');
    expect(sink.out.length).toBe(3); // ack + 2 events, then the sink is full
    const seen = sink.take().flatMap(keysOf);
    for (let round = 0; round < 50 && seen.length < 20; round++) {
      sink.drain();
      await tick();
      seen.push(...sink.take().flatMap(keysOf));
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `k${i}`));
  });

  it('a slow consumer gets what it missed from memory once drained, several revisions per response, in order', async () => {
    const { stream, put, hub } = setup();
    const { sink, send } = stream(2);
    send({ createRequest: { key: b('k'), rangeEnd: b('l') } });
    const w = [...(hub as unknown as { synced: Set<unknown> }).synced][0];
    for (let i = 0; i < 30; i++) put(`k${i}`, 'v');
    const first = sink.take();
    expect(first.length).toBe(2); // ack + 1 event, then full
    // Behind: not synced, so no progress notification may claim it has seen the current revision.
    expect(hub.isSynced(w as never)).toBe(false);
    sink.drain();
    await tick();
    const rest = sink.take();
    const seen = [...first, ...rest].flatMap(keysOf);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => `k${i}`));
    expect(rest.length).toBeLessThan(29); // merged: fewer responses than revisions
    expect(hub.isSynced(w as never)).toBe(true);
    put('k-live', 'v');
    expect(sink.take().flatMap(keysOf)).toEqual(['k-live']);
  });

  it('a consumer too far behind for memory falls back to history and still sees every revision once', async () => {
    const { stream, put } = setup();
    const { sink, send } = stream(2);
    send({ createRequest: { key: b('k'), rangeEnd: b('l') } });
    for (let i = 0; i < 4200; i++) put(`k${i % 10}`, String(i)); // more revisions than a victim may queue
    const revs = (out: Init<WatchResponse>[]) => out.flatMap((r) => (r.events ?? []).map((e) => Number(e.kv!.modRevision)));
    const seen = revs(sink.take());
    for (let round = 0; round < 200 && seen.length < 4200; round++) {
      sink.drain();
      await tick();
      seen.push(...revs(sink.take()));
    }
    expect(seen).toEqual(Array.from({ length: 4200 }, (_, i) => i + 2));
  });

  it('catch-up of watchers at different positions delivers every revision exactly once to each', async () => {
    const { stream, put } = setup();
    for (let i = 0; i < 2100; i++) put(`k${i % 7}`, String(i)); // revisions 2..2101
    const far = stream();
    const near = stream();
    far.send({ createRequest: { key: b('k'), rangeEnd: b('l'), startRevision: 2n } });
    near.send({ createRequest: { key: b('k'), rangeEnd: b('l'), startRevision: 1500n } });
    const revsOf = (out: Init<WatchResponse>[]) => out.flatMap((r) => (r.events ?? []).map((e) => Number(e.kv!.modRevision)));
    for (let i = 0; i < 20; i++) await tick();
    put('k0', 'live'); // 2102
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    expect(revsOf(far.sink.out)).toEqual(range(2, 2102));
    expect(revsOf(near.sink.out)).toEqual(range(1500, 2102));
  });

  it('fragments a large response when the watcher asked for it', () => {
    const { stream, write } = setup();
    const { sink, send } = stream();
    send({ createRequest: { key: b('f'), rangeEnd: b('g'), fragment: true } });
    sink.take();
    write((t) => {
      for (let i = 0; i < 5; i++) t.put(b(`f${i}`), b('x'.repeat(60)), 0n);
    });
    const out = sink.take();
    expect(out.length).toBeGreaterThan(1);
    expect(out.slice(0, -1).every((r) => r.fragment)).toBe(true);
    expect(out.at(-1)!.fragment).toBeFalsy();
    expect(out.flatMap(keysOf)).toEqual(['f0', 'f1', 'f2', 'f3', 'f4']);
  });
});
