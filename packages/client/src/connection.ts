/**
 * The connection layer: one HTTP/2 channel per endpoint (our own, ./transport/h2-channel.ts: grpc-js's cost a
 * millisecond of CPU per call), endpoint health and failover, call deadlines and cancellation, authentication
 * tokens, and the retry policy.
 *
 * Retry contract (the point of this module):
 *  - a request that provably never reached a server (the channel never became ready, or the server answered
 *    with an error that means "not applied": no leader, invalid token, …) is sent again, on another endpoint when
 *    the failure was the endpoint's;
 *  - a request marked `idempotent` (reads, watches, keep-alives, deletes of our own keys, create-if-absent txns)
 *    is also sent again after an ambiguous failure (connection lost mid-call);
 *  - anything else that fails ambiguously is reported to the caller as is — a plain put or txn whose outcome is
 *    unknown is never resent blindly.
 * Retries stop at the call's deadline (`timeoutMs`) or when its `signal` aborts.
 */
import { setMaxListeners } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Init, MethodDesc, RequestOf, ResponseOf } from '@latchkey/proto';
import { AuthenticateRequest, AuthenticateResponse, AuthService, ConnectivityState, GrpcCode, H2Channel } from '@latchkey/proto';
import {
  AbortError,
  ClientClosedError,
  DeadlineExceededError,
  fromGrpcError,
  isTokenRefused,
  LatchkeyError,
  UnavailableError,
} from './errors.js';

export interface TlsOptions {
  /** PEM CA bundle that signs the servers' certificates (default: the system roots). */
  ca?: string | Uint8Array;
  /** PEM client certificate and key, for servers started with `--client-cert-auth`. */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  /**
   * Accept any server certificate, unverified (etcdctl's `--insecure-skip-tls-verify`): for servers with a
   * self-signed certificate (`--auto-tls`). The connection is encrypted but anyone in the path can impersonate
   * the server.
   */
  insecureSkipVerify?: boolean;
}

export interface ConnectionOptions {
  /** `host:port`, `http://host:port` or `https://host:port` (https implies TLS). Default `127.0.0.1:2379`. */
  endpoints?: readonly string[];
  /** TLS for every endpoint (also enabled per endpoint by an `https://` URL). */
  tls?: TlsOptions | boolean;
  /** Authenticate as this user (etcd's Auth); the token is renewed when the server says it is invalid. */
  auth?: { username: string; password: string };
  /** How long to wait for an endpoint to accept a connection before trying the next one (default 5 s). */
  dialTimeoutMs?: number;
  /** Deadline applied to calls that do not pass `timeoutMs` (default: 30 s; streams have none). */
  defaultTimeoutMs?: number;
  /** How many times a retryable failure is retried (default 8, with backoff 25 ms → 1 s). */
  maxRetries?: number;
  /**
   * Channel options in grpc-js's vocabulary; the ones the channel honours are `grpc.keepalive_time_ms` (ping
   * period while calls are open, default 10 s) and `grpc.keepalive_timeout_ms` (default 5 s).
   */
  channelOptions?: grpc.ChannelOptions;
}

export interface CallOptions {
  /** Cancels the call; the promise rejects with `AbortError`. */
  signal?: AbortSignal | undefined;
  /** Deadline for the whole call including retries; rejects with `DeadlineExceededError`. */
  timeoutMs?: number | undefined;
}

export interface UnaryOptions extends CallOptions {
  /** The request may be sent again after an ambiguous failure (it is a read or idempotent by construction). */
  idempotent: boolean;
}

interface Endpoint {
  readonly target: string;
  readonly secure: boolean;
  client: H2Channel | undefined;
  /** performance.now() until which this endpoint is avoided after a failure. */
  downUntil: number;
}

const now = (): number => performance.now();

/** How long the preferred endpoint may take to connect before the others are dialed too (RFC 8305's delay). */
const FAILOVER_AFTER_MS = 250;

/** Parses `host:port`, `http://host:port`, `https://host:port` (also `unix:` and `dns:` targets as grpc-js has them). */
export function parseEndpoint(raw: string): { target: string; secure: boolean } {
  const s = raw.trim();
  if (s.startsWith('https://')) return { target: s.slice(8).replace(/\/+$/, ''), secure: true };
  if (s.startsWith('http://')) return { target: s.slice(7).replace(/\/+$/, ''), secure: false };
  return { target: s, secure: false };
}

