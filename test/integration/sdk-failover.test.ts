/**
 * The SDK when the member it is connected to is SIGKILLed, in a 3-member cluster of real etcd 3.4 and of latchkey.
 * The client lists every member; the first one listed (the one it talks to) is killed while the client has a
 * watch open, holds a lock, waits for another lock and keeps a short session alive. The SDK must fail over to
 * another member at once — a refused connection is not a slow one, so it must not spend its whole dial timeout
 * (5 s) on the dead member: reads go on, the watch resumes without missing or repeating an event, the session
 * (TTL 3 s when a follower dies, 10 s when the leader does and an election follows) stays live so the held lock
 * is still held and its signal quiet, and the waiting acquirer gets its lock when the holder on another client
 * releases it.
 */
import { Client, type LockHold, type WatchEvent } from '@latchkey/client';
import { describe, expect, it } from 'vitest';
import { type Cluster } from '../harness/cluster.js';
import { type Member, type MemberKind } from '../harness/processes.js';
import { useClusters } from '../harness/vitest.js';
import { until } from '../harness/wait.js';

const targets: MemberKind[] = process.env['TARGET'] ? [process.env['TARGET'] as MemberKind] : ['etcd', 'latchkey'];
const clusters = useClusters();

/** Collects a watch's events as `key=value@revision` (and how it ended) in the background. */
function collect(events: AsyncIterable<WatchEvent>): { seen: WatchEvent[]; end: string | undefined } {
  const out = { seen: [] as WatchEvent[], end: undefined as string | undefined };
  void (async () => {
    try {
      for await (const ev of events) out.seen.push(ev);
      out.end = 'ended';
    } catch (err) {
      out.end = `failed: ${String(err)}`;
    }
  })();
  return out;
}

/** A follower of `c` (when `role` is 'follower') or its leader, and the other members. */
async function pick(c: Cluster, role: 'leader' | 'follower'): Promise<{ victim: Member; rest: Member[] }> {
  const leader = await c.leader();
  const victim = role === 'leader' ? leader : c.members.find((m) => m !== leader)!;
  return { victim, rest: c.members.filter((m) => m !== victim) };
}

async function scenario(kind: MemberKind, role: 'leader' | 'follower', ttl: number): Promise<void> {
  const c = await clusters.start({ kind, size: 3 });
  const { victim, rest } = await pick(c, role);
  const client = new Client({ endpoints: [victim.endpoint, ...rest.map((m) => m.endpoint)] });
  const other = new Client({ endpoints: rest.map((m) => m.endpoint) });
  let hold: LockHold | undefined;
  try {
    // The client talks to the victim.
    expect((await client.status()).header?.memberId).toBe((await other.memberList()).members.find((m) => m.clientURLs.includes(`http://${victim.endpoint}`))?.ID);
    const ac = new AbortController();
    const w = client.watch('w/', { prefix: true, signal: ac.signal });
    await w.created;
    const watched = collect(w);
    const session = await client.session({ ttl });
    hold = await client.lock.acquire('locks/held', { session });
    const holdSignal = hold.signal;
    const theirs = await other.lock.acquire('locks/waited', { ttl: 30 });
    const waiting = client.lock.acquire('locks/waited', { session, timeoutMs: 30_000 });
    const put = async (i: number): Promise<bigint> => (await other.put(`w/${i}`, `v${i}`)).header.revision;
    const revs: bigint[] = [];
    for (let i = 0; i < 3; i++) revs.push(await put(i));
    await until(() => watched.seen.length === 3, 'the events before the kill');

    await victim.kill('SIGKILL');
    const killedAt = performance.now();
    // A read through the client (for a follower's death bounded well below the dial timeout: it must fail over).
    await client.get('w/0', { timeoutMs: role === 'follower' ? 3_000 : 15_000 });
    // Writes after the cluster has a leader again (a write caught by the election may fail ambiguously on etcd).
    await c.leader(15_000);
    for (let i = 3; i < 6; i++) revs.push(await put(i));
    await until(() => watched.seen.length >= 6, 'the events after the kill', 15_000);
    expect(watched.end).toBeUndefined();
    expect(watched.seen.map((e) => `${e.key}=${e.value}@${e.revision}`)).toEqual(revs.map((r, i) => `w/${i}=v${i}@${r}`));

    // The session was kept alive through the other members: a keep-alive acknowledged after the kill.
    // The earliest expiry moves past killedAt + TTL only by the acknowledgement of a keep-alive sent after the kill.
    await until(() => performance.now() + session.remainingMs() > killedAt + ttl * 1000, 'a keep-alive acknowledged after the kill', 10_000);
    expect(session.state).toBe('live');
    expect(holdSignal.aborted ? String(holdSignal.reason) : 'held').toBe('held');
    expect(await hold.isHeld()).toBe(true);

    await theirs.release();
    const got = await waiting;
    expect(await got.isHeld()).toBe(true);
    await got.release();
    ac.abort();
  } finally {
    await hold?.release().catch(() => undefined);
    await client.lock.close().catch(() => undefined);
    await other.lock.close().catch(() => undefined);
    client.close();
    other.close();
  }
}

describe.each(targets)('%s', (kind) => {
  it('sdk failover - the connected follower SIGKILLed: reads, the watch, a held and a waiting lock go on through the others', async () => {
    await scenario(kind, 'follower', 3);
  }, 60_000);

  it('sdk failover - the connected leader SIGKILLed: reads, the watch, a held and a waiting lock go on after the election', async () => {
    // TTL 10: the keep-alives wait for the election too (a few seconds at most), not for a 5 s dial timeout.
    await scenario(kind, 'leader', 10);
  }, 60_000);
});
