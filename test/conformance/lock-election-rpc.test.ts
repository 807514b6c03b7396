/**
 * The server-side v3lockpb.Lock and v3electionpb.Election services (and their gateway routes), compared with
 * etcd's: each test runs one scenario against a fresh etcd and a fresh latchkey and records a transcript of every
 * response and error (cluster/member ids and raft terms masked; lease ids replaced by their order of appearance,
 * also inside keys). Revisions are NOT masked: both servers see the same writes in the same order, so they must
 * agree. Blocking calls are ordered by events the scenario waits for (a watch seeing a waiter's key, a promise
 * settling), never by sleeping.
 */
import * as grpc from '@grpc/grpc-js';
import {
  AuthService,
  ElectionService,
  Event_EventType,
  KVService,
  LeaseService,
  LockService,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  WatchService,
  type Init,
  type MethodDesc,
  type RequestOf,
  type ResponseOf,
  type WatchResponse,
} from '@latchkey/proto';
import { afterEach, describe, expect, test } from 'vitest';
import type { Member, MemberKind } from '../harness/processes.js';
import { Cluster } from '../harness/cluster.js';
import { etcdctl } from '../harness/etcdctl.js';
import { useMembers } from '../harness/vitest.js';
import { until } from '../harness/wait.js';

const members = useMembers();
const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');

// ------------------------------------------------------------------------------------------------ a tiny client

class Rpc {
  private readonly client: grpc.Client;

