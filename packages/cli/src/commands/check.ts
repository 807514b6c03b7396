/**
 * `check perf`: etcdctl's bounded write load — `--load` s/m/l/xl (150/1000/8000/15000 puts per second from
 * 50/200/500/1000 clients, 256-byte keys under `--prefix`, 1 KiB values) — with a progress bar, then etcdctl's
 * verdict lines: throughput above 90% of the target, slowest request at most 0.5 s, standard deviation at most
 * 0.1 s, no errors (`PASS`, else `FAIL` and exit 1). The keys are deleted afterwards.
 *
 * latchctl adds `--duration` (seconds; default 60, etcdctl's fixed length) so that a check can be short.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@latchkey/client';
import { KVService, MaintenanceService } from '@latchkey/proto';
import type { CommandSpec } from '../command.js';
import type { Context } from '../context.js';
import { CliError, describeError, ExitCode, toCliError } from '../errors.js';
import { goFixed } from '../go-format.js';
import { bytes, prefixRangeEnd } from '../keys.js';

interface PerfModel {
  /** Puts per second. */
  limit: number;
  clients: number;
}

const MODELS: Record<string, PerfModel> = {
  s: { limit: 150, clients: 50 },
  m: { limit: 1000, clients: 200 },
  l: { limit: 8000, clients: 500 },
  xl: { limit: 15000, clients: 1000 },
};
const ALIASES: Record<string, string> = { s: 's', small: 's', m: 'm', medium: 'm', l: 'l', large: 'l', xl: 'xl', xLarge: 'xl' };

/** Latency statistics of the run, in seconds. */
interface Stats {
  count: number;
  totalSeconds: number;
  slowest: number;
  stddev: number;
  errors: Map<string, number>;
}

const perf: CommandSpec = {
  name: 'perf',
  use: 'perf [options]',
  short: 'Check the performance of the etcd cluster',
  flags: [
    { name: 'load', type: 'string', default: 's', usage: "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)" },
    { name: 'prefix', type: 'string', default: '/etcdctl-check-perf/', usage: "The prefix for writing the performance check's keys." },
    { name: 'auto-compact', type: 'bool', default: 'false', usage: 'Compact storage with last revision after test is finished.' },
    { name: 'auto-defrag', type: 'bool', default: 'false', usage: 'Defragment storage after test is finished.' },
    { name: 'duration', type: 'int', default: '60', usage: 'Seconds the load runs (latchctl; etcdctl always runs 60 s)' },
  ],
  async run(ctx) {
    const load = ctx.flags.string('load');
    const model = MODELS[ALIASES[load] ?? ''];
    if (!model) throw new CliError(ExitCode.BadFeature, `unknown load option ${load}`);
    const duration = Number(ctx.flags.int('duration'));
    if (duration <= 0) throw new CliError(ExitCode.BadArgs, `--duration must be positive (got ${duration})`);
    const prefix = ctx.flags.string('prefix');
    const first = await ctx.client();

    const pfx = bytes(prefix);
    const existing = await first
      .call(KVService.Range, { key: pfx, rangeEnd: prefixRangeEnd(pfx), limit: 1n }, { timeoutMs: duration * 1000, idempotent: true })
      .catch((err: unknown) => {
        throw toCliError(err, ExitCode.Error);
      });
    if (existing.kvs.length > 0) {
      throw new CliError(ExitCode.InvalidInput, `prefix ${JSON.stringify(prefix)} has keys. Delete with etcdctl del --prefix ${prefix} first`);
    }

    // One connection per simulated client, as etcdctl has (the first one did the check above).
    const clients = [first, ...(await Promise.all(Array.from({ length: model.clients - 1 }, () => ctx.client())))];
    const bar = new ProgressBar(ctx, duration);
    bar.start();
    const stats = await runLoad(clients, pfx, model, duration);
    bar.finish();

    const deleted = await first
      .call(KVService.DeleteRange, { key: pfx, rangeEnd: prefixRangeEnd(pfx) }, { timeoutMs: 30_000, idempotent: true })
      .catch((err: unknown) => {
        throw toCliError(err, ExitCode.Error);
      });
    if (ctx.flags.bool('auto-compact')) {
      const rev = deleted.header?.revision ?? 0n;
      ctx.io.out(`Compacting with revision ${rev}\n`);
      await first.call(KVService.Compact, { revision: rev, physical: true }, { timeoutMs: 30_000, idempotent: true }).catch((err: unknown) => {
        throw toCliError(err, ExitCode.Error);
      });
      ctx.io.out(`Compacted with revision ${rev}\n`);
    }
    if (ctx.flags.bool('auto-defrag')) {
      for (const ep of ctx.endpoints) {
        ctx.io.out(`Defragmenting ${JSON.stringify(ep)}\n`);
        await (await ctx.client([ep])).call(MaintenanceService.Defragment, {}, { timeoutMs: 30_000, idempotent: true }).catch((err: unknown) => {
          throw toCliError(err, ExitCode.Error);
        });
        ctx.io.out(`Defragmented ${JSON.stringify(ep)}\n`);
      }
    }

    let ok = true;
    if (stats.errors.size > 0) {
      ctx.io.out('FAIL: too many errors\n');
      for (const [k, v] of stats.errors) ctx.io.out(`FAIL: ERROR(${k}) -> ${v}\n`);
      ok = false;
    }
    const rps = stats.totalSeconds > 0 ? stats.count / stats.totalSeconds : 0;
    if (rps / model.limit <= 0.9) {
      ctx.io.out(`FAIL: Throughput too low: ${Math.trunc(rps) + 1} writes/s\n`);
      ok = false;
    } else ctx.io.out(`PASS: Throughput is ${Math.trunc(rps) + 1} writes/s\n`);
    if (stats.slowest > 0.5) {
      ctx.io.out(`Slowest request took too long: ${goFixed(stats.slowest, 6)}s\n`);
      ok = false;
    } else ctx.io.out(`PASS: Slowest request took ${goFixed(stats.slowest, 6)}s\n`);
    if (stats.stddev > 0.1) {
      ctx.io.out(`Stddev too high: ${goFixed(stats.stddev, 6)}s\n`);
      ok = false;
    } else ctx.io.out(`PASS: Stddev is ${goFixed(stats.stddev, 6)}s\n`);
    if (ok) ctx.io.out('PASS\n');
    else {
      ctx.io.out('FAIL\n');
      throw new CliError(ExitCode.Error, '', { silent: true });
    }
  },
};

