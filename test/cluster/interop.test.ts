/**
 * Clients nobody here wrote, against a 3-member latchkey cluster: etcd's Go concurrency.Mutex and Election
 * (test/go/recipes, built from Debian's etcd Go sources), `etcdctl lock`, and microsoft's etcd3 npm client (the
 * same transcript as against a 3-member etcd cluster).
 *
 * Mutual exclusion is checked by lost updates: every holder increments a counter with a plain read then write
 * inside its critical section; the counter equals the number of critical sections only if none overlapped. The
 * negative control runs the same workers without the lock and must lose updates.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../harness/cluster.js';
import { etcdctl } from '../harness/etcdctl.js';
import { scenario } from '../conformance/etcd3-scenario.js';

let recipes = '';
let cluster: Cluster;
beforeAll(async () => {
  recipes = execFileSync(fileURLToPath(new URL('../go/build.sh', import.meta.url)), { encoding: 'utf8' }).trim();
  cluster = await Cluster.start({ kind: 'latchkey', size: 3 });
}, 180_000);
afterAll(async () => {
  await cluster?.dispose();
});

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(recipes, ['-endpoints', cluster.endpoints, ...args]);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function counter(name: string): Promise<number> {
  const r = await etcdctl(cluster.endpoints, ['get', `${name}-counter`, '--print-value-only']);
  return Number(r.stdout.trim() || '0');
}

describe('interop - etcd Go recipes against a latchkey cluster', () => {
  it('go Mutex - 4 processes x 15 cycles never overlap', async () => {
    const runs = await Promise.all([1, 2, 3, 4].map(() => run(['-op', 'lock', '-name', 'go-lock', '-cycles', '15'])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(await counter('go-lock')).toBe(60);
  }, 120_000);

  it('go Mutex negative control - the same workers without the lock lose updates', async () => {
    const runs = await Promise.all([1, 2, 3, 4].map(() => run(['-op', 'lock', '-name', 'go-unsafe', '-cycles', '15', '-unsafe'])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(await counter('go-unsafe')).toBeLessThan(60);
  }, 120_000);

  it('go Election - 4 processes x 10 campaigns: each winner is the leader while it leads', async () => {
    const runs = await Promise.all([1, 2, 3, 4].map((i) => run(['-op', 'elect', '-name', 'go-elect', '-cycles', '10', '-id', `w${i}`])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(await counter('go-elect')).toBe(40);
  }, 120_000);

  it('etcdctl lock - three processes with a command hold the lock one at a time', async () => {
    // Each command appends "<in>" then "<out>" around a pause; with exclusion the log never shows two "in"s in a row.
    const cmd = (tag: string) => [
      'lock',
      'ctl-lock',
      '--',
      'sh',
      '-c',
      `etcdctl --endpoints=${cluster.endpoints} put log-${tag}-in x >/dev/null && sleep 0.2 && etcdctl --endpoints=${cluster.endpoints} put log-${tag}-out x >/dev/null`,
    ];
    const rs = await Promise.all(['a', 'b', 'c'].map((t) => etcdctl(cluster.endpoints, cmd(t), { timeoutMs: 30_000 })));
    for (const r of rs) expect(r.code, r.stderr).toBe(0);
    const got = await etcdctl(cluster.endpoints, ['get', 'log-', '--prefix', '-w', 'json']);
    const kvs = (JSON.parse(got.stdout) as { kvs: { key: string; mod_revision: number }[] }).kvs;
    const events = kvs.map((kv) => ({ key: Buffer.from(kv.key, 'base64').toString(), rev: kv.mod_revision })).sort((x, y) => x.rev - y.rev);
    expect(events.length).toBe(6);
    for (let i = 0; i < 6; i += 2) {
      const [inn, out] = [events[i]!, events[i + 1]!];
      expect(inn.key.endsWith('-in') && out.key.endsWith('-out') && inn.key.slice(0, 5) === out.key.slice(0, 5), JSON.stringify(events)).toBe(true);
    }
  }, 60_000);
});

describe('interop - etcd3 npm client against 3-member clusters', () => {
  it('etcd3 - the same transcript from a latchkey cluster as from an etcd cluster', async () => {
    // Fresh clusters of both kinds, so that revisions line up.
    const etcd = await Cluster.start({ kind: 'etcd', size: 3 });
    const fresh = await Cluster.start({ kind: 'latchkey', size: 3 });
    try {
      const e = new Etcd3({ hosts: etcd.endpoints.split(',').map((h) => `http://${h}`) });
      const l = new Etcd3({ hosts: fresh.endpoints.split(',').map((h) => `http://${h}`) });
      try {
        const want = await scenario(e);
        const got = await scenario(l);
        expect(got).toEqual(want);
      } finally {
        e.close();
        l.close();
      }
    } finally {
      await etcd.dispose();
      await fresh.dispose();
    }
  }, 120_000);
});
