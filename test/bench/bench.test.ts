/**
 * The benchmark tool's own tests: argument parsing, histogram maths, report format, and a short smoke run of the
 * built tool (test/dist/bench/main.js) against a latchkey member.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Rng } from '../harness/random.js';
import { useMembers } from '../harness/vitest.js';
import { parseBenchArgs } from './args.js';
import { Histogram } from './histogram.js';
import { median, ratios, type Row, summarize, svg, table } from './report.js';

describe('bench - arguments', () => {
  it('defaults and explicit values', () => {
    const d = parseBenchArgs([]);
    expect(d).toMatchObject({ endpoints: ['127.0.0.1:2379'], durationMs: 5000, concurrency: 64, contenders: 16, rounds: 1, compare: false });
    const o = parseBenchArgs(['--endpoints', 'a:1,b:2', '--workloads', 'put,lock', '--duration', '0.5', '--contenders=4', '--json']);
    expect(o).toMatchObject({ endpoints: ['a:1', 'b:2'], workloads: ['put', 'lock'], durationMs: 500, contenders: 4, json: true });
  });
  it('rejects unknown flags, workloads and bad numbers with a readable message', () => {
    expect(() => parseBenchArgs(['--nope'])).toThrow(/nope/);
    expect(() => parseBenchArgs(['--workloads', 'put,fly'])).toThrow(/unknown workload "fly"/);
    expect(() => parseBenchArgs(['--concurrency', '0'])).toThrow(/positive integer/);
    expect(() => parseBenchArgs(['--duration', 'x'])).toThrow(/--duration/);
    expect(() => parseBenchArgs(['--compare', '--endpoints', 'a:1'])).toThrow(/drop --endpoints/);
  });
});

describe('bench - histogram', () => {
  it('quantiles stay within the bucket precision of the exact order statistics', () => {
    const rng = new Rng(7);
    const h = new Histogram();
    const values: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      // Log-uniform from 1 µs to 10 s.
      const v = Math.ceil(Math.exp(rng.next() * Math.log(1e7)));
      values.push(v);
      h.record(v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99, 0.999, 1]) {
      const exact = values[Math.max(0, Math.ceil(q * values.length) - 1)]!;
      const got = h.quantile(q);
      expect(got).toBeGreaterThanOrEqual(exact);
      expect(got).toBeLessThanOrEqual(exact * (1 + 1 / 128) + 1);
    }
    expect(h.count).toBe(20_000);
    expect(h.min).toBe(values[0]);
    expect(h.max).toBe(values[values.length - 1]);
  });
  it('buckets are monotonic and merge adds counts', () => {
    const h = new Histogram();
    let prev = -1;
    for (let v = 1; v < 1e6; v = Math.ceil(v * 1.01)) {
      const b = h.bucketOf(v);
      expect(b).toBeGreaterThanOrEqual(prev);
      expect(h.upperOf(b)).toBeGreaterThanOrEqual(v);
      prev = b;
    }
    const a = new Histogram();
    const b = new Histogram();
    a.record(100, 3);
    b.record(1000, 1);
    a.merge(b);
    expect(a.count).toBe(4);
    expect(a.quantile(0.75)).toBe(100);
    expect(a.quantile(1)).toBe(1000);
    expect(new Histogram().quantile(0.5)).toBe(0);
  });
});

describe('bench - report', () => {
  const row = (target: string, workload: string, perSec: number, p99ms: number, unit = 'ops', cpu?: number): Row => ({
    target,
    round: 1,
    workload,
    unit,
    ops: perSec * 5,
    errors: 0,
    perSec,
    p50ms: p99ms / 4,
    p90ms: p99ms / 2,
    p99ms,
    p999ms: p99ms * 2,
    ...(cpu === undefined ? {} : { cpuMsPerOp: cpu }),
  });
  it('medians over rounds, ratios with latchkey above 1 when faster, outages inverted', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const rows = [row('etcd', 'put', 100, 8, 'ops', 0.2), row('etcd', 'put', 300, 4, 'ops', 0.2), row('latchkey', 'put', 400, 2, 'ops', 0.1), row('etcd', 'failover', 1, 1600, 'trials'), row('latchkey', 'failover', 1, 400, 'trials')];
    const s = summarize(rows);
    expect(s.find((r) => r.target === 'etcd' && r.workload === 'put')!.perSec).toBe(200);
    const rs = ratios(s);
    expect(rs.find((r) => r.workload === 'put')).toEqual({ workload: 'put', throughput: 2, p99: 3, cpu: 2 });
    expect(rs.find((r) => r.workload === 'failover')!.throughput).toBe(4);
    const t = table(s, rs);
    expect(t.split('\n')[0]).toMatch(/^workload\s+target\s+rate\/s\s+p50 ms/);
    expect(t).toMatch(/put\s+latchkey\s+400 ops/);
    expect(t).toMatch(/put\s+2\.00x\s+p99\s+3\.00x\s+cpu\s+2\.00x/);
    const chart = svg(s);
    expect(chart.startsWith('<svg')).toBe(true);
    expect(chart.endsWith('</svg>')).toBe(true);
    expect((chart.match(/<rect /g) ?? []).length).toBe(4 + 2); // 4 bars + 2 legend boxes
  });
});

describe('bench - smoke run', () => {
  const members = useMembers();
  it('runs every client workload briefly against a latchkey member and reports JSON', async () => {
    const m = await members.start({ kind: 'latchkey' });
    const script = fileURLToPath(new URL('../dist/bench/main.js', import.meta.url));
    const workloads = 'put,get,sget,txn,watch,keepalive,lock,lock-contended,lock-shared,elect';
    const args = [script, '--endpoints', m.endpoint, '--duration', '0.8', '--concurrency', '8', '--contenders', '4', '--workloads', workloads, '--json', '--pids', String(m.pid)];
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, args, { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
    );
    const report = JSON.parse(out.trim().split('\n').pop()!) as { summary: Row[] };
    expect(report.summary.map((r) => r.workload)).toEqual(workloads.split(','));
    for (const r of report.summary) {
      expect(r.errors, `${r.workload}: ${r.firstError}`).toBe(0);
      expect(r.ops, r.workload).toBeGreaterThan(0);
      expect(r.p50ms, r.workload).toBeGreaterThan(0);
      expect(r.cpuMsPerOp, r.workload).toBeGreaterThanOrEqual(0); // /proc ticks are 10 ms: a tiny load may read 0
    }
    expect(report.summary.find((r) => r.workload === 'put')!.cpuMsPerOp).toBeGreaterThan(0);
    for (const w of ['lock-contended', 'lock-shared', 'elect']) expect(report.summary.find((r) => r.workload === w)!.handoffP50ms).toBeGreaterThan(0);
  }, 90_000);
});
