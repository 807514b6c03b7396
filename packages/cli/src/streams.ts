/**
 * The two bidirectional streams latchctl drives itself, because etcdctl prints what arrives on them verbatim
 * (headers included) and the SDK's watch and keep-alive multiplexers hide exactly that:
 *
 *  - `WatchSession`: one Watch stream carrying every watcher of a command (etcdctl's `watch -i` shares one
 *    stream), watch IDs learned from the `created` answers in request order, stream-wide progress answers
 *    fanned out to every watcher (as clientv3 does), and — after a broken stream — every watcher re-created
 *    from the revision after the last one it showed;
 *  - `KeepAliveStream`: LeaseKeepAlive for one lease, each answer handed over as received.
 *
 * Both open their stream through the SDK's connection (endpoint choice, TLS, auth token) and wait for an
 * endpoint without a deadline, as etcdctl's watch and keep-alive do.
 */
import type { Client } from '@latchkey/client';
import {
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseService,
  WatchRequest,
  WatchResponse,
  WatchService,
  type Init,
  type MethodDesc,
  type WatchCreateRequest,
} from '@latchkey/proto';

type GrpcClient = Awaited<ReturnType<Client['conn']['streamClient']>>['client'];
type Metadata = Awaited<ReturnType<Client['conn']['streamClient']>>['metadata'];

interface Bidi<Res> {
  write(b: Buffer): void;
  end(): void;
  cancel(): void;
  on(ev: 'data', fn: (r: Res) => void): void;
  on(ev: 'error', fn: (e: unknown) => void): void;
  on(ev: 'end', fn: () => void): void;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

/** Opens a bidi stream on a ready endpoint, retrying (with backoff) until one answers or `signal` aborts. */
async function openBidi<Res>(
  client: Client,
  method: MethodDesc,
  signal: AbortSignal,
  dialTimeoutMs: number,
  extraMetadata: Record<string, string> = {},
): Promise<Bidi<Res> | undefined> {
  let backoff = 50;
  while (!signal.aborted) {
    try {
      const { client: grpcClient, metadata } = await client.conn.streamClient(Date.now() + dialTimeoutMs, signal);
      const md: Metadata = metadata.clone();
      for (const [k, v] of Object.entries(extraMetadata)) md.set(k, v);
      const stream = (grpcClient as GrpcClient).makeBidiStreamRequest<Buffer, Res>(
        method.path,
        (b: Buffer) => b,
        (b: Buffer) => method.responseType.decode(b) as Res,
        md,
      );
      return stream as unknown as Bidi<Res>;
    } catch {
      await sleep(backoff, signal);
      backoff = Math.min(1_000, backoff * 2);
    }
  }
  return undefined;
}

/** What a watcher's owner is told. */
export interface WatcherHandler {
  /** Every response for this watcher except the `created` acknowledgement (events, progress, cancel). */
  onResponse(resp: WatchResponse): void | Promise<void>;
}

interface Watcher {
  request: Init<WatchCreateRequest>;
  handler: WatcherHandler;
  id: bigint;
  /** The next revision to ask for after a reconnect (0n: from now). */
  resumeFrom: bigint;
  ended: boolean;
}

/** A Watch stream and its watchers; see the module comment. */
export class WatchSession {
  private stream: Bidi<WatchResponse> | undefined;
  private readonly watchers: Watcher[] = [];
  private readonly pending: Watcher[] = [];
  private readonly byId = new Map<bigint, Watcher>();
  private readonly closed = new AbortController();
  private connecting: Promise<void> | undefined;
  private progressPending = 0;
  /** Responses are handled one at a time, in arrival order (a handler may run a command per event). */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: Client,
    private readonly dialTimeoutMs: number,
  ) {}

  /** Starts a watcher; its handler gets every response for it from now on. */
  watch(request: Init<WatchCreateRequest>, handler: WatcherHandler): void {
    const w: Watcher = { request, handler, id: -1n, resumeFrom: request.startRevision ?? 0n, ended: false };
    this.watchers.push(w);
    if (this.stream) this.sendCreate(w);
    else void this.connect();
  }

  /** Asks the server for a progress notification (answered once per stream, shown once per watcher). */
  requestProgress(): void {
    if (this.stream) this.stream.write(WatchRequest.encode({ progressRequest: {} }));
    else {
      // Sent after the watchers' creates once the stream is open, so that they hear the answer.
      this.progressPending++;
      void this.connect();
    }
  }

  /** Number of watchers that have not ended. */
  get active(): number {
    return this.watchers.filter((w) => !w.ended).length;
  }

  close(): void {
    this.closed.abort();
    const s = this.stream;
    this.stream = undefined;
    s?.end();
    s?.cancel();
  }

  private sendCreate(w: Watcher): void {
    this.pending.push(w);
    this.stream!.write(WatchRequest.encode({ createRequest: { ...w.request, startRevision: w.resumeFrom } }));
  }

