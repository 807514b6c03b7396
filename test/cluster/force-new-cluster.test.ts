/**
 * --force-new-cluster, latchkey against etcd 3.4: a 3-member cluster loses two members for good (SIGKILL, never
 * restarted), so it has no quorum; the survivor is restarted once with the flag (as etcd's ETCD_FORCE_NEW_CLUSTER
 * environment variable) and must come back as a one-member cluster with all the data, take writes, and stay
 * that way when restarted again without the flag. Both servers must tell the same story.
 */
import { describe, expect, it } from 'vitest';
import { etcdctl } from '../harness/etcdctl.js';
import type { Member, MemberKind } from '../harness/processes.js';
import { useClusters } from '../harness/vitest.js';
import { until } from '../harness/wait.js';

const clusters = useClusters();

async function ok(m: Member, ...args: string[]): Promise<string> {
  const r = await etcdctl(m.endpoint, args);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} against ${m.kind}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

interface Story {
  beforeLoss: number;
  writeWithoutQuorum: string;
  afterForce: { members: number; keys: string; putRevision: number; leaderIsSelf: boolean };
  afterPlainRestart: { members: number; keys: string };
}

async function story(kind: MemberKind): Promise<Story> {
  const c = await clusters.start({ kind, size: 3 });
  const leader = await c.leader();
  for (let i = 1; i <= 5; i++) await ok(leader, 'put', `k${i}`, `v${i}`);
  const survivor = c.members.find((m) => m !== leader)!;
  // The survivor must have the writes before the others are lost (they are committed, but may not be applied).
  await until(async () => (await ok(survivor, 'get', 'k5', '--print-value-only', '--consistency=s')) === 'v5', 'the survivor to apply k5', 10_000);
  const beforeLoss = Number(JSON.parse(await ok(survivor, 'get', 'k5', '-w', 'json', '--consistency=s')).header.revision);
  for (const m of c.members) if (m !== survivor) await m.kill('SIGKILL');
  const lost = await etcdctl(survivor.endpoint, ['put', 'lost', 'x', '--command-timeout=2s']);
  const keys = async () => (await ok(survivor, 'get', 'k', '--prefix', '--keys-only')).split('\n').filter(Boolean).join(',');
  const members = async () => (await ok(survivor, 'member', 'list')).split('\n').length;

  await survivor.restart({ env: { ETCD_FORCE_NEW_CLUSTER: 'true' } });
  const put = JSON.parse(await ok(survivor, 'put', 'after', '1', '-w', 'json')) as { header: { revision: string | number } };
  const status = JSON.parse(await ok(survivor, 'endpoint', 'status', '-w', 'json')) as { Status: { header: { member_id: number | string }; leader: number | string } }[];
  const afterForce = {
    members: await members(),
    keys: await keys(),
    putRevision: Number(put.header.revision),
    leaderIsSelf: String(status[0]!.Status.leader) === String(status[0]!.Status.header.member_id),
  };

  await survivor.restart({ env: {} });
  const afterPlainRestart = { members: await members(), keys: await keys() };
  return { beforeLoss, writeWithoutQuorum: lost.code === 0 ? 'accepted' : 'refused', afterForce, afterPlainRestart };
}

describe('force new cluster - the same recovery as etcd 3.4', () => {
  it('a survivor of a lost quorum comes back alone with its data, takes writes, and stays alone', async () => {
    const etcd = await story('etcd');
    await clusters.disposeAll();
    const latchkey = await story('latchkey');
    const expected: Story = {
      beforeLoss: etcd.beforeLoss,
      writeWithoutQuorum: 'refused',
      afterForce: { members: 1, keys: 'k1,k2,k3,k4,k5', putRevision: etcd.beforeLoss + 1, leaderIsSelf: true },
      afterPlainRestart: { members: 1, keys: 'k1,k2,k3,k4,k5' },
    };
    expect(etcd).toEqual(expected);
    expect(latchkey).toEqual(expected);
  }, 180_000);
});
