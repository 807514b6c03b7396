/**
 * Leases: grant, revoke, time-to-live, list, and keep-alives multiplexed over one `LeaseKeepAlive` stream per
 * client (etcd3 opens a stream per lease; one is enough and keeps the server's load flat).
 *
 * Keep-alive contract: each registered lease is refreshed every `ttl / 3` seconds. Every acknowledgement reports
 * the *send time* of the request it answers (on the monotonic clock), so a lease's earliest possible expiry is
 * `sendTime + ttl` — never later than the server's own deadline, whichever member answered. A response with TTL 0
 * means the lease is gone. The stream is re-opened (on another endpoint when needed) after it breaks, and every
 * registered lease is refreshed at once.
 */
import type { ClientStream } from '@latchkey/proto';
import {
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseService,
  type LeaseGrantResponse,
  type LeaseLeasesResponse,
  type LeaseTimeToLiveResponse,
} from '@latchkey/proto';
import { toText } from './bytes.js';
import { type CallOptions, type Connection, delay } from './connection.js';
import { fromGrpcError, isTokenRefused } from './errors.js';

export interface LeaseInfo {
  id: bigint;
  /** Seconds. */
  ttl: bigint;
}

export interface TimeToLive {
  id: bigint;
  /** Remaining seconds; -1n when the lease does not exist (etcd's answer). */
  ttl: bigint;
  grantedTtl: bigint;
  keys: string[];
  rawKeys: Uint8Array[];
}

/** What a keep-alive registration hears. */
export interface KeepAliveListener {
  /** An acknowledgement for a request sent at `sentAt` (performance.now()); `ttl` 0n = the lease is gone. */
  onAck(ttl: bigint, sentAt: number): void;
  /** The stream broke; acknowledgements will resume after a reconnect. */
  onDisconnect?(): void;
}

export class LeaseApi {
  readonly keepAlives: KeepAliveMux;
  constructor(private readonly conn: Connection) {
    this.keepAlives = new KeepAliveMux(conn);
  }

  /** A new lease of `ttl` seconds (server-chosen ID unless `id` is given). Not retried after an ambiguous failure. */
  async grant(ttl: number | bigint, options: CallOptions & { id?: bigint } = {}): Promise<LeaseInfo> {
    const res: LeaseGrantResponse = await this.conn.unary(
      LeaseService.LeaseGrant,
      { TTL: BigInt(ttl), ID: options.id ?? 0n },
      // With a caller-chosen ID a retry is safe: a duplicate grant fails with "lease already exists".
      { ...options, idempotent: options.id !== undefined },
    );
    return { id: res.ID, ttl: res.TTL };
  }

  /** Revokes the lease, deleting its keys. Rejects with `LeaseNotFoundError` when it does not exist. */
  async revoke(id: bigint, options: CallOptions = {}): Promise<void> {
    await this.conn.unary(LeaseService.LeaseRevoke, { ID: id }, { ...options, idempotent: true });
  }

  async timeToLive(id: bigint, options: CallOptions & { keys?: boolean } = {}): Promise<TimeToLive> {
    const res: LeaseTimeToLiveResponse = await this.conn.unary(
      LeaseService.LeaseTimeToLive,
      { ID: id, keys: options.keys ?? false },
      { ...options, idempotent: true },
    );
    return { id: res.ID, ttl: res.TTL, grantedTtl: res.grantedTTL, keys: res.keys.map(toText), rawKeys: res.keys };
  }

  async list(options: CallOptions = {}): Promise<bigint[]> {
    const res: LeaseLeasesResponse = await this.conn.unary(LeaseService.LeaseLeases, {}, { ...options, idempotent: true });
    return res.leases.map((l) => l.ID);
  }

  /** One keep-alive round trip; resolves with the new TTL (0n when the lease does not exist). */
  keepAliveOnce(id: bigint, options: CallOptions = {}): Promise<bigint> {
    return this.keepAlives.once(id, options);
  }

  close(): void {
    this.keepAlives.close();
  }
}

interface Registration {
  readonly id: bigint;
  intervalMs: number;
  timer: NodeJS.Timeout | undefined;
  readonly listeners: Set<KeepAliveListener>;
}

/** The client's single keep-alive stream. */
export class KeepAliveMux {
  private stream: ClientStream<LeaseKeepAliveResponse> | undefined;
  private connecting: Promise<void> | undefined;
  private readonly regs = new Map<bigint, Registration>();
  /** Send times of unanswered requests per lease, oldest first (responses come back in order per lease). */
  private readonly inflight = new Map<bigint, number[]>();
  private readonly onceWaiters = new Map<bigint, Set<(ttl: bigint) => void>>();
  private closed = false;

  constructor(private readonly conn: Connection) {}