  private connect(): Promise<void> {
    this.connecting ??= (async () => {
      // etcdctl's watch requires a leader (clientv3.WithRequireLeader).
      const stream = await openBidi<WatchResponse>(this.client, WatchService.Watch, this.closed.signal, this.dialTimeoutMs, { hasleader: 'true' });
      this.connecting = undefined;
      if (!stream) return;
      this.stream = stream;
      stream.on('data', (r) => {
        this.queue = this.queue.then(() => this.onResponse(r)).catch(() => undefined);
      });
      const broken = (): void => {
        if (this.stream !== stream) return;
        this.stream = undefined;
        this.pending.length = 0;
        this.byId.clear();
        if (this.closed.signal.aborted || this.active === 0) return;
        void sleep(100, this.closed.signal).then(() => this.connect());
      };
      stream.on('error', broken);
      stream.on('end', broken);
      for (const w of this.watchers) if (!w.ended) this.sendCreate(w);
      for (; this.progressPending > 0; this.progressPending--) stream.write(WatchRequest.encode({ progressRequest: {} }));
    })();
    return this.connecting;
  }

  private async onResponse(r: WatchResponse): Promise<void> {
    const rev = r.header?.revision ?? 0n;
    if (r.created) {
      const w = this.pending.shift();
      if (!w) return;
      w.id = r.watchId;
      if (w.resumeFrom === 0n) w.resumeFrom = rev + 1n;
      if (r.canceled) {
        w.ended = true;
        await w.handler.onResponse(r);
        return;
      }
      this.byId.set(r.watchId, w);
      if (r.events.length > 0) await this.deliver(w, r);
      return;
    }
    if (r.watchId === -1n || r.watchId === 0xffffffffffffffffn) {
      // A stream-wide progress answer: every watcher hears it, as from clientv3.
      for (const w of this.watchers) if (!w.ended && w.id >= 0n) await this.deliver(w, r);
      return;
    }
    const w = this.byId.get(r.watchId);
    if (!w) return;
    if (r.canceled) {
      w.ended = true;
      this.byId.delete(r.watchId);
    }
    await this.deliver(w, r);
  }

  private async deliver(w: Watcher, r: WatchResponse): Promise<void> {
    const last = r.events[r.events.length - 1];
    if (last?.kv) w.resumeFrom = last.kv.modRevision + 1n;
    else if (r.events.length === 0 && !r.canceled && (r.header?.revision ?? 0n) >= w.resumeFrom) w.resumeFrom = (r.header?.revision ?? 0n) + 1n;
    await w.handler.onResponse(r);
  }
}

/** How a keep-alive run ended. */
export type KeepAliveEnd =
  /** The server answered TTL ≤ 0: the lease does not exist (any more). */
  | { kind: 'gone'; resp: LeaseKeepAliveResponse }
  /** No answer before the lease's deadline (clientv3 then reports the lease as expired). */
  | { kind: 'expired' }
  /** `once`: the first answer. */
  | { kind: 'answered'; resp: LeaseKeepAliveResponse }
  | { kind: 'closed' };

/**
 * Keeps one lease alive as clientv3 does: a request at once, then `TTL/3` whole seconds after each answer
 * (checked every 500 ms, so a 2 s lease is refreshed every half second), re-opening a broken stream. The lease
 * counts as expired when no answer came by its deadline: `firstTimeoutMs` after the start (clientv3: dial
 * timeout + 1 s), then TTL seconds after the last answer.
 */
export class KeepAliveStream {
  private readonly closed = new AbortController();

  constructor(
    private readonly client: Client,
    private readonly id: bigint,
    private readonly dialTimeoutMs: number,
  ) {}

  async run(onResponse: (r: LeaseKeepAliveResponse) => void, options: { once?: boolean; firstTimeoutMs: number }): Promise<KeepAliveEnd> {
    let deadline = Date.now() + options.firstTimeoutMs;
    const expiry = new AbortController();
    const check = setInterval(() => {
      if (Date.now() >= deadline) expiry.abort();
    }, 100);
    const stop = AbortSignal.any([this.closed.signal, expiry.signal]);
    try {
      while (!stop.aborted) {
        const stream = await openBidi<LeaseKeepAliveResponse>(this.client, LeaseService.LeaseKeepAlive, stop, this.dialTimeoutMs, { hasleader: 'true' });
        if (!stream) break;
        const result = await new Promise<KeepAliveEnd | 'broken'>((resolve) => {
          let next = Number.POSITIVE_INFINITY;
          const send = (): void => stream.write(LeaseKeepAliveRequest.encode({ ID: this.id }));
          const timer = setInterval(() => {
            if (Date.now() >= next) {
              next = Number.POSITIVE_INFINITY;
              send();
            }
          }, 500);
          const finish = (v: KeepAliveEnd | 'broken'): void => {
            clearInterval(timer);
            stop.removeEventListener('abort', onStop);
            stream.cancel();
            resolve(v);
          };
          const onStop = (): void => finish('broken');
          stop.addEventListener('abort', onStop, { once: true });
          stream.on('data', (r) => {
            if (r.TTL <= 0n) return finish({ kind: 'gone', resp: r });
            deadline = Date.now() + Number(r.TTL) * 1000;
            onResponse(r);
            if (options.once) return finish({ kind: 'answered', resp: r });
            next = Date.now() + Number(r.TTL / 3n) * 1000;
          });
          stream.on('error', () => finish('broken'));
          stream.on('end', () => finish('broken'));
          send();
        });
        if (result !== 'broken') return result;
        await sleep(200, stop);
      }
      return this.closed.signal.aborted ? { kind: 'closed' } : { kind: 'expired' };
    } finally {
      clearInterval(check);
    }
  }

  close(): void {
    this.closed.abort();
  }
}