  constructor(
    endpoint: string,
    private readonly token?: string,
  ) {
    this.client = new grpc.Client(endpoint, grpc.credentials.createInsecure(), { 'grpc.enable_retries': 0 });
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.token) md.set('token', this.token);
    return md;
  }

  unary<M extends MethodDesc>(m: M, req: Init<RequestOf<M>>, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<ResponseOf<M>> {
    type Res = ResponseOf<M>;
    return new Promise<Res>((resolve, reject) => {
      const call = this.client.makeUnaryRequest<Buffer, Res>(
        m.path,
        (b: Buffer) => b,
        (b: Buffer) => m.responseType.decode(b),
        m.requestType.encode(req as never),
        this.metadata(),
        { deadline: new Date(Date.now() + (opts.timeoutMs ?? 10_000)) },
        (err, res) => (err ? reject(err) : resolve(res!)),
      );
      opts.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  /** A server stream read as an async iterator of responses; `cancel()` ends it. */
  stream<M extends MethodDesc>(m: M, req: Init<RequestOf<M>>): { messages: AsyncIterator<ResponseOf<M>>; cancel: () => void } {
    type Res = ResponseOf<M>;
    const call = this.client.makeServerStreamRequest<Buffer, Res>(
      m.path,
      (b: Buffer) => b,
      (b: Buffer) => m.responseType.decode(b),
      m.requestType.encode(req as never),
      this.metadata(),
      {},
    );
    call.on('error', () => undefined);
    return { messages: (call as AsyncIterable<Res>)[Symbol.asyncIterator](), cancel: () => call.cancel() };
  }

  /**
   * Watches a key or prefix from `startRevision` (always given: a watch "from now" could be created after the
   * event it waits for); `next(pred)` resolves at the next matching event.
   */
  watch(key: string, opts: { prefix?: boolean; startRevision: bigint }): { next: (pred: (e: Ev) => boolean) => Promise<Ev>; close: () => void } {
    const m = WatchService.Watch;
    const call = this.client.makeBidiStreamRequest<Buffer, WatchResponse>(
      m.path,
      (b: Buffer) => b,
      (b: Buffer) => m.responseType.decode(b),
      new grpc.Metadata(),
      {},
    );
    call.on('error', () => undefined);
    const k = utf8(key);
    const rangeEnd = opts.prefix ? Uint8Array.from([...k.slice(0, -1), k[k.length - 1]! + 1]) : new Uint8Array(0);
    call.write(m.requestType.encode({ createRequest: { key: k, rangeEnd, startRevision: opts.startRevision } }));
    const seen: Ev[] = [];
    let waiter: (() => void) | undefined;
    call.on('data', (r: WatchResponse) => {
      for (const e of r.events) seen.push({ type: e.type === Event_EventType.DELETE ? 'DELETE' : 'PUT', key: Buffer.from(e.kv!.key).toString(), rev: e.kv!.modRevision });
      waiter?.();
    });
    let cursor = 0;
    const next = async (pred: (e: Ev) => boolean): Promise<Ev> => {
      for (;;) {
        while (cursor < seen.length) {
          const e = seen[cursor++]!;
          if (pred(e)) return e;
        }
        await new Promise<void>((r) => (waiter = r));
      }
    };
    return { next, close: () => call.cancel() };
  }

  close(): void {
    this.client.close();
  }
}

interface Ev {
  type: 'PUT' | 'DELETE';
  key: string;
  rev: bigint;
}

// ------------------------------------------------------------------------------------------------ transcripts

/** Records responses and errors in a comparable form: bytes as text, ids masked, lease ids numbered. */
class Transcript {
  readonly lines: unknown[] = [];
  private readonly leases = new Map<string, string>();

  lease(id: bigint): string {
    const hex = id.toString(16);
    if (!this.leases.has(hex)) this.leases.set(hex, `<lease${this.leases.size}>`);
    return this.leases.get(hex)!;
  }

  /** Masks a decoded message (or an error) into plain JSON-able data. */
  mask(v: unknown, field = ''): unknown {
    if (v instanceof Error) {
      const e = v as grpc.ServiceError;
      return { code: e.code, details: e.details };
    }
    if (typeof v === 'bigint') return field === 'lease' || field === 'ID' ? (v === 0n ? '0' : this.lease(v)) : v.toString();
    if (v instanceof Uint8Array) {
      const s = Buffer.from(v).toString('utf8');
      // A recipe key: <name>/<lease hex>.
      const m = field === 'key' ? /^(.*\/)([0-9a-f]{6,})$/.exec(s) : null;
      return m ? `${m[1]!}${this.lease(BigInt(`0x${m[2]!}`))}` : s;
    }
    if (Array.isArray(v)) return v.map((x) => this.mask(x, field));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (k === 'clusterId' || k === 'memberId' || k === 'raftTerm') out[k] = '<masked>';
        else out[k] = this.mask(x, k);
      }
      return out;
    }
    return v;
  }

  add(label: string, v: unknown): void {
    this.lines.push([label, this.mask(v)]);
  }

  /** Awaits a call, records its response or error, and returns it (undefined on error). */
  async step<T>(label: string, p: Promise<T>): Promise<T | undefined> {
    try {
      const r = await p;
      this.add(label, r);
      return r;
    } catch (err) {
      this.add(label, err);
      return undefined;
    }
  }
}

type Scenario = (rpc: Rpc, t: Transcript, m: Member) => Promise<void>;

/**
 * Runs a scenario against a fresh etcd and a fresh latchkey (in parallel) and compares the transcripts. Steps
 * named in `knownDifferences` are left out of the comparison; the caller asserts on them itself.
 */
async function compare(scenario: Scenario, knownDifferences: readonly string[] = []): Promise<{ etcd: Transcript; latchkey: Transcript }> {
  const run = async (kind: MemberKind): Promise<Transcript> => {
    const m = await members.start({ kind });
    const rpc = new Rpc(m.endpoint);
    const t = new Transcript();
    try {
      await scenario(rpc, t, m);
    } finally {
      rpc.close();
    }
    return t;
  };
  const [etcd, latchkey] = await Promise.all([run('etcd'), run('latchkey')]);
  if (process.env['SHOW_TRANSCRIPT']) console.log(JSON.stringify(etcd.lines, null, 1));
  const compared = (t: Transcript): unknown[] => t.lines.filter((l) => !(Array.isArray(l) && knownDifferences.includes(l[0] as string)));
  expect(compared(latchkey), '(Expected = etcd, Received = latchkey)').toEqual(compared(etcd));
  return { etcd, latchkey };
}

/** The member's `etcd_debugging_mvcc_watcher_total` (watchers on its store, in-process ones included). */
async function watchers(m: Member): Promise<number> {
  const text = await (await fetch(`http://${m.endpoint}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('etcd_debugging_mvcc_watcher_total '));
  if (!line) throw new Error('no etcd_debugging_mvcc_watcher_total in /metrics');
  return Number(line.split(' ')[1]);
}

/** The recorded outcome of the step named `label`. */
function outcome(t: Transcript, label: string): unknown {
  const line = t.lines.find((l) => Array.isArray(l) && l[0] === label) as [string, unknown] | undefined;
  if (!line) throw new Error(`no step ${label}`);
  return line[1];
}

const grant = async (rpc: Rpc, ttl = 60n): Promise<bigint> => (await rpc.unary(LeaseService.LeaseGrant, { TTL: ttl })).ID;

/** Tracks whether a promise has settled, without consuming its rejection. */
function track<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  return { p, settled: () => done };
}

// ------------------------------------------------------------------------------------------------ Lock

describe('lock service', () => {
  test('lock - uncontended lock, relock on the same lease, unlock, unknown key, bad lease, lease 0', async () => {
    const { etcd: t } = await compare(async (rpc, t) => {
      const l1 = await grant(rpc);
      const held = await t.step('lock', rpc.unary(LockService.Lock, { name: utf8('mylock'), lease: l1 }));
      await t.step('range key', rpc.unary(KVService.Range, { key: held!.key }));
      await t.step('lock again, same lease (reuses the key)', rpc.unary(LockService.Lock, { name: utf8('mylock'), lease: l1 }));
      await t.step('unlock', rpc.unary(LockService.Unlock, { key: held!.key }));
      await t.step('unlock again (no such key)', rpc.unary(LockService.Unlock, { key: held!.key }));
      await t.step('unlock, empty key', rpc.unary(LockService.Unlock, { key: new Uint8Array(0) }));
      await t.step('lock, unknown lease', rpc.unary(LockService.Lock, { name: utf8('mylock'), lease: 0x1234n }));
      const auto = await t.step('lock, lease 0 (server grants a lease)', rpc.unary(LockService.Lock, { name: utf8('auto'), lease: 0n }));
      const kv = (await rpc.unary(KVService.Range, { key: auto!.key })).kvs[0]!;
      t.add('auto key lease is the one in its name', { leaseInName: Buffer.from(auto!.key).toString().split('/')[1] === kv.lease.toString(16) });
      await t.step('ttl of the granted lease', rpc.unary(LeaseService.LeaseTimeToLive, { ID: kv.lease }).then((r) => ({ grantedTTL: r.grantedTTL })));
    });
    expect(t.lines.length).toBe(10);
  });

  test('lock - a second locker blocks until the first unlocks; a third until the second lease is revoked', async () => {
    await compare(async (rpc, t) => {
      const [l1, l2, l3] = [await grant(rpc), await grant(rpc), await grant(rpc)];
      const a = await t.step('A locks', rpc.unary(LockService.Lock, { name: utf8('q'), lease: l1 }));
      const w = rpc.watch('q/', { prefix: true, startRevision: a!.header!.revision + 1n });
      const b = track(rpc.unary(LockService.Lock, { name: utf8('q'), lease: l2 }));
      const bQueued = await w.next((e) => e.type === 'PUT' && e.key === `q/${l2.toString(16)}`);
      const c = track(rpc.unary(LockService.Lock, { name: utf8('q'), lease: l3 }));
      const cQueued = await w.next((e) => e.type === 'PUT' && e.key === `q/${l3.toString(16)}`);
      t.add('B and C queued at', [bQueued.rev, cQueued.rev]);
      // A round trip after both queued: neither may have been granted the lock while A holds it.
      await t.step('holder range', rpc.unary(KVService.Range, { key: utf8('q/'), rangeEnd: utf8('q0'), sortTarget: RangeRequest_SortTarget.CREATE, sortOrder: RangeRequest_SortOrder.ASCEND }).then((r) => r.kvs.map((kv) => ({ key: kv.key }))));
      t.add('B, C still waiting', [b.settled(), c.settled()]);
      await t.step('A unlocks', rpc.unary(LockService.Unlock, { key: a!.key }));
      await t.step('B acquires', b.p);
      t.add('C still waiting after B acquired', c.settled());
      await t.step('B lease revoked', rpc.unary(LeaseService.LeaseRevoke, { ID: l2 }));
      await t.step('C acquires', c.p);
      w.close();
    });
  });

  // A known difference, kept on purpose: etcd 3.4's Lock does not check after waiting that the waiter's own key
  // still exists, so it reports a lock that nobody holds (etcd issue #11456, fixed in 3.5 by "concurrency: make
  // lock more reliable"). latchkey answers as etcd 3.5 does: Unknown "mutex: session is expired".
  test('lock - a waiter whose lease is revoked while waiting fails with "session is expired" once its turn comes (etcd 3.4: a phantom lock)', async () => {
    const { etcd, latchkey } = await compare(async (rpc, t) => {
      const [l1, l2] = [await grant(rpc), await grant(rpc)];
      const a = await t.step('A locks', rpc.unary(LockService.Lock, { name: utf8('s'), lease: l1 }));
      const w = rpc.watch(`s/${l2.toString(16)}`, { startRevision: a!.header!.revision + 1n });
      const b = track(rpc.unary(LockService.Lock, { name: utf8('s'), lease: l2 }));
      await w.next((e) => e.type === 'PUT');
      await t.step('revoke B lease', rpc.unary(LeaseService.LeaseRevoke, { ID: l2 }));
      await w.next((e) => e.type === 'DELETE');
      t.add('B still waiting', b.settled());
      await t.step('A unlocks', rpc.unary(LockService.Unlock, { key: a!.key }));
      await t.step('B gives up', b.p);
      w.close();
    }, ['B gives up']);
    expect(outcome(latchkey, 'B gives up')).toEqual({ code: grpc.status.UNKNOWN, details: 'mutex: session is expired' });
    expect(outcome(etcd, 'B gives up'), 'etcd 3.4 answers with the vanished key').toMatchObject({ key: 's/<lease1>' });
  });

  test('lock - cancelling a waiting Lock call deletes its key, and the next waiter then queues behind the holder only', async () => {
    await compare(async (rpc, t, m) => {
      const [l1, l2] = [await grant(rpc), await grant(rpc)];
      const a = await t.step('A locks', rpc.unary(LockService.Lock, { name: utf8('c'), lease: l1 }));
      const before = await watchers(m);
      const w = rpc.watch(`c/${l2.toString(16)}`, { startRevision: a!.header!.revision + 1n });
      const ac = new AbortController();
      const b = rpc.unary(LockService.Lock, { name: utf8('c'), lease: l2 }, { signal: ac.signal });
      const put = await w.next((e) => e.type === 'PUT');
      // Cancel once B waits, i.e. once its watch on A's key exists besides ours. (A cancel that lands while the
      // server's first Lock txn is still returning makes etcd 3.4 leave B's key behind: a race, not this test.)
      await until(async () => (await watchers(m)) >= before + 2, "B's watch on A's key", 10_000);
      ac.abort();
      await t.step('B cancelled', b);
      const del = await w.next((e) => e.type === 'DELETE');
      t.add('B key put, then deleted', [put.rev, del.rev]);
      await t.step('queue after cancel', rpc.unary(KVService.Range, { key: utf8('c/'), rangeEnd: utf8('c0') }).then((r) => r.kvs.map((kv) => ({ key: kv.key }))));
      w.close();
    });
  });
});

// ------------------------------------------------------------------------------------------------ Election

describe('election service', () => {
  test('election - no leader, campaign, leader, proclaim, stale proclaim, missing leader, resign hands over', async () => {
    const { etcd: t } = await compare(async (rpc, t) => {
      const [l1, l2] = [await grant(rpc), await grant(rpc)];
      const name = utf8('e');
      await t.step('leader of an empty election', rpc.unary(ElectionService.Leader, { name }));
      const c1 = await t.step('campaign 1', rpc.unary(ElectionService.Campaign, { name, lease: l1, value: utf8('v1') }));
      const lk1 = c1!.leader!;
      await t.step('leader', rpc.unary(ElectionService.Leader, { name }));
      await t.step('proclaim v2', rpc.unary(ElectionService.Proclaim, { leader: lk1, value: utf8('v2') }));
      await t.step('leader after proclaim', rpc.unary(ElectionService.Leader, { name }));
      await t.step('campaign again, same lease, same value', rpc.unary(ElectionService.Campaign, { name, lease: l1, value: utf8('v2') }));
      await t.step('campaign again, same lease, new value (proclaims it)', rpc.unary(ElectionService.Campaign, { name, lease: l1, value: utf8('v3') }));
      await t.step('proclaim, stale rev', rpc.unary(ElectionService.Proclaim, { leader: { ...lk1, rev: lk1.rev + 100n }, value: utf8('x') }));
      await t.step('proclaim, no leader field', rpc.unary(ElectionService.Proclaim, { value: utf8('x') }));
      const last = await t.step('resign, no leader field', rpc.unary(ElectionService.Resign, {}));
      const now = (await rpc.unary(KVService.Range, { key: name })).header!.revision;
      t.add('resign without leader answered', last === undefined);
      const w = rpc.watch(`e/${l2.toString(16)}`, { startRevision: now + 1n });
      const c2 = track(rpc.unary(ElectionService.Campaign, { name, lease: l2, value: utf8('w') }));
      await w.next((e) => e.type === 'PUT');
      await t.step('leader while 2 waits', rpc.unary(ElectionService.Leader, { name }));
      t.add('campaign 2 still waiting', c2.settled());
      await t.step('resign 1', rpc.unary(ElectionService.Resign, { leader: lk1 }));
      const lk2 = (await t.step('campaign 2 leads', c2.p))!.leader!;
      await t.step('leader after handover', rpc.unary(ElectionService.Leader, { name }));
      await t.step('resign 1 again (stale: no error)', rpc.unary(ElectionService.Resign, { leader: lk1 }));
      await t.step('proclaim with the old leader key', rpc.unary(ElectionService.Proclaim, { leader: lk1, value: utf8('zombie') }));
      await t.step('revoke 2', rpc.unary(LeaseService.LeaseRevoke, { ID: lk2.lease }));
      await t.step('leader after the leader lease is revoked', rpc.unary(ElectionService.Leader, { name }));
      await t.step('campaign, unknown lease', rpc.unary(ElectionService.Campaign, { name, lease: 0x4321n, value: utf8('x') }));
      w.close();
    });
    expect(JSON.stringify(t.lines)).toContain('election: no leader');
    expect(JSON.stringify(t.lines)).toContain('election: not leader');
  });

  test('election - observe streams the leader, each proclamation and each new leader', async () => {
    await compare(async (rpc, t) => {
      const [l1, l2] = [await grant(rpc), await grant(rpc)];
      const name = utf8('obs');
      const o = rpc.stream(ElectionService.Observe, { name });
      const got = (label: string): Promise<unknown> => t.step(label, o.messages.next().then((r) => r.value));
      // Observe waits for the first candidate; it is put only once the stream is open (a watch on the prefix
      // from the Observe's own read revision would also catch an earlier put, so the order is safe either way).
      const c1 = (await t.step('campaign 1', rpc.unary(ElectionService.Campaign, { name, lease: l1, value: utf8('a') })))!.leader!;
      await got('observed first leader');
      await t.step('proclaim b', rpc.unary(ElectionService.Proclaim, { leader: c1, value: utf8('b') }));
      const b = await got('observed b');
      const w = rpc.watch(`obs/${l2.toString(16)}`, { startRevision: (b as { header: { revision: bigint } }).header.revision + 1n });
      const c2 = rpc.unary(ElectionService.Campaign, { name, lease: l2, value: utf8('c') });
      await w.next((e) => e.type === 'PUT');
      await t.step('resign 1', rpc.unary(ElectionService.Resign, { leader: c1 }));
      await got('observed new leader c');
      await t.step('campaign 2', c2);
      o.cancel();
      w.close();
    });
  });
});

// ------------------------------------------------------------------------------------------------ gateway

describe('lock and election gateway', () => {
  test('gateway - lock, unlock, campaign, leader, proclaim, observe, resign and errors as JSON (also under /v3beta)', async () => {
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    await compare(async (rpc, t, m) => {
      const post = async (path: string, body: unknown): Promise<void> => {
        const res = await fetch(`http://${m.endpoint}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
        const text = await res.text();
        t.lines.push([path, res.status, maskJson(JSON.parse(text), t)]);
      };
      const l1 = await grant(rpc);
      const l1s = l1.toString();
      await post('/v3/lock/lock', { name: b64('gl'), lease: l1s });
      await post('/v3beta/lock/lock', { name: b64('gl'), lease: l1s });
      await post('/v3/lock/unlock', { key: b64(`gl/${l1.toString(16)}`) });
      await post('/v3/lock/lock', { name: b64('gl'), lease: '999' });
      await post('/v3/election/leader', { name: b64('ge') });
      await post('/v3/election/campaign', { name: b64('ge'), lease: l1s, value: b64('v') });
      await post('/v3/election/leader', { name: b64('ge') });
      const rev = (await rpc.unary(KVService.Range, { key: utf8(`ge/${l1.toString(16)}`) })).kvs[0]!.createRevision.toString();
      const leader = { name: b64('ge'), key: b64(`ge/${l1.toString(16)}`), rev, lease: l1s };
      await post('/v3/election/proclaim', { leader, value: b64('v2') });
      await post('/v3/election/proclaim', { leader: { ...leader, rev: '1' }, value: b64('v2') });
      await post('/v3/election/proclaim', { value: b64('v2') });
      // Observe: the first line of the stream is the current leader.
      const ac = new AbortController();
      const res = await fetch(`http://${m.endpoint}/v3/election/observe`, { method: 'POST', body: JSON.stringify({ name: b64('ge') }), signal: ac.signal });
      const reader = res.body!.getReader();
      let buf = '';
      while (!buf.includes('\n')) {
        const r = await reader.read();
        if (r.done) break;
        buf += Buffer.from(r.value).toString();
      }
      ac.abort();
      t.lines.push(['/v3/election/observe', res.status, maskJson(JSON.parse(buf.slice(0, buf.indexOf('\n'))), t)]);
      await post('/v3/election/resign', { leader });
      await post('/v3/election/leader', { name: b64('ge') });
    });
  });
});

