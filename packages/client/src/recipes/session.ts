/**
 * A session: one lease kept alive on the client's keep-alive stream, and an honest view of whether it still exists.
 *
 * Loss detection contract. The server expires a lease `ttl` seconds after the *server* handled the last
 * keep-alive; that moment is after the client *sent* it. So `sentAt(last acknowledged keep-alive) + ttl`, on the
 * monotonic clock, is a lower bound of the real expiry. The session computes `expiresAt` that way and
 *  - becomes `suspect` when less than a third of the TTL remains (two refreshes were missed);
 *  - aborts `signal` (state `expired`) when less than `safetyMarginMs` remains, when the server reports the lease
 *    gone (keep-alive TTL 0), or when the process wakes from a pause past that point. The margin absorbs clock-rate
 *    differences between machines; after the abort the lease may in fact still exist, never the other way round.
 * Every lock, candidacy and registration made on a session derives its signal from `session.signal`, so a holder
 * learns of a possible loss before another process can be granted the same lock.
 */
import { setMaxListeners } from 'node:events';
import { type Client } from '../client.js';
import { type CallOptions } from '../connection.js';
import { LatchkeyError, SessionExpiredError } from '../errors.js';

export interface SessionOptions extends CallOptions {
  /** Lease TTL in seconds (default 60, as etcd's `concurrency.Session`). */
  ttl?: number;
  /** Resume with an existing lease instead of granting one (its TTL is read with TimeToLive). */
  lease?: bigint;
  /** How long before the computed expiry the session gives up (default: a quarter of the TTL, at most 1 s). */
  safetyMarginMs?: number;
}

export type SessionState = 'live' | 'suspect' | 'expired' | 'closed';

export class SessionClosedError extends LatchkeyError {
  override name = 'SessionClosedError';
  constructor() {
    super('session closed');
  }
}

export class Session {
  /** Aborts as soon as the lease may be gone (or the session is closed); `reason` says which. */
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private expiresAt: number;
  private stateValue: SessionState = 'live';
  private timer: NodeJS.Timeout | undefined;
  private readonly unregister: () => void;
  private readonly listeners = new Set<(s: SessionState) => void>();
  private readonly ttlMs: number;
  private readonly marginMs: number;

  private constructor(
    readonly client: Client,
    readonly leaseId: bigint,
    /** Seconds, as granted. */
    readonly ttl: number,
    grantSentAt: number,
    marginMs: number | undefined,
  ) {
    this.signal = this.controller.signal;
    // Every hold and in-flight recipe call on the session listens to it: unbounded by design.
    setMaxListeners(0, this.signal);
    this.ttlMs = ttl * 1000;
    this.marginMs = marginMs ?? Math.min(1_000, this.ttlMs / 4);
    this.expiresAt = grantSentAt + this.ttlMs;
    this.unregister = client.leases.keepAlives.register(leaseId, ttl, {
      onAck: (ttlLeft, sentAt) => this.onAck(ttlLeft, sentAt),
    });
    this.arm();
  }

  /** Grants (or adopts) the lease and starts keeping it alive. */
  static async create(client: Client, options: SessionOptions = {}): Promise<Session> {
    const sentAt = performance.now();
    if (options.lease !== undefined) {
      const t = await client.leases.timeToLive(options.lease, options);
      if (t.ttl <= 0n) throw new SessionExpiredError(`lease ${options.lease.toString(16)} not found`);
      return new Session(client, options.lease, Number(t.grantedTtl), sentAt - (Number(t.grantedTtl - t.ttl) * 1000), options.safetyMarginMs);
    }
    const granted = await client.leases.grant(options.ttl ?? 60, options);
    return new Session(client, granted.id, Number(granted.ttl), sentAt, options.safetyMarginMs);
  }

  get state(): SessionState {
    return this.stateValue;
  }

  /** Milliseconds until the earliest moment the lease could expire (≤ 0 once it may be gone). */
  remainingMs(): number {
    return this.expiresAt - performance.now();
  }

  /** Calls `fn` on every state change; returns an unsubscribe function. */
  onStateChange(fn: (s: SessionState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Throws the reason the session ended, if it has. */
  throwIfEnded(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  /** Stops keeping the lease alive and revokes it (deleting every key made on the session). */
  async close(options: CallOptions = {}): Promise<void> {
    if (this.stateValue === 'closed') return;
    const wasExpired = this.stateValue === 'expired';
    this.end('closed', new SessionClosedError());
    if (wasExpired) return;
    try {
      await this.client.leases.revoke(this.leaseId, { timeoutMs: 5_000, ...options });
    } catch (err) {
      if (!(err instanceof LatchkeyError) || err.etcdError !== 'LeaseNotFound') throw err;
    }
  }

  /** Stops keep-alives without revoking: the lease lives on until its TTL runs out (for handing it over). */
  detach(): void {
    this.end('closed', new SessionClosedError());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * @internal The server answered a write on this lease with "lease not found": the lease is certainly gone,
   * so end the session now instead of at the next keep-alive answer.
   */
  markExpired(): void {
    if (this.stateValue === 'closed' || this.stateValue === 'expired') return;
    this.end('expired', new SessionExpiredError(`lease ${this.leaseId.toString(16)} not found on the server`));
  }

  private onAck(ttlLeft: bigint, sentAt: number): void {
    if (this.stateValue === 'closed' || this.stateValue === 'expired') return;
    if (ttlLeft <= 0n) {
      this.end('expired', new SessionExpiredError(`lease ${this.leaseId.toString(16)} expired or was revoked`));
      return;
    }
    const candidate = sentAt + Number(ttlLeft) * 1000;
    if (candidate > this.expiresAt) this.expiresAt = candidate;
    this.arm();
  }

  /** Re-evaluates the state now and schedules the next evaluation. */
  private arm(): void {
    clearTimeout(this.timer);
    if (this.stateValue === 'closed' || this.stateValue === 'expired') return;
    const remaining = this.remainingMs();
    if (remaining <= this.marginMs) {
      this.end('expired', new SessionExpiredError(`lease ${this.leaseId.toString(16)} may have expired: no keep-alive acknowledged in time`));
      return;
    }
    const suspectBelow = this.ttlMs / 3;
    this.setState(remaining <= suspectBelow ? 'suspect' : 'live');
    const next = remaining > suspectBelow ? remaining - suspectBelow : remaining - this.marginMs;
    this.timer = setTimeout(() => this.arm(), Math.max(1, next));
    this.timer.unref?.();
  }

  private end(state: 'expired' | 'closed', reason: LatchkeyError): void {
    clearTimeout(this.timer);
    this.unregister();
    this.setState(state);
    if (!this.signal.aborted) this.controller.abort(reason);
  }

  private setState(s: SessionState): void {
    if (s === this.stateValue) return;
    this.stateValue = s;
    for (const fn of [...this.listeners]) fn(s);
  }
}
