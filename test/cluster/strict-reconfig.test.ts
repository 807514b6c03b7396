/**
 * --strict-reconfig-check (on by default), latchkey against etcd 3.4, 3 members each, driven with etcdctl. The
 * same steps on both, and the same answers expected:
 *  1. a voter whose peer URL is taken is refused for that reason once every voter has been connected for 5 s
 *     (before that: "unhealthy cluster"; this is also the probe that tells the two states apart without
 *     changing the membership);
 *  2. after SIGKILL of a follower, the same request is refused as "unhealthy cluster" (a voter is down);
 *  3. removing the live follower is refused as "unhealthy cluster" (the leader alone would not be a quorum);
 *  4. removing the dead follower is allowed, and the cluster goes on with two members.
 * Every request goes to the leader.
 * Then, latchkey only: with --strict-reconfig-check=false, step 3 is accepted.
 */
import { describe, expect, it } from 'vitest';
import { repeatUntil, whileUnhealthy, type Cluster } from '../harness/cluster.js';
import { etcdctl, type EtcdctlResult } from '../harness/etcdctl.js';
import type { Member, MemberKind } from '../harness/processes.js';
import { useClusters } from '../harness/vitest.js';

const clusters = useClusters();

const UNHEALTHY = 'etcdserver: unhealthy cluster';
const URL_TAKEN = 'etcdserver: Peer URLs already exists';

/** etcdctl's answer without what differs between two servers (ids) or runs (etcdctl's zap warnings). */
function answer(r: EtcdctlResult): { code: number; out: string } {
  const text = `${r.stdout}${r.stderr}`
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('{'))
    .join('\n');
  // etcdctl prints ids with %16x: shorter ones are padded with spaces.
  return { code: r.code, out: text.replace(/\b(Member|cluster) +[0-9a-f]+\b/g, '$1 <id>') };
}

/** Repeats `run` until its output contains `want` (or 30 s pass). */
const untilOutput = (want: string, run: () => Promise<EtcdctlResult>): Promise<EtcdctlResult> => repeatUntil(run, (r) => `${r.stdout}${r.stderr}`.includes(want));

async function scenario(kind: MemberKind, extraArgs: string[] = []): Promise<{ cluster: Cluster; ids: string[]; steps: { code: number; out: string }[] }> {
  const c = await clusters.start({ kind, size: 3, extraArgs });
  // Asked of the leader, and the member killed is a follower: no election gets in the way of the last removal.
  const leader = await c.leader();
  const [live, dead] = c.members.filter((m) => m !== leader) as [Member, Member];
  const st = await c.status();
  const ids = [leader, live, dead].map((m) => st.find((s) => s.endpoint === m.endpoint)!.memberId.toString(16));
  const probe = () => etcdctl(leader.endpoint, ['member', 'add', 'probe', `--peer-urls=${live.peerUrl}`]);
  const steps = [answer(await untilOutput(URL_TAKEN, probe))];
  await dead.kill('SIGKILL');
  steps.push(answer(await untilOutput(UNHEALTHY, probe)));
  steps.push(answer(await etcdctl(leader.endpoint, ['member', 'remove', ids[1]!])));
  steps.push(answer(await whileUnhealthy(() => etcdctl(leader.endpoint, ['member', 'remove', ids[2]!]))));
  const list = await etcdctl(leader.endpoint, ['member', 'list']);
  steps.push({ code: list.code, out: String(list.stdout.trim().split('\n').length) });
  return { cluster: c, ids, steps };
}

describe('strict reconfig check - the same refusals as etcd 3.4', () => {
  it('refuses to add while a voter is down and to remove a live voter without an active quorum; removes a dead one', async () => {
    const etcd = await scenario('etcd');
    await clusters.disposeAll();
    const latchkey = await scenario('latchkey');
    const expected = [
      { code: 1, out: `Error: ${URL_TAKEN}` },
      { code: 1, out: `Error: ${UNHEALTHY}` },
      { code: 1, out: `Error: ${UNHEALTHY}` },
      { code: 0, out: 'Member <id> removed from cluster <id>' },
      { code: 0, out: '2' },
    ];
    expect(etcd.steps).toEqual(expected);
    expect(latchkey.steps).toEqual(expected);
  }, 180_000);

  it('with --strict-reconfig-check=false, latchkey removes the live voter', async () => {
    const c = await clusters.start({ kind: 'latchkey', size: 3, extraArgs: ['--strict-reconfig-check=false'] });
    const st = await c.status();
    const id = st.find((s) => s.endpoint === c.members[1]!.endpoint)!.memberId.toString(16);
    await c.members[2]!.kill('SIGKILL');
    const r = await etcdctl(c.members[0]!.endpoint, ['member', 'remove', id]);
    expect(answer(r)).toEqual({ code: 0, out: 'Member <id> removed from cluster <id>' });
  }, 120_000);
});
