/**
 * `npm run bench`: latchkey's benchmark tool. Runs the workloads in ./workloads.ts against existing endpoints, a
 * latchkey cluster it starts (`--start`), or an etcd cluster and a latchkey cluster started with identical flags
 * and measured alternately (`--compare`), and prints a table of medians (or JSON), optionally an SVG/HTML chart.
 * See BENCHMARKS.md for the method and the latest figures.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Cluster } from '../harness/cluster.js';
import { WorkerPool } from '../workers/pool.js';
import { type BenchOptions, parseBenchArgs, USAGE } from './args.js';
import { cpuSeconds } from './cpu.js';
import { Progress } from './progress.js';
import { html, ratios, type Row, summarize, svg, table, toRow } from './report.js';
import { type ClusterControl, workloads } from './workloads.js';

function control(cluster: Cluster): ClusterControl {
  return {
    async killLeader() {
      const leader = await cluster.leader();
      await leader.kill('SIGKILL');
      return async () => {
        await leader.restart({ waitHealthy: true });
      };
    },
    async spawnHolder(name, ttl) {
      const pool = new WorkerPool({ endpoints: cluster.endpoints, name, mode: 'hold', ttl });
      const [id] = pool.spawn(1);
      await pool.waitFor((e) => e.ev === 'acquired', 1, 30_000);
      return { kill: () => pool.kill(id!), done: pool.stopAll() };
    },
  };
}

interface Target {
  name: string;
  endpoints: string[];
  pids: () => number[];
  cluster?: ClusterControl;
  dispose(): Promise<void>;
}

/**
 * Starts a cluster. Its endpoints are listed followers first: the SDK talks to the first endpoint it can reach,
 * so every workload's clients talk to a follower (as two of three clients of a 3-member cluster do), on both
 * targets alike. Which member wins the first election is chance; without this, a client on the leader (no
 * forwarding hop) or on a follower would swing single-connection workloads such as keepalive several-fold.
 */
async function startTarget(kind: 'etcd' | 'latchkey', members: number): Promise<Target> {
  const cluster = await Cluster.start({ kind, size: members });
  const leader = members > 1 ? (await cluster.leader()).endpoint : undefined;
  const all = cluster.endpoints.split(',');
  return {
    name: kind,
    endpoints: [...all.filter((e) => e !== leader), ...all.filter((e) => e === leader)],
    pids: () => cluster.members.map((m) => m.pid).filter((p): p is number => p !== undefined),
    cluster: control(cluster),
    dispose: () => cluster.dispose(),
  };
}

async function runTarget(o: BenchOptions, target: Target, round: number, progress: Progress, step: { n: number }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const w of o.workloads) {
    const label = `${target.name} round ${round} ${w}`;
    const base = step.n;
    const pids = target.pids();
    const cpu0 = pids.length ? cpuSeconds(pids) : 0;
    const result = await workloads[w]!({
      endpoints: target.endpoints,
      durationMs: o.durationMs,
      concurrency: o.concurrency,
      contenders: o.contenders,
      valueSize: o.valueSize,
      trials: o.trials,
      cluster: target.cluster,
      onProgress: (f) => progress.update(base + f, label),
    });
    const cpu = pids.length ? cpuSeconds(target.pids()) - cpu0 : undefined;
    rows.push(toRow(target.name, round, result, w === 'failover' || w === 'lock-recovery' ? undefined : cpu));
    step.n = base + 1;
    progress.update(step.n, label);
  }
  return rows;
}

async function main(): Promise<void> {
  let o: BenchOptions;
  try {
    o = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const kinds: ('etcd' | 'latchkey')[] = o.compare ? ['etcd', 'latchkey'] : ['latchkey'];
  const totalSteps = o.workloads.length * o.rounds * (o.compare ? 2 : 1);
  const progress = new Progress(totalSteps);
  const step = { n: 0 };
  const rows: Row[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    if (o.compare || o.start) {
      for (const kind of kinds) {
        const target = await startTarget(kind, o.members);
        try {
          rows.push(...(await runTarget(o, target, round, progress, step)));
        } finally {
          await target.dispose();
        }
      }
    } else {
      const target: Target = { name: o.targetName, endpoints: o.endpoints, pids: () => o.pids, dispose: async () => undefined };
      rows.push(...(await runTarget(o, target, round, progress, step)));
    }
  }
  progress.done();
  const summary = summarize(rows);
  const rs = o.compare ? ratios(summary) : [];
  const meta = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`,
    node: process.version,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
    setup: o.compare || o.start ? `${o.members} members on loopback, fresh data dirs` : `endpoints ${o.endpoints.join(',')}`,
  };
  if (o.svg) writeFileSync(o.svg, svg(summary));
  if (o.html) writeFileSync(o.html, html(summary, rs, meta));
  if (o.json) process.stdout.write(JSON.stringify({ meta, rows, summary, ratios: rs }) + '\n');
  else process.stdout.write(`${table(summary, rs)}\n`);
  const failed = summary.filter((r) => r.ops === 0 && r.firstError !== undefined && !r.firstError.startsWith('needs a managed cluster'));
  if (failed.length > 0) {
    process.stderr.write(failed.map((r) => `bench: ${r.target} ${r.workload} failed: ${r.firstError}`).join('\n') + '\n');
    process.exitCode = 1;
  }
}

await main();
process.exit();
