/**
 * What every chaos workload shares: the run context it gets, the result its checker returns, and how a client
 * error is classified for a history (not applied / indeterminate).
 */
import { Client, LatchkeyError } from '@latchkey/client';
import type { Rng } from '../../harness/random.js';

export interface WorkloadContext {
  /** Client endpoints (the slot proxies, or `--endpoints`). */
  endpoints: string[];
  /** Key prefix of this run, ending in `/`. */
  prefix: string;
  rng: Rng;
  /** Deliberately unsafe mode (negative control). */
  unsafe: boolean;
  /** In unsafe mode: the endpoint of the member the nemesis isolates first (stale readers are pinned there). */
  unsafeEndpoint: string | undefined;
  /** Aborts when the workload should stop issuing operations. */
  signal: AbortSignal;
  /** Per-operation timeout, ms: an operation without an answer by then is indeterminate. */
  opTimeoutMs: number;
}

export interface CheckerResult {
  name: string;
  /** Operations the checker looked at. */
  operations: number;
  violations: string[];
  /** Checker-specific figures (indeterminate operations, unknown partitions, …). */
  details: Record<string, number | string | boolean>;
  /** What to write to the violation file: the history, JSON-serializable. */
  history: unknown;
}

export interface Workload {
  readonly name: string;
  start(): void;
  /** Operations issued so far (for the progress bar). */
  operations(): number;
  /** Stops issuing operations and waits for the ones in flight. */
  stop(): Promise<void>;
  /** Runs the checker after the final heal; `final` is a client on the healed cluster. */
  check(final: Client): Promise<CheckerResult>;
}

/** A client for one workload actor: short dial timeout, endpoints rotated so actors prefer different members. */
export function actorClient(endpoints: readonly string[], index: number): Client {
  const rotated = endpoints.map((_, i) => endpoints[(i + index) % endpoints.length]!);
  return new Client({ endpoints: rotated, dialTimeoutMs: 1_000, defaultTimeoutMs: 5_000 });
}

/** True when the error proves the request was not applied (the client's retry contract). */
export function notApplied(err: unknown): boolean {
  return err instanceof LatchkeyError && err.retryable;
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** Retries `fn` until it succeeds or `timeoutMs` passes (for the final reads on a cluster that is healing). */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/** JSON with bigints as strings. */
export const toJson = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x === Infinity ? 'Infinity' : x));
