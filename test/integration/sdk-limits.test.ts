/**
 * The SDK against a real etcd 3.4 and latchkey started with small request limits (`--max-request-bytes 4096`,
 * `--max-txn-ops 4`): every request over a limit fails at once with a typed, non-retryable error naming the limit —
 * unary calls and recipes alike — and a watch whose create request the server refuses as too large ends with
 * that error instead of re-opening the watch stream forever, while the client's other watchers go on.
 */
import { Client, GrpcCode, LatchkeyError, Op, type WatchEvent } from '@latchkey/client';
import { describe, expect, it } from 'vitest';
import { type MemberKind } from '../harness/processes.js';
import { useMembers } from '../harness/vitest.js';
import { within } from '../harness/wait.js';

const targets: MemberKind[] = process.env['TARGET'] ? [process.env['TARGET'] as MemberKind] : ['etcd', 'latchkey'];
const members = useMembers();
const limits = ['--max-request-bytes', '4096', '--max-txn-ops', '4'];

/** How a call failed: error class, gRPC code, etcd's error name, retryability, message. */
async function failure(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof LatchkeyError)) return `not a LatchkeyError: ${String(err)}`;
  return `${err.name} ${GrpcCode[err.code]} ${err.etcdError ?? '-'} retryable=${err.retryable}: ${err.message}`;
}

describe.each(targets)('%s', (kind) => {
  it('sdk limits - requests over --max-request-bytes and --max-txn-ops fail at once with typed errors', async () => {
    const m = await members.start({ kind, extraArgs: limits });
    const client = new Client({ endpoints: [m.endpoint] });
    try {
      const t0 = Date.now();
      expect(await failure(client.put('k', 'x'.repeat(5_000)))).toBe('InvalidArgumentError INVALID_ARGUMENT RequestTooLarge retryable=false: etcdserver: request is too large');
      // Beyond the limit plus gRPC's allowance (512 KiB) the server's transport refuses the message itself.
      expect(await failure(client.put('k', 'x'.repeat(1 << 20), { idempotent: true }))).toMatch(/^LatchkeyError RESOURCE_EXHAUSTED - retryable=false: grpc: received message larger than max \(\d+ vs\. 528384\)$/);
      const five = [1, 2, 3, 4, 5].map((i) => Op.put(`t/${i}`, 'v'));
      expect(await failure(client.txn().success(...five).commit({ idempotent: true }))).toBe('InvalidArgumentError INVALID_ARGUMENT TooManyOps retryable=false: etcdserver: too many operations in txn request');
      expect(await failure(client.lock.acquire('L'.repeat(5_000), { ttl: 5 }))).toBe('InvalidArgumentError INVALID_ARGUMENT RequestTooLarge retryable=false: etcdserver: request is too large');
      // None of them was retried into a wait: well under one backoff ladder (8 retries take seconds).
      expect(Date.now() - t0).toBeLessThan(3_000);
      expect(await client.get('t/1')).toBeUndefined();
      await client.put('k', 'small');
      expect(await client.getString('k')).toBe('small');
    } finally {
      await client.lock.close();
      client.close();
    }
  }, 30_000);

  it('sdk limits - a watch whose create request is too large for the server ends with the error; other watches go on', async () => {
    const m = await members.start({ kind, extraArgs: limits });
    const client = new Client({ endpoints: [m.endpoint] });
    try {
      const ac = new AbortController();
      const small = client.watch('s', { signal: ac.signal });
      await small.created;
      const big = client.watch('w'.repeat(600_000), { signal: ac.signal });
      const err = await within(
        big.created.then(
          () => undefined,
          (e: unknown) => e,
        ),
        10_000,
        'the oversized watch to end',
      );
      expect(err).toBeInstanceOf(LatchkeyError);
      expect((err as LatchkeyError).code).toBe(GrpcCode.RESOURCE_EXHAUSTED);
      expect((err as LatchkeyError).message).toMatch(/^grpc: received message larger than max/);
      expect(big.isEnded).toBe(true);
      // The other watcher was re-created on a new stream and still gets its events, once.
      const events = small[Symbol.asyncIterator]();
      const rev = (await client.put('s', 'after')).header.revision;
      const next = await within(events.next(), 10_000, 'the small watch’s event');
      const ev = next.value as WatchEvent;
      expect(`${ev.key}=${ev.value}@${ev.revision}`).toBe(`s=after@${rev}`);
      expect(small.isEnded).toBe(false);
      ac.abort();
    } finally {
      client.close();
    }
  }, 30_000);
});