/**
 * Puts at `limit` per second for `duration` seconds (a steady schedule, like etcdctl's rate limiter with burst 1),
 * each on the next of `clients` connections, at most one in flight per connection. Returns latency statistics.
 */
async function runLoad(clients: Client[], prefix: Uint8Array, model: PerfModel, duration: number): Promise<Stats> {
  const value = new Uint8Array(1024);
  const total = model.limit * duration;
  const intervalMs = 1000 / model.limit;
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  const busy = new Array<Promise<void> | undefined>(clients.length).fill(undefined);
  const start = performance.now();
  let lastEnd = start;
  const inflight = new Set<Promise<void>>();
  for (let i = 0; i < total; i++) {
    const due = start + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const slot = i % clients.length;
    // A connection still busy with its previous put makes this one wait (etcdctl: a bounded request channel).
    if (busy[slot]) await busy[slot];
    const key = new Uint8Array(prefix.length + 256);
    key.set(prefix, 0);
    key.set(randomBytes(8), prefix.length);
    const t0 = performance.now();
    const p = clients[slot]!
      .call(KVService.Put, { key, value }, { timeoutMs: 30_000, idempotent: false })
      .then(
        () => {
          latencies.push((performance.now() - t0) / 1000);
        },
        (err: unknown) => {
          const k = describeError(err);
          errors.set(k, (errors.get(k) ?? 0) + 1);
        },
      )
      .finally(() => {
        lastEnd = Math.max(lastEnd, performance.now());
        inflight.delete(p);
        if (busy[slot] === p) busy[slot] = undefined;
      });
    busy[slot] = p;
    inflight.add(p);
  }
  await Promise.all([...inflight]);
  const n = latencies.length;
  const mean = n > 0 ? latencies.reduce((a, b) => a + b, 0) / n : 0;
  const variance = n > 0 ? latencies.reduce((a, b) => a + (b - mean) ** 2, 0) / n : 0;
  return {
    count: n,
    totalSeconds: (lastEnd - start) / 1000,
    slowest: n > 0 ? Math.max(...latencies) : 0,
    stddev: Math.sqrt(variance),
    errors,
  };
}

/**
 * The progress bar etcdctl draws (cheggaaa/pb with etcdctl's "Bom !" format) over the run's seconds: on a
 * terminal `\r 12 / 60 Boooooooom              !  20.00% 00m48s`, otherwise the counters alone.
 */
class ProgressBar {
  private current = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  constructor(
    private readonly ctx: Context,
    private readonly total: number,
  ) {}

  start(): void {
    this.draw();
    this.timer = setInterval(() => {
      if (this.current < this.total) this.current++;
      this.draw();
    }, 1000);
  }

  finish(): void {
    clearInterval(this.timer);
    this.current = this.total;
    this.draw();
    this.ctx.io.out('\n');
  }

  private draw(): void {
    const pct = (this.current / this.total) * 100;
    const width = String(this.total).length;
    const counter = ` ${String(this.current).padStart(width)} / ${this.total}`;
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const remaining = this.current >= this.total ? 0 : Math.max(0, Math.round(this.total - elapsed));
    const eta = `${String(Math.floor(remaining / 60)).padStart(2, '0')}m${String(remaining % 60).padStart(2, '0')}s`;
    let bar = ' ';
    if (this.ctx.io.isTTY) {
      const cells = Math.max(10, Math.min(60, (process.stdout.columns ?? 80) - counter.length - 20));
      const done = Math.floor((cells * this.current) / this.total);
      bar = ` B${'o'.repeat(Math.max(0, done - 1))}${done > 0 ? (done >= cells ? 'o' : 'm') : ''}${' '.repeat(cells - done)}! `;
    }
    this.ctx.io.out(`\r${counter}${bar}${goFixed(pct, 2).padStart(6)}% ${eta}`);
  }
}

export const checkCommand: CommandSpec = {
  name: 'check',
  use: 'check <subcommand>',
  short: 'commands for checking properties of the etcd cluster',
  subcommands: [perf],
};

