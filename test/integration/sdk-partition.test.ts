/**
 * A lock holder cut off from the cluster while its lease runs out, in a 3-member cluster of real etcd 3.4 and of
 * latchkey. The holder's client talks to one follower only; that member hangs (SIGSTOP), so the holder can neither
 * keep its lease alive nor hear anything, while the other two members go on, expire the lease and hand the lock
 * to a waiter on another client. The holder's `signal` must abort (with `SessionExpiredError`) before the waiter
 * is granted the lock; once the member resumes (SIGCONT), the old holder's guarded write fails with
 * `LockLostError` and it can queue for the lock again.
 */
import { Client, LockLostError, SessionExpiredError } from '@latchkey/client';
import { describe, expect, it } from 'vitest';
import { type MemberKind } from '../harness/processes.js';
import { useClusters } from '../harness/vitest.js';
import { until } from '../harness/wait.js';

const targets: MemberKind[] = process.env['TARGET'] ? [process.env['TARGET'] as MemberKind] : ['etcd', 'latchkey'];
const clusters = useClusters();

describe.each(targets)('%s', (kind) => {
  it('sdk partition - a holder cut off past its TTL learns of the loss before the waiter gets the lock', async () => {
    const c = await clusters.start({ kind, size: 3 });
    const leader = await c.leader();
    const cutOff = c.members.find((m) => m !== leader)!;
    const holderClient = new Client({ endpoints: [cutOff.endpoint] });
    const waiterClient = new Client({ endpoints: c.members.filter((m) => m !== cutOff).map((m) => m.endpoint) });
    try {
      const hold = await holderClient.lock.acquire('locks/p', { ttl: 2 });
      let lostAt: number | undefined;
      hold.signal.addEventListener('abort', () => (lostAt = performance.now()), { once: true });
      let grantedAt: number | undefined;
      const waiting = waiterClient.lock.acquire('locks/p', { ttl: 10, timeoutMs: 20_000 }).then((h) => {
        grantedAt = performance.now();
        return h;
      });
      // The waiter is queued behind the holder.
      await until(async () => (await waiterClient.lock.status('locks/p')).waiters.length === 1, 'the waiter to queue');

      await cutOff.kill('SIGSTOP');
      const next = await waiting;
      expect(lostAt, 'the holder’s signal aborted before the waiter was granted the lock').toBeDefined();
      expect(lostAt!).toBeLessThan(grantedAt!);
      expect(hold.signal.reason).toBeInstanceOf(SessionExpiredError);
      expect(hold.session.state).toBe('expired');
      expect(next.fencingToken).toBeGreaterThan(hold.fencingToken);

      await cutOff.kill('SIGCONT');
      // The old holder's guarded write cannot commit: its key is gone with its lease.
      const write = await hold.put('guarded', 'old holder', { timeoutMs: 10_000 }).then(() => 'committed', (e: unknown) => e);
      expect(write).toBeInstanceOf(LockLostError);
      expect(await next.put('guarded', 'new holder')).toMatchObject({ succeeded: true });
      await next.release();
      // The old holder's client queues again (on a fresh session) and gets the lock.
      const again = await holderClient.lock.acquire('locks/p', { ttl: 10, timeoutMs: 10_000 });
      expect(again.fencingToken).toBeGreaterThan(next.fencingToken);
      expect(await again.isHeld()).toBe(true);
      await again.release();
      expect(await waiterClient.getString('guarded')).toBe('new holder');
    } finally {
      await cutOff.kill('SIGCONT');
      await holderClient.lock.close().catch(() => undefined);
      await waiterClient.lock.close().catch(() => undefined);
      holderClient.close();
      waiterClient.close();
    }
  }, 60_000);
});
