/**
 * latchctl's locks and elections with real processes: `lock status` shows the holder and the FIFO queue while
 * latchctl processes wait on one name; latchctl and etcdctl exclude each other on the same lock; elections hand
 * over in order and `elect -l` follows them; `watch --json` lines for scripts.
 *
 * Synchronisation is on observable state only: a process's output line, the lock's keys on the server, an exit.
 */
import { describe, expect, test } from 'vitest';
import { useMembers } from '../harness/vitest.js';
import { runInProcess, startTool, type ToolProcess } from './tools.js';

// One member for the file: each test works on its own lock or election name.
const members = useMembers({ scope: 'file' });
let member: ReturnType<typeof members.start> | undefined;
const shared = (): ReturnType<typeof members.start> => (member ??= members.start({ kind: 'latchkey' }));

/** Polls `check` (every 50 ms, up to 15 s) until it returns a value; a wait for server state, not a fixed sleep. */
async function waitUntil<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The keys under `<name>/`, oldest first. */
async function queueKeys(endpoint: string, name: string): Promise<string[]> {
  const r = await runInProcess(endpoint, ['get', `${name}/`, '--prefix', '--keys-only', '--sort-by=CREATE']);
  expect(r.code).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '');
}

interface StatusJson {
  kind: string;
  name: string;
  revision: number;
  holder?: { key: string; lease: number; lease_hex: string; revision: number; ttl: number } | null;
  leader?: { key: string; lease: number; lease_hex: string; revision: number; ttl: number; value: string } | null;
  waiters?: Array<{ key: string; lease_hex: string; revision: number; ttl: number }>;
  candidates?: Array<{ key: string; lease_hex: string; revision: number; ttl: number; value?: string }>;
}

