/**
 * latchctl's snapshot and check commands: `snapshot save` writes the same file etcdctl writes from the same
 * member, `snapshot status` reads snapshot files as etcdctl does (all formats), `snapshot restore` refuses what
 * etcdctl refuses, and `check perf` runs a short bounded load with etcdctl's verdict lines.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { cleanStderr } from '../harness/etcdctl.js';
import { useMembers } from '../harness/vitest.js';
import { errorLines, runInProcess, runTool, type Tool, type ToolOptions } from './tools.js';

const shared = useMembers({ scope: 'file' });
const members = useMembers();
let latchkey: ReturnType<typeof shared.start> | undefined;
/** One latchkey member for the file (the perf check uses its own key prefix). */
const sharedLatchkey = (): ReturnType<typeof shared.start> => (latchkey ??= shared.start({ kind: 'latchkey' }));
/** latchctl in-process (its `run()`), etcdctl as a process. */
const tool = (t: Tool, endpoint: string | undefined, args: readonly string[], options: ToolOptions = {}) =>
  t === 'latchctl' ? runInProcess(endpoint, args, options) : runTool(t, endpoint, args, options);

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'latchctl-test-'));
}

const both = <T>(fn: (tool: Tool) => Promise<T>): Promise<[T, T]> => Promise.all([fn('etcdctl'), fn('latchctl')]);

describe('latchctl snapshot', () => {
  test('snapshot - save from one member gives etcdctl\'s file; status of etcd\'s and latchkey\'s snapshots as etcdctl reads them; restore errors', async () => {
    const [lk, etcd] = await Promise.all([sharedLatchkey(), members.start({ kind: 'etcd' })]);
    const dir = tmpDir();
    try {
      for (const m of [lk, etcd]) for (const v of ['1', '2', '3']) expect((await runInProcess(m.endpoint, ['put', `k${v}`, v])).code).toBe(0);
      // The same member, no writes in between: etcdctl and latchctl save byte-identical files.
      const saved = await both((tool) => runTool(tool, lk.endpoint, ['snapshot', 'save', path.join(dir, `lk-${tool}.db`)]));
      for (const [tool, r] of [['etcdctl', saved[0]], ['latchctl', saved[1]]] as const) {
        expect([r.code, r.stdout]).toEqual([0, `Snapshot saved at ${path.join(dir, `lk-${tool}.db`)}\n`]);
      }
      expect(saved[1].stderr).toBe('');
      expect(fs.readFileSync(path.join(dir, 'lk-latchctl.db')).equals(fs.readFileSync(path.join(dir, 'lk-etcdctl.db')))).toBe(true);
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.part'))).toEqual([]);
      expect((await runInProcess(etcd.endpoint, ['snapshot', 'save', path.join(dir, 'etcd.db')])).code).toBe(0);

      // status: both tools on the same files, every format.
      for (const file of ['etcd.db', 'lk-latchctl.db']) {
        for (const w of ['simple', 'json', 'table', 'fields']) {
          const [e, l] = await both((t) => tool(t, undefined, ['snapshot', 'status', path.join(dir, file), '-w', w]));
          expect.soft({ code: l.code, stdout: l.stdout, stderr: l.stderr }, `snapshot status ${file} -w ${w}`).toEqual({ code: e.code, stdout: e.stdout, stderr: cleanStderr(e.stderr) });
        }
      }
      const etcdStatus = await runInProcess(undefined, ['snapshot', 'status', path.join(dir, 'etcd.db'), '-w', 'json']);
      expect(etcdStatus.stdout).toMatch(/^\{"hash":\d+,"revision":4,"totalKey":\d+,"totalSize":\d+\}\n$/);
      const errs: string[][] = [
        ['snapshot', 'status', path.join(dir, 'nosuch.db')],
        ['snapshot', 'status', '/etc/hostname'],
        ['snapshot', 'status'],
        ['snapshot', 'save'],
        ['--endpoints=127.0.0.1:1,127.0.0.1:2', 'snapshot', 'save', path.join(dir, 'x.db')],
        ['snapshot', 'restore', path.join(dir, 'etcd.db'), '--name', 'm1', '--data-dir', path.join(dir, 'r')],
        ['snapshot', 'restore', path.join(dir, 'etcd.db'), '--data-dir', dir],
        ['snapshot', 'restore'],
      ];
      for (const args of errs) {
        const [e, l] = await both((t) => tool(t, undefined, args, { noEndpointFlag: true }));
        expect.soft([l.code, l.stdout, errorLines(l.stderr)], `$ <ctl> ${args.join(' ')}`).toEqual([e.code, e.stdout, errorLines(e.stderr)]);
      }
      // A restore that etcdctl would do: a latchkey data directory appears, and nothing is printed.
      const restored = await runInProcess(undefined, ['snapshot', 'restore', path.join(dir, 'etcd.db'), '--name', 'm1', '--initial-cluster', 'm1=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--data-dir', path.join(dir, 'restored')]);
      expect([restored.code, restored.stdout, restored.stderr]).toEqual([0, '', '']);
      expect(fs.readdirSync(path.join(dir, 'restored', 'member')).sort()).toEqual(['db', 'wal']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('latchctl check perf', () => {
  test('check perf - a 2 s load with a progress bar, etcdctl\'s verdict lines, keys removed; refuses a used prefix and unknown loads as etcdctl', async () => {
    const m = await sharedLatchkey();
    const r = await runTool('latchctl', m.endpoint, ['check', 'perf', '--duration=2'], { timeoutMs: 30_000 });
    const [bar, ...verdict] = r.stdout.split('\n').filter((l) => l !== '');
    expect(bar).toMatch(/^\r 0 \/ 2 +0\.00% 00m0[12]s(\r [12] \/ 2 +(50\.00|100\.00)% 00m0[0-2]s)+$/);
    expect(verdict).toHaveLength(4);
    expect(verdict[0]).toMatch(/^(PASS: Throughput is|FAIL: Throughput too low:) \d+ writes\/s$/);
    expect(verdict[1]).toMatch(/^(PASS: Slowest request took|Slowest request took too long:) \d+\.\d{6}s$/);
    expect(verdict[2]).toMatch(/^(PASS: Stddev is|Stddev too high:) \d+\.\d{6}s$/);
    const passed = verdict.slice(0, 3).every((l) => l.startsWith('PASS: '));
    expect([verdict[3], r.code]).toEqual(passed ? ['PASS', 0] : ['FAIL', 1]);
    // 150 puts a second for 2 s, all acknowledged (a throughput failure would show as FAIL above, not here).
    expect(Number(/(\d+) writes\/s/.exec(verdict[0]!)![1])).toBeGreaterThan(100);
    expect((await runInProcess(m.endpoint, ['get', '--prefix', '/etcdctl-check-perf/', '--keys-only'])).stdout).toBe('');

    expect((await runInProcess(m.endpoint, ['put', '/etcdctl-check-perf/x', 'y'])).code).toBe(0);
    for (const args of [['check', 'perf'], ['check', 'perf', '--load=huge']]) {
      const [e, l] = await both((t) => tool(t, m.endpoint, args));
      expect.soft([l.code, l.stdout, l.stderr], `$ <ctl> ${args.join(' ')}`).toEqual([e.code, e.stdout, cleanStderr(e.stderr)]);
    }
  });
});
