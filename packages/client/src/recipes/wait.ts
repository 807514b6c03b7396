/**
 * Waiting helpers shared by the barrier, semaphore, queue and registry recipes. All of them follow one rule:
 * a watch that ends without the awaited event (history compacted, watch canceled by the server) is reported as
 * `undefined` — "re-read and decide again" — never as success, because a missed event would be a hang and a
 * phantom event would be a broken guarantee (etcd's `WaitEvents` returns success on a closed watch).
 */
import { randomBytes } from 'node:crypto';
import { type Bytes } from '../bytes.js';
import { type Client } from '../client.js';
import { abortErrorFor, deriveSignal, type CallOptions } from '../connection.js';
import { CompactedError, LeaseNotFoundError } from '../errors.js';
import { type WatchEvent, type WatchOptions } from '../watch.js';
import { type Session } from './session.js';

/** One watch to wait on: `key` (with `options.prefix`/`end` for a range) from `options.startRevision`. */
export interface WatchSpec {
  key: Bytes;
  options: Omit<WatchOptions, 'signal'>;
  /** Which events count (default: every event the watch delivers). */
  match?: (ev: WatchEvent) => boolean;
}

/**
 * Resolves with the first matching event of any of `specs`, or with `undefined` when one of the watches ended
 * without one (compaction, server-side cancel): the caller re-reads. Rejects with the abort reason when
 * `signal` aborts. Every watch is canceled before the promise settles.
 */
export async function nextEvent(client: Client, specs: readonly WatchSpec[], signal: AbortSignal): Promise<WatchEvent | undefined> {
  if (signal.aborted) throw abortErrorFor(signal);
  const ac = new AbortController();
  const onAbort = (): void => ac.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const first = await Promise.race(
      specs.map(async (spec) => {
        try {
          for await (const ev of client.watch(spec.key, { ...spec.options, signal: ac.signal })) {
            if (spec.match === undefined || spec.match(ev)) return ev;
          }
          return undefined;
        } catch (err) {
          if (err instanceof CompactedError || !signal.aborted) return undefined;
          throw err;
        }
      }),
    );
    if (signal.aborted) throw abortErrorFor(signal);
    return first;
  } finally {
    signal.removeEventListener('abort', onAbort);
    ac.abort();
  }
}

/** Options every blocking recipe call accepts: cancellation, a deadline, and the session to hold things on. */
export interface RecipeOptions extends CallOptions {
  /** Bind the recipe's keys to this session (default: the client's shared session for `ttl`). */
  session?: Session;
  /** Session TTL in seconds when no session is given (default 60). */
  ttl?: number;
}

/**
 * The session for a recipe call and the signal its waits run under: the caller's signal and deadline, plus the
 * session's (a lost session ends every wait on it).
 */
export async function recipeContext(client: Client, options: RecipeOptions): Promise<{ session: Session; signal: AbortSignal; callerSignal: AbortSignal | undefined }> {
  const callerSignal = deriveSignal(options.signal, options.timeoutMs);
  const session = options.session ?? (await client.lock.defaultSession(options.ttl ?? 60, { signal: callerSignal }));
  session.throwIfEnded();
  return { session, signal: callerSignal ? AbortSignal.any([callerSignal, session.signal]) : session.signal, callerSignal };
}

/** A never-aborting signal for waits the caller did not bound. */
export function forever(): AbortSignal {
  return new AbortController().signal;
}

/** A short random suffix that makes a recipe key unique per call while staying fixed across its retries. */
export function uniqueSuffix(): string {
  return randomBytes(6).toString('hex');
}

/**
 * What a failed recipe call rejects with: a lease the server no longer knows ends the session at once (so the
 * next call gets a fresh default session instead of failing the same way); an aborted wait rejects with the
 * abort's reason (the caller's, the deadline's or the session's).
 */
export function recipeError(err: unknown, session: Session, signal: AbortSignal): unknown {
  if (err instanceof LeaseNotFoundError) session.markExpired();
  if (signal.aborted) return abortErrorFor(signal);
  return err;
}