async function status(endpoint: string, kind: 'lock' | 'elect', name: string): Promise<StatusJson> {
  const r = await runInProcess(endpoint, [kind, 'status', name, '-w', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as StatusJson;
}

describe('latchctl lock', () => {
  test('lock status - holder, fencing token and waiters in FIFO order while three latchctl lock processes queue on one name', async () => {
    const m = await shared();
    const procs: ToolProcess[] = [];
    try {
      const keys: string[] = [];
      for (let i = 0; i < 3; i++) {
        const p = startTool('latchctl', m.endpoint, ['lock', 'jobs']);
        procs.push(p);
        // Queue them one after the other: each starts once the previous one's key is on the server.
        const q = await waitUntil(`waiter ${i + 1} queued`, async () => {
          const k = await queueKeys(m.endpoint, 'jobs');
          return k.length === i + 1 ? k : undefined;
        });
        keys.push(q[i]!);
      }
      await procs[0]!.waitFor((out) => out === `${keys[0]}\n\n`, 'the first process to print its lock key');
      expect(procs[1]!.stdout + procs[2]!.stdout, 'waiters print nothing').toBe('');

      const s1 = await status(m.endpoint, 'lock', 'jobs');
      expect(s1.holder?.key).toBe(keys[0]);
      expect(s1.waiters?.map((w) => w.key)).toEqual([keys[1], keys[2]]);
      const revisions = [s1.holder!.revision, ...s1.waiters!.map((w) => w.revision)];
      expect([...revisions].sort((a, b) => a - b)).toEqual(revisions);
      expect(new Set(revisions).size).toBe(3);
      for (const e of [s1.holder!, ...s1.waiters!]) {
        expect(e.key).toBe(`jobs/${e.lease_hex.replace(/^0+/, '')}`);
        expect(e.ttl).toBeGreaterThan(0);
        expect(e.ttl).toBeLessThanOrEqual(10); // etcdctl lock's default session TTL
      }
      const simple = await runInProcess(m.endpoint, ['lock', 'status', 'jobs']);
      expect(simple.stdout.split('\n').slice(0, 5).map((l) => l.replace(/ttl \d+s/, 'ttl <ttl>'))).toEqual([
        `lock jobs at revision ${s1.revision}`,
        `holder: ${keys[0]} (fencing token ${revisions[0]}, lease ${s1.holder!.lease_hex}, ttl <ttl>)`,
        'waiters: 2',
        `  1. ${keys[1]} (revision ${revisions[1]}, lease ${s1.waiters![0]!.lease_hex}, ttl <ttl>)`,
        `  2. ${keys[2]} (revision ${revisions[2]}, lease ${s1.waiters![1]!.lease_hex}, ttl <ttl>)`,
      ]);

      // The holder lets go: the oldest waiter gets the lock, the other one moves up.
      expect((await procs[0]!.stop()).code).toBe(0);
      await procs[1]!.waitFor((out) => out === `${keys[1]}\n\n`, 'the second process to get the lock');
      const s2 = await status(m.endpoint, 'lock', 'jobs');
      expect([s2.holder?.key, s2.holder?.revision, s2.waiters?.map((w) => w.key)]).toEqual([keys[1], revisions[1], [keys[2]]]);

      // A waiter interrupted while queued leaves the queue (etcdctl: "context canceled", exit 1).
      const gaveUp = await procs[2]!.stop();
      expect([gaveUp.code, gaveUp.stdout, gaveUp.stderr]).toEqual([1, '', 'Error: context canceled\n']);
      const s3 = await status(m.endpoint, 'lock', 'jobs');
      expect([s3.holder?.key, s3.waiters]).toEqual([keys[1], []]);

      expect((await procs[1]!.stop()).code).toBe(0);
      const s4 = await status(m.endpoint, 'lock', 'jobs');
      expect([s4.holder, s4.waiters]).toEqual([null, []]);
      expect((await runInProcess(m.endpoint, ['lease', 'list'])).stdout, 'sessions are revoked on exit').toBe('found 0 leases\n');
    } finally {
      await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    }
  });

  test('lock - latchctl and etcdctl queue on the same lock; the command runs holding it, with ETCD_LOCK_KEY and ETCD_LOCK_REV', async () => {
    const m = await shared();
    const holder = startTool('etcdctl', m.endpoint, ['lock', 'shared']);
    let waiter: ToolProcess | undefined;
    try {
      await holder.waitFor((out) => /^shared\/[0-9a-f]+\n\n$/.test(out), 'etcdctl to hold the lock');
      waiter = startTool('latchctl', m.endpoint, ['lock', 'shared', '--', 'sh', '-c', 'echo "key=$ETCD_LOCK_KEY rev=$ETCD_LOCK_REV"; echo "inside: $(ls /nonexistent 2>/dev/null | wc -l)"']);
      const queued = await waitUntil('latchctl to queue behind etcdctl', async () => {
        const s = await status(m.endpoint, 'lock', 'shared');
        return s.waiters?.length === 1 ? s : undefined;
      });
      expect(queued.holder?.key).toBe(holder.stdout.split('\n')[0]);
      expect(waiter.stdout, 'the command does not run while etcdctl holds the lock').toBe('');
      expect((await holder.stop()).code).toBe(0);
      const done = await waiter.exited();
      expect(done.code).toBe(0);
      expect(done.stdout).toBe(`key=${queued.waiters![0]!.key} rev=${queued.waiters![0]!.revision}\ninside: 0\n`);
      expect(await queueKeys(m.endpoint, 'shared'), 'released after the command').toEqual([]);

      // A failing command: etcdctl's "Error: exit status N", exit 1; the lock is released all the same.
      const failing = await runInProcess(m.endpoint, ['lock', 'shared', '--', 'sh', '-c', 'exit 3']);
      expect([failing.code, failing.stderr]).toEqual([1, 'Error: exit status 3\n']);
      expect(await queueKeys(m.endpoint, 'shared')).toEqual([]);
    } finally {
      await holder.stop('SIGKILL');
      await waiter?.stop('SIGKILL');
    }
  });
});

describe('latchctl elect', () => {
  test('elect - campaign prints the leader key and proposal, elect -l follows hand-overs, elect status lists the candidates in order', async () => {
    const m = await shared();
    const procs: ToolProcess[] = [];
    try {
      const listener = startTool('latchctl', m.endpoint, ['elect', '-l', 'pilot']);
      procs.push(listener);
      const alice = startTool('latchctl', m.endpoint, ['elect', 'pilot', 'alice']);
      procs.push(alice);
      await alice.waitFor((out) => /^pilot\/[0-9a-f]+\nalice\n$/.test(out), 'alice to lead');
      const aliceKey = alice.stdout.split('\n')[0]!;
      await listener.waitFor((out) => out === `${aliceKey}\nalice\n`, 'the listener to see alice');
      const bob = startTool('etcdctl', m.endpoint, ['elect', 'pilot', 'bob']);
      procs.push(bob);
      const s = await waitUntil('bob to be a candidate', async () => {
        const st = await status(m.endpoint, 'elect', 'pilot');
        return st.candidates?.length === 1 ? st : undefined;
      });
      expect([s.kind, s.leader?.key, s.leader?.value, s.candidates?.map((c) => c.value)]).toEqual(['election', aliceKey, 'alice', ['bob']]);
      expect(s.leader!.revision).toBeLessThan(s.candidates![0]!.revision);
      expect(s.leader!.ttl).toBeGreaterThan(0);
      expect(s.leader!.ttl).toBeLessThanOrEqual(60);

      expect((await alice.stop()).code).toBe(0);
      await bob.waitFor((out) => /^pilot\/[0-9a-f]+\nbob\n$/.test(out), 'bob (etcdctl) to lead after alice resigned');
      const bobKey = bob.stdout.split('\n')[0]!;
      await listener.waitFor((out) => out === `${aliceKey}\nalice\n${bobKey}\nbob\n`, 'the listener to see bob');
      const simple = await runInProcess(m.endpoint, ['elect', 'status', 'pilot']);
      expect(simple.stdout.replace(/ttl \d+s/, 'ttl <ttl>').replace(/revision \d+/, 'revision <rev>').replace(/term \d+/, 'term <term>').replace(/lease [0-9a-f]{16}/, 'lease <lease>')).toBe(
        `election pilot at revision <rev>\nleader: ${bobKey} (term <term>, lease <lease>, ttl <ttl>, value "bob")\ncandidates: 0\n`,
      );
      const stopped = await listener.stop();
      expect([stopped.code, stopped.stderr]).toEqual([0, '']);
      expect((await runInProcess(m.endpoint, ['elect', 'pilot'])).code, '-l missing').toBe(128);
      expect((await runInProcess(m.endpoint, ['elect', '-l', 'pilot', 'x'])).code, 'proposal with -l').toBe(128);
    } finally {
      await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    }
  });
});

describe('latchctl watch --json', () => {
  test('watch --json - one JSON object per event (text, base64 for binary, hex lease, prev), progress and cancellation lines', async () => {
    const m = await shared();
    const lease = (await runInProcess(m.endpoint, ['lease', 'grant', '60'])).stdout.split(' ')[1]!;
    // The member is shared by this file's tests: revisions are counted from the current one.
    const base = Number(/"revision":(\d+)/.exec((await runInProcess(m.endpoint, ['get', 'j/', '-w', 'json'])).stdout)![1]);
    expect((await runInProcess(m.endpoint, ['put', 'j/a', 'one', `--lease=${lease}`])).code).toBe(0); // base + 1
    expect((await runInProcess(m.endpoint, ['put', 'j/a', 'two'])).code).toBe(0); // + 2
    expect((await runInProcess(m.endpoint, ['put', 'j/b', 'ÿþ'])).code).toBe(0); // + 3: UTF-8 text
    expect((await runInProcess(m.endpoint, ['put', 'j/bin'], { stdin: Buffer.from([0xff, 0xfe]) })).code).toBe(0); // + 4: not UTF-8
    expect((await runInProcess(m.endpoint, ['del', 'j/a'])).code).toBe(0); // + 5
    const w = startTool('latchctl', m.endpoint, ['watch', '--json', '--prefix', 'j/', `--rev=${base + 1}`, '--prev-kv']);
    try {
      await w.waitFor((out) => out.split('\n').length > 5, 'five event lines');
      const events = w.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(events.map((e) => [e['type'], e['key'], e['value'], e['value_base64'], e['revision']])).toEqual([
        ['PUT', 'j/a', 'one', undefined, base + 1],
        ['PUT', 'j/a', 'two', undefined, base + 2],
        ['PUT', 'j/b', 'ÿþ', undefined, base + 3],
        ['PUT', 'j/bin', '\ufffd\ufffd', '//4=', base + 4],
        ['DELETE', 'j/a', '', undefined, base + 5],
      ]);
      expect(events[0]).toMatchObject({ create_revision: base + 1, mod_revision: base + 1, version: 1, lease: lease.replace(/^0+/, '') });
      expect(events[0]!['prev']).toBeUndefined();
      expect(events[1]!['prev']).toMatchObject({ value: 'one', mod_revision: base + 1 });
      expect(events[4]!['prev']).toMatchObject({ value: 'two', mod_revision: base + 2 });
    } finally {
      await w.stop();
    }
    // A progress request gets a PROGRESS line per watcher; a compacted start revision a CANCELED line (and exit 3 at EOF).
    expect((await runInProcess(m.endpoint, ['compaction', String(base + 3)])).code).toBe(0);
    const i = startTool('latchctl', m.endpoint, ['watch', '-i', '--json']);
    i.write('watch j/ --prefix\nprogress\n');
    await i.waitFor((out) => out.includes('"PROGRESS"'), 'the progress line');
    i.write(`watch j/a --rev=${base + 1}\n`);
    await i.waitFor((out) => out.includes('"CANCELED"'), 'the canceled line');
    i.endInput();
    const r = await i.exited();
    expect(r.code).toBe(3);
    expect(r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown)).toEqual([
      { type: 'PROGRESS', revision: base + 5 },
      { type: 'CANCELED', reason: 'etcdserver: mvcc: required revision has been compacted', compact_revision: base + 3 },
    ]);
  });
});
