/**
 * --experimental-initial-corrupt-check on a real 3-member cluster: a member restarted with it compares its KV hash
 * with its peers' before it joins. Its data is then altered on disk (one stored value, same length, so it still
 * decodes), and the check must stop it; without the check the same member starts and serves the altered value,
 * and `endpoint hashkv` shows the divergence (the control: the alteration is real, and only the check catches it).
 * The flag travels as etcd's environment variable (ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK), set per restart.
 * Then the periodic check (--experimental-corrupt-check-time 1s): no alarm while the data agree; after the same
 * alteration on a follower, the leader raises CORRUPT against that follower, writes fail with etcd's "corrupt
 * cluster", and reads go on.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { etcdctl } from '../harness/etcdctl.js';
import type { Member } from '../harness/processes.js';
import { useClusters } from '../harness/vitest.js';
import { until } from '../harness/wait.js';

const clusters = useClusters();

const CHECK = { ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: 'true' };

async function out(endpoint: string, ...args: string[]): Promise<string> {
  const r = await etcdctl(endpoint, args);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The log written since the member's last start. */
function lastRun(m: Member): string {
  const log = readFileSync(m.logPath, 'utf8');
  return log.slice(log.lastIndexOf('=== start #'));
}

/** Replaces `from` by `to` (same length) in every stored record of the member's backend that contains it. */
function alterOnDisk(m: Member, from: string, to: string): number {
  const memberDir = path.join(m.dataDir, 'member');
  const pointer = path.join(memberDir, 'db.current');
  const dbDir = path.join(memberDir, existsSync(pointer) ? readFileSync(pointer, 'utf8').trim() : 'db');
  const env = open<Buffer, Buffer>({ path: dbDir, maxDbs: 16, keyEncoding: 'binary', encoding: 'binary' });
  const keys = env.openDB<Buffer, Buffer>({ name: 'key', keyEncoding: 'binary', encoding: 'binary' });
  let changed = 0;
  env.transactionSync(() => {
    for (const { key, value } of keys.getRange()) {
      const i = value.indexOf(from);
      if (i < 0) continue;
      const v = Buffer.from(value);
      v.write(to, i, 'latin1');
      keys.putSync(key, v);
      changed++;
    }
  });
  env.close();
  return changed;
}

describe('initial corruption check', () => {
  it('passes on a healthy restart, stops a member whose data diverged, and only the check stops it', async () => {
    const c = await clusters.start({ kind: 'latchkey', size: 3 });
    const [m1, , m3] = c.members as [Member, Member, Member];
    await out(m1.endpoint, 'put', 'canary', 'hello-value-0001');
    await until(async () => (await out(m3.endpoint, 'get', 'canary', '--print-value-only', '--consistency=s')) === 'hello-value-0001', 'm3 to apply the canary', 10_000);

    await m3.restart({ env: CHECK });
    expect(lastRun(m3)).toContain('initial corruption check passed');

    await m3.stop();
    expect(alterOnDisk(m3, 'hello-value-0001', 'jello-value-0001')).toBe(1);
    await m3.restart({ env: CHECK, waitHealthy: false });
    await m3.waitExit();
    expect(m3.running).toBe(false);
    expect(lastRun(m3)).toMatch(/"err":"[0-9a-f]+ found data inconsistency with peers"/);

    await m3.restart({ env: {} });
    expect(await out(m3.endpoint, 'get', 'canary', '--print-value-only', '--consistency=s')).toBe('jello-value-0001');
    const hashes = JSON.parse(await out(`${m1.endpoint},${m3.endpoint}`, 'endpoint', 'hashkv', '-w', 'json')) as { HashKV: { hash: number } }[];
    expect(hashes).toHaveLength(2);
    expect(hashes[0]!.HashKV.hash).not.toBe(hashes[1]!.HashKV.hash);
  }, 120_000);

  it('--experimental-corrupt-check-time: the leader raises CORRUPT against a diverged member, and writes stop', async () => {
    const c = await clusters.start({ kind: 'latchkey', size: 3, extraArgs: ['--experimental-corrupt-check-time', '1s'] });
    const leader = await c.leader();
    const victim = c.members.find((m) => m !== leader)!;
    const victimId = (await c.status()).find((s) => s.endpoint === victim.endpoint)!.memberId.toString(16);
    await out(leader.endpoint, 'put', 'canary', 'hello-value-0002');
    await until(async () => (await out(victim.endpoint, 'get', 'canary', '--print-value-only', '--consistency=s')) === 'hello-value-0002', 'the follower to apply the canary', 10_000);
    // Healthy data: three check intervals pass without an alarm.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await out(leader.endpoint, 'alarm', 'list')).toBe('');

    await victim.stop();
    expect(alterOnDisk(victim, 'hello-value-0002', 'jello-value-0002')).toBe(1);
    await victim.restart();
    let alarms = '';
    for (let i = 0; i < 150 && !alarms.includes('CORRUPT'); i++) {
      alarms = await out(leader.endpoint, 'alarm', 'list');
      if (!alarms.includes('CORRUPT')) await new Promise((r) => setTimeout(r, 100));
    }
    expect(alarms).toBe(`memberID:${BigInt(`0x${victimId}`)} alarm:CORRUPT`);
    const write = await etcdctl(leader.endpoint, ['put', 'after', 'x']);
    expect([write.code, write.stderr.trim().split('\n').at(-1)]).toEqual([1, 'Error: etcdserver: corrupt cluster']);
    // Reads are still served.
    expect(await out(leader.endpoint, 'get', 'canary', '--print-value-only')).toBe('hello-value-0002');
  }, 120_000);
});

