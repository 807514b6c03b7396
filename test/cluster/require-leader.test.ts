/**
 * Calls that require a leader (etcd's "hasleader" metadata; `etcdctl watch` sets it), latchkey against etcd 3.4:
 * a watch on a follower is ended by the server with "no leader" once the member has been without a leader for a
 * few election timeouts (both of its peers SIGKILLed), so that the client can go elsewhere instead of waiting on a
 * cut-off member. etcdctl then exits; both servers must make it exit the same way.
 */
import { describe, expect, it } from 'vitest';
import { etcdctl } from '../harness/etcdctl.js';
import { etcdctlStream } from '../harness/etcdctl-stream.js';
import type { MemberKind } from '../harness/processes.js';
import { useClusters } from '../harness/vitest.js';

const clusters = useClusters();

async function story(kind: MemberKind): Promise<{ sawEvent: boolean; exited: boolean; code: number | null; stderr: string; seconds: number }> {
  const c = await clusters.start({ kind, size: 3 });
  const leader = await c.leader();
  const survivor = c.members.find((m) => m !== leader)!;
  const w = etcdctlStream(survivor.endpoint, ['watch', 'k']);
  // The watch is established once it reports a put made after it started (retried: etcdctl may still be dialing).
  let sawEvent = false;
  for (let i = 1; i <= 20 && !sawEvent; i++) {
    await etcdctl(survivor.endpoint, ['put', 'k', `v${i}`]);
    sawEvent = await w.waitFor((out) => out.includes(`v${i}`), 500);
  }
  for (const m of c.members) if (m !== survivor) await m.kill('SIGKILL');
  const t0 = Date.now();
  await w.waitFor(() => false, 30_000); // resolves when etcdctl exits (or after 30 s)
  const seconds = (Date.now() - t0) / 1000;
  const r = await w.stop();
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('{'))
    .join('\n');
  return { sawEvent, exited: !r.stopped, code: r.code, stderr, seconds };
}

describe('require leader - the same as etcd 3.4', () => {
  it('a watch on a member left without a leader is ended with "no leader", and etcdctl exits', async () => {
    const etcd = await story('etcd');
    await clusters.disposeAll();
    const latchkey = await story('latchkey');
    const strip = ({ seconds: _s, ...rest }: typeof etcd) => rest;
    expect(strip(etcd)).toMatchObject({ sawEvent: true, exited: true });
    expect(strip(latchkey)).toEqual(strip(etcd));
    // Three election timeouts (1 s each here) and the detection of the lost leader: well under 15 s on both.
    expect(etcd.seconds).toBeLessThan(15);
    expect(latchkey.seconds).toBeLessThan(15);
  }, 180_000);
});
