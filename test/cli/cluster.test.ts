/**
 * latchctl against a 3-member latchkey cluster: endpoint status/health over every member (`--cluster` and a
 * list of endpoints, table output), and `move-leader` handing leadership to a follower and back — the same
 * commands through etcdctl must agree with latchctl's view at every step.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { Cluster } from '../harness/cluster.js';
import { cleanStderr } from '../harness/etcdctl.js';
import { runInProcess, runTool, type ToolResult } from './tools.js';

let cluster: Cluster | undefined;
afterAll(async () => {
  await cluster?.dispose();
});

/** `endpoint status -w json` of every member: member ID → is it the leader (as each member reports). */
function leaders(r: ToolResult): Map<string, boolean> {
  const list = JSON.parse(r.stdout.replace(/:(\d{16,})/g, ':"$1"')) as Array<{ Status: { header: { member_id: string }; leader: string } }>;
  return new Map(list.map((s) => [BigInt(s.Status.header.member_id).toString(16), s.Status.leader === s.Status.header.member_id]));
}

describe('latchctl on a cluster', () => {
  test('cluster - endpoint status and health of every member, move-leader to a follower and back (etcdctl agrees)', async () => {
    cluster = await Cluster.start({ kind: 'latchkey', size: 3 });
    const eps = cluster.endpoints;
    const table = await runInProcess(eps.split(',')[0], ['endpoint', 'status', '--cluster', '-w', 'table']);
    expect(table.code).toBe(0);
    const rows = table.stdout.split('\n').filter((l) => l.startsWith('| http://'));
    expect(rows).toHaveLength(3);
    expect(rows.filter((r) => / \| +true \| +false \| /.test(r))).toHaveLength(1); // one leader, no learner

    const health = await runInProcess(eps, ['endpoint', 'health', '-w', 'json']);
    expect(health.code).toBe(0);
    expect((JSON.parse(health.stdout) as Array<{ health: boolean }>).map((h) => h.health)).toEqual([true, true, true]);

    const before = leaders(await runInProcess(eps, ['endpoint', 'status', '-w', 'json']));
    const oldLeader = [...before].find(([, l]) => l)![0];
    const follower = [...before].find(([, l]) => !l)![0];
    const moved = await runTool('latchctl', eps, ['move-leader', follower]);
    expect([moved.code, moved.stdout, moved.stderr]).toEqual([0, `Leadership transferred from ${oldLeader} to ${follower}\n`, '']);
    // Both tools now see the follower as leader (status is per member; the transfer is complete when it returns).
    const [e, l] = await Promise.all([runTool('etcdctl', eps, ['endpoint', 'status', '-w', 'json']), runInProcess(eps, ['endpoint', 'status', '-w', 'json'])]);
    expect(leaders(l).get(follower)).toBe(true);
    expect(leaders(e).get(follower)).toBe(true);
    // And back through etcdctl, whose message latchctl's matches.
    const back = await runTool('etcdctl', eps, ['move-leader', oldLeader]);
    expect([back.code, back.stdout, cleanStderr(back.stderr)]).toEqual([0, `Leadership transferred from ${follower} to ${oldLeader}\n`, '']);
    const notInCluster = await Promise.all([runTool('etcdctl', eps, ['move-leader', '1234']), runInProcess(eps, ['move-leader', '1234'])]);
    expect(notInCluster[1].code).toBe(notInCluster[0].code);
    expect(cleanStderr(notInCluster[1].stderr)).toBe(cleanStderr(notInCluster[0].stderr));
  });
});
