/**
 * The SDK's lock with real processes (test/workers/lock-worker.ts), against a latchkey member:
 *  - 8 workers contend for one lock and increment a shared counter with guarded writes while holders are SIGKILLed
 *    on a seeded schedule: no two successful writes overlap, fencing tokens increase in commit order, no
 *    acknowledged increment is lost, and the lock is taken again within TTL + 1 s of a holder's death;
 *  - the checker's negative controls: workers without the lock lose updates, and doctored histories are caught;
 *  - a holder paused (SIGSTOP) past its TTL learns of the loss through `held.signal` on waking, and its guarded
 *    write fails while the new holder's succeed;
 *  - our lock, etcd's Go concurrency.Mutex and `etcdctl lock` on the same name exclude each other; our election
 *    and `etcdctl elect` share one election.
 * Workers run from the build (test/dist/workers/lock-worker.js): `npx tsc -b` first (npm test does).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@latchkey/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLockHistory, type WorkerEvent } from '../checker/lock-history.js';
import { type Member } from '../harness/processes.js';
import { Rng, seedFromEnv } from '../harness/random.js';
import { useMembers } from '../harness/vitest.js';
import { WorkerPool } from '../workers/pool.js';

const members = useMembers({ scope: 'file' });
let member: Member;
let client: Client;
beforeAll(async () => {
  member = await members.start({ kind: 'latchkey' });
  client = new Client({ endpoints: [member.endpoint] });
}, 60_000);
afterAll(() => client?.close());

async function counterValue(name: string): Promise<number> {
  return Number((await client.getString(`${name}-counter`)) ?? '0');
}

describe('lock - many processes', () => {
  it('8 workers under holder SIGKILLs: guarded writes never overlap, tokens increase, handoff within TTL + 1 s', async () => {
    const seed = seedFromEnv('LOCK_SEED', 1337);
    const rng = new Rng(seed);
    const ttl = 2;
    const name = '/procs/lock';
    const pool = new WorkerPool({ endpoints: member.endpoint, name, mode: 'guarded', ttl, holdMs: 3 });
    try {
      pool.spawn(8);
      await pool.waitFor((e) => e.ev === 'write', 20);
      const holderKills = 5;
      for (let k = 0; k < holderKills; k++) {
        // Nemesis schedule: a seeded pause, then kill whoever is in its critical section.
        await new Promise((r) => setTimeout(r, rng.between(50, 400)));
        let victim = pool.holder();
        for (let tries = 0; victim === undefined && tries < 200; tries++) {
          await pool.waitFor((e) => e.ev === 'acquired', pool.events.filter((e) => e.ev === 'acquired').length + 1, 10_000);
          victim = pool.holder();
        }
        expect(victim, 'a holder to kill').toBeDefined();
        const killedAt = Date.now();
        pool.kill(victim!);
        pool.spawn(1);
        // The next kill comes after the lock changed hands again.
        await pool.waitFor((e) => e.ev === 'acquired' && e.t >= killedAt && e.id !== victim, 1, (ttl + 5) * 1000);
      }
      await pool.waitFor((e) => e.ev === 'write', pool.events.filter((e) => e.ev === 'write').length + 10);
    } finally {
      await pool.stopAll();
    }
    const result = checkLockHistory(pool.events, await counterValue(name), pool.kills, ttl * 1000 + 1000);
    const summary = `seed ${seed}: ${result.successfulWrites} writes, ${result.acquisitions} acquisitions, handoffs after kill ${result.handoffsAfterKillMs.join(',')} ms`;
    expect(result.violations, summary).toEqual([]);
    expect(result.handoffsAfterKillMs.length, summary).toBeGreaterThanOrEqual(5);
    expect(result.successfulWrites, summary).toBeGreaterThan(30);
    console.log(`lock-processes: ${summary}`);
  }, 120_000);

  it('negative control: the same workers without the lock lose updates, and the checker says so', async () => {
    const name = '/procs/unsafe';
    const pool = new WorkerPool({ endpoints: member.endpoint, name, mode: 'unsafe', holdMs: 2, cycles: 25 });
    pool.spawn(8);
    await pool.drain();
    const result = checkLockHistory(pool.events, await counterValue(name), [], 3000);
    expect(result.successfulWrites).toBe(200);
    expect(result.violations.some((v) => v.includes('written twice'))).toBe(true);
  }, 60_000);

  it('negative control: doctored histories (decreasing token, lost write, slow handoff) are reported', () => {
    const w = (id: string, token: string, value: number, rev: string, t = 0): WorkerEvent => ({ ev: 'write', id, token, ok: true, value, rev, t });
    const a = (id: string, t: number): WorkerEvent => ({ ev: 'acquired', id, t, token: '1' });
    const good = [a('w1', 0), w('w1', '10', 1, '11'), a('w2', 100), w('w2', '12', 2, '13')];
    expect(checkLockHistory(good, 2, [], 1000).violations).toEqual([]);
    expect(checkLockHistory([w('w1', '12', 1, '11'), w('w2', '10', 2, '13')], 2, [], 1000).violations.join()).toMatch(/token did not increase/);
    expect(checkLockHistory(good, 1, [], 1000).violations.join()).toMatch(/a write was lost/);
    expect(checkLockHistory(good, 3, [], 1000).violations.join()).toMatch(/no acknowledged write/);
    expect(checkLockHistory(good, 2, [{ id: 'w1', t: 50, holding: true }], 10).violations.join()).toMatch(/lock was free for 50 ms/);
  });

  it('a holder paused past its TTL: held.signal aborts on waking and its guarded write fails', async () => {
    const name = '/procs/paused';
    const pool = new WorkerPool({ endpoints: member.endpoint, name, mode: 'hold', ttl: 2 });
    try {
      const [id] = pool.spawn(1);
      const [acq] = await pool.waitFor((e) => e.ev === 'acquired');
      pool.kill(id!, 'SIGSTOP');
      const stoppedAt = Date.now();
      // The server expires the paused holder's lease; we get the lock after it.
      const held = await client.lock.acquire(name, { ttl: 5, timeoutMs: 15_000 });
      expect(held.fencingToken > BigInt(acq!.token!)).toBe(true);
      expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(1_000);
      await held.put(`${name}-counter`, '100');
      pool.kill(id!, 'SIGCONT');
      const [lost] = await pool.waitFor((e) => e.ev === 'lost', 1, 10_000);
      expect(lost!.id).toBe(id);
      pool.send(id!, 'write');
      const [write] = await pool.waitFor((e) => e.ev === 'write', 1, 10_000);
      expect(write).toMatchObject({ ok: false, error: 'LockLostError' });
      expect(await counterValue(name)).toBe(100);
      await held.put(`${name}-counter`, '101');
      await held.release();
    } finally {
      await pool.stopAll();
    }
  }, 60_000);
});

describe('lock - tasks of one process', () => {
  it('8 tasks on one session hand the key over locally, tokens increase, and another process is not overtaken', async () => {
    const name = '/local/lock';
    const local = new Client({ endpoints: [member.endpoint] });
    const pool = new WorkerPool({ endpoints: member.endpoint, name, mode: 'plain', ttl: 10, cycles: 5 });
    const tokens: bigint[] = [];
    let lastLocalWrite = 0;
    try {
      const tasks = Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 20; i++) {
          const held = await local.lock.acquire(name, { ttl: 10 });
          tokens.push(held.fencingToken);
          const n = Number((await local.getString(`${name}-counter`)) ?? '0');
          await held.put(`${name}-counter`, String(n + 1));
          lastLocalWrite = Date.now();
          await held.release();
        }
      });
      pool.spawn(1);
      await Promise.all(tasks);
      await pool.drain();
    } finally {
      await local.lock.close();
      local.close();
    }
    const workerWrites = pool.events.filter((e) => e.ev === 'write' && e.ok);
    expect(workerWrites.length, pool.stderr.join('')).toBe(5);
    expect(await counterValue(name)).toBe(8 * 20 + 5);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]! > tokens[i - 1]!, `token ${i}`).toBe(true);
    // The other process queued while the local tasks kept the lock busy, and still got all its turns before the
    // local tasks were done: local hand-overs never skip a waiter of another process.
    expect(Math.max(...workerWrites.map((e) => e.t))).toBeLessThan(lastLocalWrite);
  }, 60_000);
});

describe('lock - interop with etcd Go Mutex and etcdctl on the same name', () => {
  let recipes = '';
  beforeAll(() => {
    recipes = execFileSync(fileURLToPath(new URL('../go/build.sh', import.meta.url)), { encoding: 'utf8' }).trim();
  }, 180_000);

  const run = (cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const p = spawn(cmd, args);
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });

  it('3 of our workers and 3 Go Mutex processes, 15 cycles each: no lost update', async () => {
    const name = '/interop/mixed';
    const pool = new WorkerPool({ endpoints: member.endpoint, name, mode: 'plain', ttl: 10, holdMs: 1, cycles: 15 });
    pool.spawn(3);
    const go = await Promise.all([1, 2, 3].map(() => run(recipes, ['-endpoints', member.endpoint, '-op', 'lock', '-name', name, '-cycles', '15'])));
    await pool.drain();
    for (const g of go) expect(g.code, g.stderr).toBe(0);
    const ours = pool.events.filter((e) => e.ev === 'write' && e.ok).length;
    expect(ours).toBe(45);
    expect(await counterValue(name)).toBe(90);
  }, 120_000);

  it('etcdctl lock waits behind our holder and gets the lock after we release', async () => {
    const name = '/interop/etcdctl';
    const held = await client.lock.acquire(name, { ttl: 10 });
    const p = spawn('etcdctl', ['--endpoints', member.endpoint, 'lock', name, '--', 'etcdctl', '--endpoints', member.endpoint, 'put', `${name}-by`, 'etcdctl'], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const exited = new Promise<number>((resolve) => p.on('exit', (c) => resolve(c ?? -1)));
    // etcdctl's waiter key appears behind ours (FIFO by create revision).
    for (;;) {
      const s = await client.lock.status(name);
      if (s.waiters.length === 1) {
        expect(s.holder!.revision).toBe(held.fencingToken);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await client.getString(`${name}-by`)).toBeUndefined();
    await held.release();
    expect(await exited).toBe(0);
    expect(await client.getString(`${name}-by`)).toBe('etcdctl');
    // And the other way round: while etcdctl holds (running a command that waits for a file we create), we wait.
    const gate = path.join(mkdtempSync(path.join(tmpdir(), 'lk-gate-')), 'go');
    const holder = spawn('etcdctl', ['--endpoints', member.endpoint, 'lock', name, '--', 'sh', '-c', `while [ ! -f ${gate} ]; do sleep 0.02; done`], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const holderExit = new Promise<number>((resolve) => holder.on('exit', (c) => resolve(c ?? -1)));
    while ((await client.lock.status(name)).holder === undefined) await new Promise((r) => setTimeout(r, 20));
    let ours = false;
    const acquiring = client.lock.acquire(name, { ttl: 10 }).then((h) => ((ours = true), h));
    while ((await client.lock.status(name)).waiters.length < 1) await new Promise((r) => setTimeout(r, 20));
    expect(ours).toBe(false);
    writeFileSync(gate, '');
    expect(await holderExit).toBe(0);
    const h2 = await acquiring;
    expect(h2.fencingToken > held.fencingToken).toBe(true);
    await h2.release();
  }, 60_000);

  it('our election and etcdctl elect share one election', async () => {
    const name = '/interop/election';
    const e = client.election(name);
    const term = await e.campaign('node-ours', { ttl: 10 });
    const elect = spawn('etcdctl', ['--endpoints', member.endpoint, 'elect', name, 'node-etcdctl'], { env: { ...process.env, ETCDCTL_API: '3' } });
    let out = '';
    elect.stdout.on('data', (d) => (out += d));
    const exited = new Promise<void>((resolve) => elect.on('exit', () => resolve()));
    try {
      const seen: string[] = [];
      const ac = new AbortController();
      const observing = (async () => {
        for await (const o of e.observe({ signal: ac.signal })) {
          seen.push(o.none ? '(none)' : o.value);
          if (!o.none && o.value === 'node-etcdctl') ac.abort();
        }
      })();
      // etcdctl queues behind us; when we resign it becomes leader and prints its key and value.
      while ((await client.range(`${name}/`, { prefix: true, countOnly: true })).count < 2n) await new Promise((r) => setTimeout(r, 20));
      expect((await e.leader()).value).toBe('node-ours');
      expect(out).toBe('');
      await term.resign();
      await observing;
      expect(seen[0]).toBe('node-ours');
      expect(seen[seen.length - 1]).toBe('node-etcdctl');
      // etcdctl prints once its own campaign call returns, which may come after our observer saw it lead.
      const printed = new Promise<void>((resolve) => {
        const check = (): void => void (out.includes('node-etcdctl\n') && resolve());
        elect.stdout.on('data', check);
        check();
      });
      await printed;
      expect(out).toMatch(new RegExp(`^${name}/[0-9a-f]+\\nnode-etcdctl\\n`));
    } finally {
      elect.kill('SIGINT');
      await exited;
    }
  }, 60_000);
});