export class Connection {
  private readonly endpoints: Endpoint[];
  private current = 0;
  private closed = false;
  private token: string | undefined;
  private tokenPromise: Promise<string> | undefined;
  private readonly tlsFiles: { ca: Buffer | null; cert: Buffer | null; key: Buffer | null; rejectUnauthorized?: boolean };
  private readonly dialTimeoutMs: number;
  private readonly defaultTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly closeController = new AbortController();

  constructor(private readonly options: ConnectionOptions = {}) {
    const list = options.endpoints?.length ? options.endpoints : ['127.0.0.1:2379'];
    const tlsAll = options.tls !== undefined && options.tls !== false;
    this.endpoints = list.map((raw) => {
      const { target, secure } = parseEndpoint(raw);
      return { target, secure: secure || tlsAll, client: undefined, downUntil: 0 };
    });
    const tls = typeof options.tls === 'object' ? options.tls : {};
    const buf = (v: string | Uint8Array | undefined): Buffer | null =>
      v === undefined ? null : Buffer.from(typeof v === 'string' ? Buffer.from(v) : v);
    this.tlsFiles = { ca: buf(tls.ca), cert: buf(tls.cert), key: buf(tls.key), ...(tls.insecureSkipVerify ? { rejectUnauthorized: false } : {}) };
    this.dialTimeoutMs = options.dialTimeoutMs ?? 5_000;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
    this.maxRetries = options.maxRetries ?? 8;
    // Every in-flight call listens for the close: unbounded by design, not a leak.
    setMaxListeners(0, this.closeController.signal);
  }