/** Gateway JSON: ids in headers masked, lease ids numbered (also inside base64 keys). */
function maskJson(v: unknown, t: Transcript, field = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => maskJson(x, t, field));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = k === 'cluster_id' || k === 'member_id' || k === 'raft_term' ? '<masked>' : maskJson(x, t, k);
    return out;
  }
  if (typeof v === 'string' && (field === 'lease' || field === 'ID')) return t.lease(BigInt(v));
  if (typeof v === 'string' && field === 'key') return `b64:${String(t.mask(Buffer.from(v, 'base64'), 'key'))}`;
  return v;
}

// ------------------------------------------------------------------------------------------------ auth

describe('lock and election under auth', () => {
  test('auth - the caller needs the permissions etcd requires: write on the lock prefix, read for Leader', async () => {
    await compare(async (rpc, t, m) => {
      const ctl = async (args: string[]): Promise<void> => {
        const r = await etcdctl(m.endpoint, args.includes('auth') && args.includes('enable') ? args : [...args, ...(authOn ? ['--user=root:root'] : [])]);
        if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
      };
      let authOn = false;
      await ctl(['user', 'add', 'root', '--new-user-password=root']);
      await ctl(['user', 'add', 'u', '--new-user-password=pw']);
      await ctl(['role', 'add', 'r']);
      await ctl(['role', 'grant-permission', 'r', 'readwrite', 'lk/', '--prefix']);
      await ctl(['role', 'grant-permission', 'r', 'read', 'ro/', '--prefix']);
      await ctl(['user', 'grant-role', 'u', 'r']);
      const lease = await grant(rpc);
      await ctl(['auth', 'enable']);
      authOn = true;
      const token = (await rpc.unary(AuthService.Authenticate, { name: 'u', password: 'pw' })).token;
      const u = new Rpc(m.endpoint, token);
      try {
        const held = await t.step('lock on a writable prefix', u.unary(LockService.Lock, { name: utf8('lk'), lease }));
        await t.step('unlock', u.unary(LockService.Unlock, { key: held!.key }));
        await t.step('lock on a read-only prefix', u.unary(LockService.Lock, { name: utf8('ro'), lease }));
        await t.step('campaign on a read-only prefix', u.unary(ElectionService.Campaign, { name: utf8('ro'), lease, value: utf8('v') }));
        await t.step('leader of a readable election', u.unary(ElectionService.Leader, { name: utf8('ro') }));
        await t.step('leader of an unreadable election', u.unary(ElectionService.Leader, { name: utf8('zz') }));
        await t.step('lock without a token', rpc.unary(LockService.Lock, { name: utf8('lk'), lease }));
        await t.step('unlock without a token', rpc.unary(LockService.Unlock, { key: utf8('lk/x') }));
      } finally {
        u.close();
      }
    });
  });
});

