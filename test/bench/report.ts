/**
 * Benchmark results as a terminal table, JSON, and an SVG/HTML chart. Pure functions of the results, so they
 * are unit-tested without running anything.
 */
import type { Histogram } from './histogram.js';
import type { WorkloadResult } from './workloads.js';

/** One workload's figures on one target in one round. */
export interface Row {
  target: string;
  round: number;
  workload: string;
  unit: string;
  ops: number;
  errors: number;
  perSec: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
  p999ms: number;
  handoffP50ms?: number;
  handoffP99ms?: number;
  /** Server CPU milliseconds per operation (absent when the server processes are unknown). */
  cpuMsPerOp?: number;
  firstError?: string;
}

const ms = (h: Histogram, q: number): number => Math.round(h.quantile(q) / 10) / 100;

export function toRow(target: string, round: number, r: WorkloadResult, serverCpuSeconds: number | undefined): Row {
  const row: Row = {
    target,
    round,
    workload: r.workload,
    unit: r.unit,
    ops: r.ops,
    errors: r.errors,
    perSec: r.seconds > 0 ? Math.round((r.ops / r.seconds) * 10) / 10 : 0,
    p50ms: ms(r.latency, 0.5),
    p90ms: ms(r.latency, 0.9),
    p99ms: ms(r.latency, 0.99),
    p999ms: ms(r.latency, 0.999),
  };
  if (r.handoff && r.handoff.count > 0) {
    row.handoffP50ms = ms(r.handoff, 0.5);
    row.handoffP99ms = ms(r.handoff, 0.99);
  }
  if (serverCpuSeconds !== undefined && r.ops > 0) row.cpuMsPerOp = Math.round((serverCpuSeconds * 1000 * 10_000) / r.ops) / 10_000;
  if (r.firstError !== undefined) row.firstError = r.firstError;
  return row;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Medians over rounds per (target, workload), in first-seen order. */
export function summarize(rows: readonly Row[]): Row[] {
  const keys = [...new Set(rows.map((r) => `${r.target}\u0000${r.workload}`))];
  return keys.map((k) => {
    const [target, workload] = k.split('\u0000') as [string, string];
    const rs = rows.filter((r) => r.target === target && r.workload === workload);
    const pick = (f: (r: Row) => number | undefined): number | undefined => {
      const v = rs.map(f).filter((x): x is number => x !== undefined);
      return v.length ? median(v) : undefined;
    };
    const out: Row = {
      target,
      round: 0,
      workload,
      unit: rs[0]!.unit,
      ops: rs.reduce((s, r) => s + r.ops, 0),
      errors: rs.reduce((s, r) => s + r.errors, 0),
      perSec: pick((r) => r.perSec)!,
      p50ms: pick((r) => r.p50ms)!,
      p90ms: pick((r) => r.p90ms)!,
      p99ms: pick((r) => r.p99ms)!,
      p999ms: pick((r) => r.p999ms)!,
    };
    const h50 = pick((r) => r.handoffP50ms);
    const h99 = pick((r) => r.handoffP99ms);
    const cpu = pick((r) => r.cpuMsPerOp);
    if (h50 !== undefined) out.handoffP50ms = h50;
    if (h99 !== undefined) out.handoffP99ms = h99;
    if (cpu !== undefined) out.cpuMsPerOp = cpu;
    const err = rs.find((r) => r.firstError)?.firstError;
    if (err !== undefined) out.firstError = err;
    return out;
  });
}

export interface Ratio {
  workload: string;
  /** latchkey ÷ etcd throughput (for failover/recovery: etcd ÷ latchkey outage p50, so > 1 is better too). */
  throughput: number;
  p99: number;
  cpu?: number;
}

/** Per workload, latchkey relative to etcd; above 1 means latchkey is better. */
export function ratios(summary: readonly Row[], a = 'latchkey', b = 'etcd'): Ratio[] {
  const out: Ratio[] = [];
  for (const ra of summary.filter((r) => r.target === a)) {
    const rb = summary.find((r) => r.target === b && r.workload === ra.workload);
    if (!rb) continue;
    const outage = ra.unit === 'trials';
    const div = (x: number, y: number): number => (y === 0 ? 0 : Math.round((x / y) * 100) / 100);
    const ratio: Ratio = {
      workload: ra.workload,
      throughput: outage ? div(rb.p50ms, ra.p50ms) : div(ra.perSec, rb.perSec),
      p99: div(rb.p99ms, ra.p99ms),
    };
    if (ra.cpuMsPerOp !== undefined && rb.cpuMsPerOp !== undefined) ratio.cpu = div(rb.cpuMsPerOp, ra.cpuMsPerOp);
    out.push(ratio);
  }
  return out;
}

function pad(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

const fmt = (n: number | undefined, digits = 2): string => (n === undefined ? '-' : n.toFixed(digits));

/** The terminal table: one line per (workload, target), then the ratios when two targets were compared. */
export function table(summary: readonly Row[], rs: readonly Ratio[] = []): string {
  const head = ['workload', 'target', 'rate/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'handoff p50', 'handoff p99', 'cpu ms/op', 'errors'];
  const lines = summary.map((r) => [
    r.workload,
    r.target,
    r.unit === 'trials' ? `${r.ops} trials` : `${r.perSec.toFixed(0)} ${r.unit}`,
    fmt(r.p50ms),
    fmt(r.p90ms),
    fmt(r.p99ms),
    fmt(r.p999ms),
    fmt(r.handoffP50ms),
    fmt(r.handoffP99ms),
    fmt(r.cpuMsPerOp, 3),
    String(r.errors),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const out = [pad(head, widths), ...lines.map((l) => pad(l, widths))];
  if (rs.length > 0) {
    out.push('', 'latchkey vs etcd (above 1 = latchkey better): throughput (outage for failover/recovery), p99, cpu per op');
    for (const r of rs) out.push(`  ${r.workload.padEnd(16)} ${r.throughput.toFixed(2).padStart(7)}x  p99 ${r.p99.toFixed(2).padStart(6)}x  cpu ${r.cpu === undefined ? '   -' : r.cpu.toFixed(2).padStart(6)}x`);
  }
  return out.join('\n');
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** A grouped bar chart (one group per workload, one bar per target) of throughput relative to the best target. */
export function svg(summary: readonly Row[]): string {
  const workloads = [...new Set(summary.map((r) => r.workload))];
  const targets = [...new Set(summary.map((r) => r.target))];
  const colors = ['#4c78a8', '#f58518', '#54a24b', '#e45756'];
  const rowH = 18 * targets.length + 14;
  const width = 760;
  const left = 140;
  const barMax = width - left - 150;
  const height = 40 + workloads.length * rowH + 20 * targets.length;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Throughput per workload (bar length relative to the faster target)</text>`,
  ];
  workloads.forEach((w, i) => {
    const y0 = 36 + i * rowH;
    const rows = targets.map((t) => summary.find((r) => r.target === t && r.workload === w));
    const outage = rows[0]?.unit === 'trials';
    const vals = rows.map((r) => (r === undefined ? 0 : outage ? (r.p50ms > 0 ? 1 / r.p50ms : 0) : r.perSec));
    const best = Math.max(...vals, 1e-9);
    parts.push(`<text x="10" y="${y0 + 13}">${esc(w)}</text>`);
    rows.forEach((r, j) => {
      if (!r) return;
      const len = Math.max(1, (vals[j]! / best) * barMax);
      const y = y0 + j * 18;
      const label = outage ? `${r.p50ms.toFixed(0)} ms outage` : `${r.perSec.toFixed(0)} ${r.unit}/s`;
      parts.push(`<rect x="${left}" y="${y}" width="${len.toFixed(1)}" height="14" fill="${colors[j % colors.length]}"/>`);
      parts.push(`<text x="${left + len + 6}" y="${y + 11}">${esc(label)}</text>`);
    });
  });
  targets.forEach((t, j) => {
    const y = 36 + workloads.length * rowH + j * 20;
    parts.push(`<rect x="10" y="${y}" width="12" height="12" fill="${colors[j % colors.length]}"/><text x="28" y="${y + 10}">${esc(t)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export function html(summary: readonly Row[], rs: readonly Ratio[], meta: Record<string, string>): string {
  const metaRows = Object.entries(meta)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>latchkey benchmark</title>
<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em}th{text-align:left;padding-right:1em}</style></head>
<body><h1>latchkey benchmark</h1><table>${metaRows}</table>${svg(summary)}<pre>${esc(table(summary, rs))}</pre></body></html>\n`;
}
