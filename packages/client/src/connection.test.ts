import { GrpcCode } from '@latchkey/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection } from './connection.js';
import { AbortError, DeadlineExceededError, LatchkeyError } from './errors.js';

// The retry loop of the connection layer, driven by scripted attempts (no server): which failures are sent
// again, how often, how long it waits between attempts, and how a deadline or an abort ends it.

const notApplied = (): LatchkeyError => new LatchkeyError('etcdserver: no leader', { code: GrpcCode.UNAVAILABLE, retryable: true, etcdError: 'NoLeader' });
const connectionLost = (): LatchkeyError => new LatchkeyError('connection lost', { code: GrpcCode.UNAVAILABLE });
const refused = (): LatchkeyError => new LatchkeyError('etcdserver: key not found', { code: GrpcCode.INVALID_ARGUMENT });

/** An attempt function that fails with `failures` in turn, then answers 'ok'; it records when it was called. */
function scripted(failures: Array<() => Error>) {
  const calls: number[] = [];
  const attempt = async (): Promise<string> => {
    calls.push(performance.now());
    const f = failures[calls.length - 1];
    if (f) throw f();
    return 'ok';
  };
  return { attempt, calls };
}

describe('client - connection retries', () => {
  let conn: Connection | undefined;
  afterEach(() => conn?.close());

  it('client - a first success is returned from one attempt', async () => {
    conn = new Connection();
    const s = scripted([]);
    await expect(conn.withRetries({ idempotent: false }, s.attempt)).resolves.toBe('ok');
    expect(s.calls).toHaveLength(1);
  });

  it('client - a "not applied" failure is sent again after a growing, randomized backoff', async () => {
    conn = new Connection();
    const s = scripted([notApplied, notApplied, notApplied]);
    await expect(conn.withRetries({ idempotent: false }, s.attempt)).resolves.toBe('ok');
    expect(s.calls).toHaveLength(4);
    const gaps = s.calls.slice(1).map((t, i) => t - s.calls[i]!);
    // Retry k waits 25·2^(k-1) ms times [1, 2): at least 25, 50, 100 ms (timers never fire early by more than 1 ms).
    expect(gaps[0]).toBeGreaterThanOrEqual(24);
    expect(gaps[1]).toBeGreaterThanOrEqual(49);
    expect(gaps[2]).toBeGreaterThanOrEqual(99);
  });

  it('client - an ambiguous transport failure is retried only for idempotent requests', async () => {
    conn = new Connection();
    const once = scripted([connectionLost]);
    await expect(conn.withRetries({ idempotent: false }, once.attempt)).rejects.toThrow('connection lost');
    expect(once.calls).toHaveLength(1);
    const again = scripted([connectionLost]);
    await expect(conn.withRetries({ idempotent: true }, again.attempt)).resolves.toBe('ok');
    expect(again.calls).toHaveLength(2);
  });

  it('client - a refusal by the server is reported at once, as the server typed it', async () => {
    conn = new Connection();
    const s = scripted([refused]);
    const err = await conn.withRetries({ idempotent: true }, s.attempt).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LatchkeyError);
    expect((err as LatchkeyError).code).toBe(GrpcCode.INVALID_ARGUMENT);
    expect(s.calls).toHaveLength(1);
  });

  it('client - maxRetries bounds the attempts; the last failure is reported', async () => {
    conn = new Connection({ maxRetries: 2 });
    const s = scripted([notApplied, notApplied, () => new LatchkeyError('third', { code: GrpcCode.UNAVAILABLE, retryable: true }), notApplied]);
    await expect(conn.withRetries({ idempotent: true }, s.attempt)).rejects.toThrow('third');
    expect(s.calls).toHaveLength(3);
    conn.close();
    conn = new Connection({ maxRetries: 0 });
    const none = scripted([notApplied]);
    await expect(conn.withRetries({ idempotent: true }, none.attempt)).rejects.toThrow('no leader');
    expect(none.calls).toHaveLength(1);
  });

  it('client - retries stop at the deadline; a non-positive timeout fails before any attempt', async () => {
    conn = new Connection({ maxRetries: 1_000 });
    const failing = scripted(Array.from({ length: 1_000 }, () => notApplied));
    const t0 = performance.now();
    await expect(conn.withRetries({ idempotent: true, timeoutMs: 300 }, failing.attempt)).rejects.toBeInstanceOf(LatchkeyError);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(298);
    expect(took).toBeLessThan(1_300);
    // Attempts at 0, 25–50, 75–150, 175–350 ms, …: a backoff, not a busy loop (at most 5 within 300 ms).
    expect(failing.calls.length).toBeGreaterThanOrEqual(2);
    expect(failing.calls.length).toBeLessThanOrEqual(5);
    const never = scripted([]);
    await expect(conn.withRetries({ idempotent: true, timeoutMs: 0 }, never.attempt)).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(never.calls).toHaveLength(0);
  });

  it('client - an abort during the backoff ends the call at once with the abort', async () => {
    conn = new Connection();
    const ac = new AbortController();
    const s = scripted([
      () => {
        setTimeout(() => ac.abort(), 5);
        return notApplied();
      },
    ]);
    // The abort's timer (5 ms) expires before the first backoff (≥ 25 ms): a second attempt would answer 'ok'.
    const err = await conn.withRetries({ idempotent: true, signal: ac.signal }, s.attempt).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(s.calls).toHaveLength(1);
  });
});