// ------------------------------------------------------------------------------------------------ cluster

describe('lock and election on a 3-member latchkey cluster', () => {
  let cluster: Cluster | undefined;
  afterEach(async (ctx) => {
    await cluster?.dispose({ keepFiles: ctx.task.result?.state === 'fail' });
    cluster = undefined;
  });

  test('cluster - locks and elections work from followers; a waiter on one member is woken by an unlock on another', async () => {
    const c = (cluster = await Cluster.start({ kind: 'latchkey', size: 3 }));
    const leaderMember = await c.leader();
    const followers = c.members.filter((m) => m !== leaderMember);
    const [f1, f2, ld] = [new Rpc(followers[0]!.endpoint), new Rpc(followers[1]!.endpoint), new Rpc(leaderMember.endpoint)];
    try {
      const [l1, l2] = [await grant(f1), await grant(f2)];
      const a = await f1.unary(LockService.Lock, { name: utf8('cl'), lease: l1 });
      expect(Buffer.from(a.key).toString()).toBe(`cl/${l1.toString(16)}`);
      const w = f2.watch('cl/', { prefix: true, startRevision: a.header!.revision + 1n });
      const b = track(f2.unary(LockService.Lock, { name: utf8('cl'), lease: l2 }));
      await w.next((e) => e.type === 'PUT' && e.key === `cl/${l2.toString(16)}`);
      await ld.unary(KVService.Range, { key: utf8('cl/') });
      expect(b.settled(), 'B must wait while A holds the lock').toBe(false);
      const un = await ld.unary(LockService.Unlock, { key: a.key });
      const got = await b.p;
      expect(Buffer.from(got.key).toString()).toBe(`cl/${l2.toString(16)}`);
      expect(got.header!.revision).toBeGreaterThanOrEqual(un.header!.revision);
      w.close();

      // Election: campaign through a follower, observe through the other, proclaim through the leader.
      const o = f2.stream(ElectionService.Observe, { name: utf8('ce') });
      const c1 = await f1.unary(ElectionService.Campaign, { name: utf8('ce'), lease: l1, value: utf8('one') });
      expect(Buffer.from((await o.messages.next()).value.kv.value).toString()).toBe('one');
      await ld.unary(ElectionService.Proclaim, { leader: c1.leader!, value: utf8('two') });
      const seen = (await o.messages.next()).value;
      expect(Buffer.from(seen.kv.value).toString()).toBe('two');
      expect((await f2.unary(ElectionService.Leader, { name: utf8('ce') })).kv!.modRevision).toBe(seen.kv.modRevision);
      o.cancel();
    } finally {
      for (const r of [f1, f2, ld]) r.close();
    }
  }, 60_000);
});