  /** Aborts when the connection is closed; long-running helpers (watch, keep-alive) stop on it. */
  get closedSignal(): AbortSignal {
    return this.closeController.signal;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The endpoints as configured (`host:port`). */
  get targets(): string[] {
    return this.endpoints.map((e) => e.target);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeController.abort(new ClientClosedError());
    for (const ep of this.endpoints) ep.client?.close();
  }

  /** One unary RPC under the retry contract above. */
  async unary<M extends MethodDesc>(method: M, request: Init<RequestOf<M>>, options: UnaryOptions): Promise<ResponseOf<M>> {
    const bytes = method.requestType.encode(request);
    return this.withRetries(options, async (deadline, attemptSignal) => {
      const ep = await this.readyEndpoint(deadline, attemptSignal);
      const md = this.options.auth ? await this.metadata(deadline, attemptSignal) : new grpc.Metadata();
      return this.unaryOnce<ResponseOf<M>>(ep, method, bytes, md, deadline, attemptSignal);
    });
  }

  /**
   * Runs `attempt` until it succeeds, fails with a non-retryable error, the deadline passes or the signal aborts.
   * `attempt` receives the absolute deadline (Date ms) and a signal that aborts with the caller's. Retry k (from 1)
   * waits 25·2^(k-1) ms times a random factor in [1, 2), at most 1 s and never past the deadline.
   */
  async withRetries<T>(
    options: UnaryOptions,
    attempt: (deadline: number, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    this.assertOpen();
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const signal = options.signal ? AbortSignal.any([options.signal, this.closedSignal]) : this.closedSignal;
    if (signal.aborted) throw abortErrorFor(signal);
    try {
      for (let retries = 0; ; retries++) {
        if (Date.now() >= deadline) throw new DeadlineExceededError('context deadline exceeded', { code: GrpcCode.DEADLINE_EXCEEDED });
        try {
          return await attempt(deadline, signal);
        } catch (error) {
          if (retries >= this.maxRetries || !this.shouldRetry(error, options.idempotent, signal, deadline)) throw error;
        }
        const wait = Math.min(Math.round((1 + Math.random()) * 25 * 2 ** retries), 1_000, deadline - Date.now());
        if (wait > 0) await delay(wait, signal);
        if (signal.aborted) throw abortErrorFor(signal);
      }
    } catch (err) {
      if (signal.aborted) throw abortErrorFor(signal);
      if (err instanceof LatchkeyError) throw err;
      throw fromGrpcError(err);
    }
  }

  /** Whether a failed attempt is sent again (see the retry contract at the top). */
  private shouldRetry(error: unknown, idempotent: boolean, signal: AbortSignal, deadline: number): boolean {
    if (signal.aborted || Date.now() >= deadline) return false;
    if (!(error instanceof LatchkeyError)) return false;
    if (isTokenRefused(error)) this.token = undefined; // fetch a new one
    // We went without a token because auth was off; it has been enabled since: fetch one and retry.
    if (error.etcdError === 'UserEmpty' && this.options.auth && this.token === '') {
      this.token = undefined;
      return true;
    }
    if (error.retryable) return true;
    return idempotent && isAmbiguousTransportError(error);
  }

  /**
   * An endpoint whose channel is ready, preferring the current one and failing over in order. When the preferred
   * endpoint is not ready within `FAILOVER_AFTER_MS` (its member is down: every connection attempt is refused, or
   * hangs), the other endpoints not marked down are dialed too and the first one ready is taken, so a dead member
   * costs a quarter second rather than the whole dial timeout. Rejects with a retryable `UnavailableError` when
   * none becomes ready within the dial timeout (nothing was sent).
   */
  async readyEndpoint(deadline: number, signal: AbortSignal): Promise<Endpoint> {
    const n = this.endpoints.length;
    const t = now();
    // Start at the current endpoint unless it is marked down and another one is not.
    let start = this.current;
    for (let i = 0; i < n; i++) {
      const ep = this.endpoints[(this.current + i) % n]!;
      if (ep.downUntil <= t) {
        start = (this.current + i) % n;
        break;
      }
    }
    const ep = this.endpoints[start]!;
    const client = this.clientFor(ep);
    // The common case: the channel is up. Skip waitForReady's promise and timer.
    if (client.getChannel().getConnectivityState(false) === ConnectivityState.READY) {
      this.current = start;
      return ep;
    }
    const dialDeadline = Math.min(deadline, Date.now() + this.dialTimeoutMs);
    const others = this.endpoints.filter((o, i) => i !== start && o.downUntil <= t);
    let ready: Endpoint;
    try {
      ready = await this.firstReady(ep, others, dialDeadline, signal);
    } catch (err) {
      if (err instanceof AbortError || err instanceof ClientClosedError) throw err;
      this.markDown(ep);
      throw new UnavailableError(`${ep.target}: connection not ready (${(err as Error).message})`, {
        code: GrpcCode.UNAVAILABLE,
        retryable: true,
        cause: err,
      });
    }
    if (ready !== ep) this.markDown(ep);
    this.current = this.endpoints.indexOf(ready);
    return ready;
  }

  /**
   * Waits for `first`'s channel to be ready; after `FAILOVER_AFTER_MS` also for `others`' (when the dial
   * deadline is later than that). Resolves with the first endpoint ready; rejects with the last dial error once
   * every wait has failed, or with the abort when `signal` aborts.
   */
  private firstReady(first: Endpoint, others: readonly Endpoint[], dialDeadline: number, signal: AbortSignal): Promise<Endpoint> {
    return new Promise<Endpoint>((resolve, reject) => {
      if (signal.aborted) return reject(abortErrorFor(signal));
      let settled = false;
      let waiting = 0;
      let fannedOut = others.length === 0 || Date.now() + FAILOVER_AFTER_MS >= dialDeadline;
      let timer: NodeJS.Timeout | undefined;
      const finish = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        settle();
      };
      const onAbort = (): void => finish(() => reject(abortErrorFor(signal)));
      const wait = (ep: Endpoint): void => {
        let client: H2Channel;
        try {
          client = this.clientFor(ep);
        } catch (err) {
          return finish(() => reject(err));
        }
        waiting++;
        client.waitForReady(dialDeadline, (err) => {
          waiting--;
          if (!err) return finish(() => resolve(ep));
          if (waiting === 0 && fannedOut) finish(() => reject(err));
        });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (!fannedOut) {
        timer = setTimeout(() => {
          fannedOut = true;
          if (!settled) for (const o of others) wait(o);
        }, FAILOVER_AFTER_MS);
      }
      wait(first);
    });
  }

  /** Marks `ep` as failing for a second and moves the preferred endpoint to the next one. */
  markDown(ep: Endpoint): void {
    ep.downUntil = now() + 1_000;
    const i = this.endpoints.indexOf(ep);
    if (i === this.current) this.current = (i + 1) % this.endpoints.length;
  }

  /** Call metadata: the auth token when authentication is configured (fetched once, renewed on demand). */
  async metadata(deadline: number, signal: AbortSignal): Promise<grpc.Metadata> {
    const md = new grpc.Metadata();
    if (this.options.auth) {
      const token = await this.authToken(deadline, signal);
      if (token !== '') md.set('token', token);
    }
    return md;
  }

  private authToken(deadline: number, signal: AbortSignal): Promise<string> {
    if (this.token !== undefined) return Promise.resolve(this.token);
    this.tokenPromise ??= (async () => {
      try {
        const { username, password } = this.options.auth!;
        const ep = await this.readyEndpoint(deadline, signal);
        const bytes = AuthenticateRequest.encode({ name: username, password });
        let token: string;
        try {
          token = (await this.unaryOnce<AuthenticateResponse>(ep, AuthService.Authenticate, bytes, new grpc.Metadata(), deadline, signal)).token;
        } catch (err) {
          // As etcd's clientv3: credentials for a cluster without authentication are not an error; calls go
          // without a token (and fetch one once auth is enabled and a call is refused for want of it).
          if (!(err instanceof LatchkeyError && err.etcdError === 'AuthNotEnabled')) throw err;
          token = '';
        }
        this.token = token;
        return token;
      } finally {
        this.tokenPromise = undefined;
      }
    })();
    return this.tokenPromise;
  }

  /** One attempt of a unary call on a ready endpoint. Errors come back typed; `sent` is assumed. */
  unaryOnce<R>(ep: Endpoint, method: MethodDesc, bytes: Buffer, md: grpc.Metadata, deadline: number, signal: AbortSignal): Promise<R> {
    const client = this.clientFor(ep);
    return new Promise<R>((resolve, reject) => {
      if (signal.aborted) return reject(abortErrorFor(signal));
      const call = client.makeUnaryRequest<Buffer, R>(
        method.path,
        (b) => b,
        (b) => method.responseType.decode(b) as R,
        bytes,
        md,
        { deadline },
        (err, res) => {
          signal.removeEventListener('abort', onAbort);
          if (err) {
            if (signal.aborted) return reject(abortErrorFor(signal));
            const typed = fromGrpcError(err, !notSent(err));
            if (typed.code === GrpcCode.UNAVAILABLE && typed.etcdError === undefined) this.markDown(ep);
            reject(typed);
          } else resolve(res!);
        },
      );
      const onAbort = (): void => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The grpc-js client for the current (ready) endpoint, for streams. */
  async streamClient(deadline: number, signal: AbortSignal): Promise<{ client: H2Channel; ep: Endpoint; metadata: grpc.Metadata }> {
    const ep = await this.readyEndpoint(deadline, signal);
    const metadata = await this.metadata(deadline, signal);
    return { client: this.clientFor(ep), ep, metadata };
  }

  /** Forgets the cached token (after the server rejected it on a stream). */
  invalidateToken(): void {
    this.token = undefined;
  }

  private clientFor(ep: Endpoint): H2Channel {
    if (this.closed) throw new ClientClosedError();
    const co = this.options.channelOptions ?? {};
    const num = (k: string): number | undefined => (typeof co[k] === 'number' ? (co[k] as number) : undefined);
    ep.client ??= new H2Channel(ep.target, {
      tls: ep.secure ? this.tlsFiles : undefined,
      keepaliveTimeMs: num('grpc.keepalive_time_ms') ?? 10_000,
      keepaliveTimeoutMs: num('grpc.keepalive_timeout_ms') ?? 5_000,
      minBackoffMs: 100,
      maxBackoffMs: 1_000,
    });
    return ep.client;
  }

  private assertOpen(): void {
    if (this.closed) throw new ClientClosedError();
  }
}

/** Resolves after `ms`, or as soon as `signal` aborts (the caller checks which). */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(() => {
      signal.removeEventListener('abort', done);
      resolve();
    }, ms);
    const done = (): void => {
      clearTimeout(t);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Calls that failed before any byte was sent report these details (our channel does as grpc-js does). */
function notSent(err: unknown): boolean {
  const details = (err as { details?: unknown }).details;
  return typeof details === 'string' && details.startsWith('No connection established');
}

/** A failure after which the request's fate is unknown because the transport broke (not a server answer). */
function isAmbiguousTransportError(e: LatchkeyError): boolean {
  return (e.code === GrpcCode.UNAVAILABLE || e.code === GrpcCode.UNKNOWN || e.code === GrpcCode.INTERNAL) && e.etcdError === undefined;
}

export function abortErrorFor(signal: AbortSignal): LatchkeyError {
  const reason: unknown = signal.reason;
  if (reason instanceof LatchkeyError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new DeadlineExceededError('context deadline exceeded', { code: GrpcCode.DEADLINE_EXCEEDED, cause: reason });
  }
  return new AbortError(reason);
}

/** A signal that aborts with `signal` or after `timeoutMs` (whichever first); either may be absent. */
export function deriveSignal(signal: AbortSignal | undefined, timeoutMs: number | undefined): AbortSignal | undefined {
  const parts: AbortSignal[] = [];
  if (signal) parts.push(signal);
  if (timeoutMs !== undefined) parts.push(AbortSignal.timeout(timeoutMs));
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : AbortSignal.any(parts);
}

export type { Endpoint };
