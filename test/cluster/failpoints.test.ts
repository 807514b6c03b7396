/**
 * Crash at every named failpoint of the Raft driver loop, one test per failpoint: a member of a 3-member cluster
 * runs with `LATCHKEY_FAILPOINTS=<name>=panic@N` and kills itself (SIGKILL) when its loop reaches that point
 * while a writer keeps puts in flight; it restarts without the failpoint. Afterwards every acknowledged put is
 * present with its acknowledged revision on every member, and the members agree (same revision, same HashKV).
 *
 * The save/send/apply points crash the leader; the snapshot points crash a follower while it installs a
 * snapshot from the leader (it was kept down while the leader's log was compacted).
 */
import { describe, expect, it } from 'vitest';
import type { Cluster } from '../harness/cluster.js';
import { etcdctl } from '../harness/etcdctl.js';
import { KvClient, text, utf8 } from '../harness/kv-client.js';
import type { Member } from '../harness/processes.js';
import { useClusters } from '../harness/vitest.js';

const clusters = useClusters();

interface Ack {
  key: string;
  value: string;
  rev: bigint;
}

/** Puts unique keys through whichever members answer until `stop()`; records what was acknowledged. */
function writer(c: Cluster): { acks: Ack[]; stop: () => Promise<void> } {
  const acks: Ack[] = [];
  let running = true;
  const clients = c.members.map((m) => new KvClient(m.endpoint));
  const loops = [0, 1, 2, 3].map(async (w) => {
    for (let i = 0; running; i++) {
      const key = `fp/${w}/${i}`;
      const value = `v${w}-${i}`;
      const cl = clients[(w + i) % clients.length]!;
      try {
        const r = await cl.put({ key: utf8(key), value: utf8(value) }, { timeoutMs: 2000 });
        acks.push({ key, value, rev: r.header!.revision });
      } catch {
        // unacknowledged: indeterminate, not checked
      }
    }
  });
  return {
    acks,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      for (const cl of clients) cl.close();
    },
  };
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function verify(c: Cluster, acks: Ack[]): Promise<void> {
  // A final write through the cluster, then every member must have caught up to it.
  const done = await etcdctl(c.endpoints, ['put', 'fp-done', 'x', '-w', 'json']);
  expect(done.code, done.stderr).toBe(0);
  const rev = BigInt(/"revision":(\d+)/.exec(done.stdout)![1]!);
  for (const m of c.members) {
    const cl = new KvClient(m.endpoint);
    try {
      await until(async () => {
        const r = await cl.range({ key: utf8('fp-done'), serializable: true }).catch(() => undefined);
        return r !== undefined && r.header!.revision >= rev;
      }, `${m.name} catches up to revision ${rev}`);
      const all = await cl.range({ key: utf8('fp/'), rangeEnd: utf8('fp0'), serializable: true, revision: rev });
      const have = new Map(all.kvs.map((kv) => [text(kv.key), kv]));
      for (const a of acks) {
        const kv = have.get(a.key);
        expect(kv, `${m.name} lost acknowledged ${a.key}`).toBeDefined();
        expect(text(kv!.value)).toBe(a.value);
        expect(kv!.modRevision).toBe(a.rev);
      }
    } finally {
      cl.close();
    }
  }
  const hashes = new Set<string>();
  for (const m of c.members) {
    const r = await etcdctl(m.endpoint, ['endpoint', 'hashkv', `--rev=${rev}`]);
    expect(r.code, r.stderr).toBe(0);
    hashes.add(r.stdout.trim().split(', ')[1]!);
  }
  expect(hashes.size, 'members disagree on the key-value hash').toBe(1);
}

const LEADER_POINTS = ['raftBeforeSave', 'raftAfterSave', 'raftBeforeSend', 'raftAfterSend', 'raftBeforeApply', 'raftAfterApply'];
const SNAPSHOT_POINTS = ['raftBeforeApplySnapshot', 'raftBeforeSaveSnapshot', 'raftAfterSaveSnapshot'];

describe('failpoints - a crash at each step of the driver loop loses nothing acknowledged', () => {
  for (const fp of LEADER_POINTS) {
    it(`failpoint - ${fp} on the leader`, async () => {
      const c = await clusters.start({ kind: 'latchkey', size: 3 });
      const leader = await c.leader();
      await leader.restart({ env: { LATCHKEY_FAILPOINTS: `${fp}=panic@30` } });
      await c.leader();
      const w = writer(c);
      await until(() => !leader.running, `${leader.name} crashes at ${fp}`);
      expect(leader.readLog()).toContain(`failpoint ${fp}: crashing`);
      await until(() => w.acks.length > 20, 'writes continue after the crash');
      await leader.restart({ env: {} });
      await until(() => w.acks.length > 60, 'more writes after the restart');
      await w.stop();
      await verify(c, w.acks);
    }, 90_000);
  }

  for (const fp of SNAPSHOT_POINTS) {
    it(`failpoint - ${fp} on a follower installing a snapshot`, async () => {
      const c = await clusters.start({ kind: 'latchkey', size: 3, extraArgs: ['--snapshot-count', '20', '--experimental-snapshot-catchup-entries', '5'] });
      const leader = await c.leader();
      const follower: Member = c.members.find((m) => m !== leader)!;
      await follower.kill('SIGKILL');
      const w = writer(c);
      await until(() => w.acks.length > 100, 'the leader compacts past the stopped follower');
      await follower.restart({ env: { LATCHKEY_FAILPOINTS: `${fp}=panic` }, waitHealthy: false });
      await until(() => !follower.running, `${follower.name} crashes at ${fp}`);
      expect(follower.readLog()).toContain(`failpoint ${fp}: crashing`);
      await follower.restart({ env: {} });
      await until(() => w.acks.length > 160, 'more writes after the restart');
      await w.stop();
      await verify(c, w.acks);
    }, 90_000);
  }
});