  /** Keeps `id` alive every `ttlSeconds / 3` until the returned function is called. */
  register(id: bigint, ttlSeconds: number, listener: KeepAliveListener): () => void {
    let reg = this.regs.get(id);
    if (!reg) {
      reg = { id, intervalMs: Math.max(100, (ttlSeconds * 1000) / 3), timer: undefined, listeners: new Set() };
      this.regs.set(id, reg);
    }
    reg.listeners.add(listener);
    this.schedule(reg, 0);
    const r = reg;
    return () => {
      r.listeners.delete(listener);
      if (r.listeners.size === 0 && this.regs.get(id) === r) {
        clearTimeout(r.timer);
        this.regs.delete(id);
        this.maybeClose();
      }
    };
  }

  once(id: bigint, options: CallOptions = {}): Promise<bigint> {
    return new Promise<bigint>((resolve, reject) => {
      let waiters = this.onceWaiters.get(id);
      if (!waiters) this.onceWaiters.set(id, (waiters = new Set()));
      const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => finish(new Error('keep-alive timed out')), options.timeoutMs);
      const onAbort = (): void => finish(options.signal!.reason ?? new Error('aborted'));
      const done = (ttl: bigint): void => finish(undefined, ttl);
      const finish = (err: unknown, ttl?: bigint): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        waiters!.delete(done);
        if (waiters!.size === 0 && this.onceWaiters.get(id) === waiters) this.onceWaiters.delete(id);
        this.maybeClose();
        if (err !== undefined) reject(err);
        else resolve(ttl!);
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      waiters.add(done);
      void this.send(id);
    });
  }

  close(): void {
    this.closed = true;
    for (const r of this.regs.values()) clearTimeout(r.timer);
    this.regs.clear();
    this.closeStream();
  }

  private schedule(reg: Registration, ms: number): void {
    clearTimeout(reg.timer);
    reg.timer = setTimeout(() => {
      void this.send(reg.id);
      if (this.regs.get(reg.id) === reg) this.schedule(reg, reg.intervalMs);
    }, ms);
  }

  private async send(id: bigint): Promise<void> {
    if (this.closed) return;
    if (!this.stream) {
      await this.ensureStream();
      if (!this.stream) return;
    }
    let q = this.inflight.get(id);
    if (!q) this.inflight.set(id, (q = []));
    q.push(performance.now());
    this.stream.write(LeaseKeepAliveRequest.encode({ ID: id }));
  }

  private ensureStream(): Promise<void> {
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    let backoff = 25;
    while (!this.closed && !this.conn.isClosed && (this.regs.size > 0 || this.onceWaiters.size > 0)) {
      try {
        const { client, metadata } = await this.conn.streamClient(Date.now() + 30_000, this.conn.closedSignal);
        const stream = client.makeBidiStreamRequest<Buffer, LeaseKeepAliveResponse>(
          LeaseService.LeaseKeepAlive.path,
          (b) => b,
          (b) => LeaseKeepAliveResponse.decode(b),
          metadata,
        );
        this.stream = stream;
        stream.on('data', (res: LeaseKeepAliveResponse) => this.onResponse(res));
        const broken = (err?: unknown): void => {
          if (this.stream !== stream) return;
          this.stream = undefined;
          this.inflight.clear();
          if (err !== undefined && isTokenRefused(fromGrpcError(err))) this.conn.invalidateToken();
          for (const r of this.regs.values()) for (const l of r.listeners) l.onDisconnect?.();
          if (this.closed || (this.regs.size === 0 && this.onceWaiters.size === 0)) return;
          // Re-open soon and refresh every lease (the schedule would otherwise wait up to ttl/3). Not from in here:
          // this runs inside the broken connection's teardown, while its channel still reports itself ready, and a
          // stream opened on it would wait for that endpoint to come back instead of failing over.
          void delay(25, this.conn.closedSignal).then(async () => {
            if (this.closed || this.conn.isClosed) return;
            await this.ensureStream();
            for (const r of this.regs.values()) this.schedule(r, 0);
            for (const id of this.onceWaiters.keys()) void this.send(id);
          });
        };
        stream.on('error', broken);
        stream.on('end', () => broken());
        return;
      } catch {
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(1_000, backoff * 2);
      }
    }
  }

  private onResponse(res: LeaseKeepAliveResponse): void {
    const q = this.inflight.get(res.ID);
    const sentAt = q?.shift() ?? performance.now();
    const reg = this.regs.get(res.ID);
    if (reg) {
      if (res.TTL > 0n) reg.intervalMs = Math.max(100, (Number(res.TTL) * 1000) / 3);
      for (const l of [...reg.listeners]) l.onAck(res.TTL, sentAt);
    }
    const waiters = this.onceWaiters.get(res.ID);
    if (waiters) for (const w of [...waiters]) w(res.TTL);
  }

  private maybeClose(): void {
    if (this.regs.size === 0 && this.onceWaiters.size === 0) this.closeStream();
  }

  private closeStream(): void {
    const s = this.stream;
    this.stream = undefined;
    this.inflight.clear();
    if (s) {
      s.end();
      s.cancel();
    }
  }
}
