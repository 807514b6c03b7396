/**
 * Command-line options of `npm run bench`. Parsing is strict: an unknown flag or a bad value is an error with a
 * one-line message (the caller prints it and exits 2).
 */
import { parseArgs } from 'node:util';
import { ALL_WORKLOADS, DEFAULT_WORKLOADS } from './workloads.js';

export interface BenchOptions {
  endpoints: string[];
  workloads: string[];
  durationMs: number;
  concurrency: number;
  contenders: number;
  valueSize: number;
  trials: number;
  /** Start an etcd and a latchkey cluster with identical flags and run them alternately. */
  compare: boolean;
  /** Start a latchkey cluster (instead of using --endpoints). */
  start: boolean;
  members: number;
  rounds: number;
  json: boolean;
  html: string | undefined;
  svg: string | undefined;
  /** Server pids for CPU accounting when benchmarking existing endpoints. */
  pids: number[];
  targetName: string;
}

export const USAGE = `usage: npm run bench -- [options]
  --endpoints E[,E…]    target an existing cluster (default 127.0.0.1:2379)
  --compare             start an etcd and a latchkey cluster with identical flags; run A B A B; print ratios
  --start               start a latchkey cluster instead of using --endpoints
  --members N           cluster size for --compare/--start (default 3)
  --rounds N            rounds per target (default 1; medians are reported)
  --workloads LIST      comma list of ${ALL_WORKLOADS.join(', ')}
                        (default ${DEFAULT_WORKLOADS.join(',')}; failover and lock-recovery need --compare/--start)
  --duration SECONDS    per workload (default 5)
  --concurrency N       in-flight operations for put/get/sget/txn/keepalive (default 64)
  --contenders N        clients contending in lock-contended and elect (default 16)
  --value-size BYTES    (default 256)
  --trials N            failover / lock-recovery trials (default 3)
  --pids P[,P…]         server process ids, for CPU per operation on existing endpoints
  --target-name NAME    label for existing endpoints (default "target")
  --json                print one JSON document instead of the table
  --html FILE, --svg FILE   write the chart`;

function positiveInt(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${v}"`);
  return n;
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const { values, positionals } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      endpoints: { type: 'string' },
      workloads: { type: 'string' },
      duration: { type: 'string' },
      concurrency: { type: 'string' },
      contenders: { type: 'string' },
      'value-size': { type: 'string' },
      trials: { type: 'string' },
      compare: { type: 'boolean' },
      start: { type: 'boolean' },
      members: { type: 'string' },
      rounds: { type: 'string' },
      json: { type: 'boolean' },
      html: { type: 'string' },
      svg: { type: 'string' },
      pids: { type: 'string' },
      'target-name': { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0]}"`);
  const workloads = (values.workloads ?? DEFAULT_WORKLOADS.join(',')).split(',').filter(Boolean);
  for (const w of workloads) if (!ALL_WORKLOADS.includes(w)) throw new Error(`unknown workload "${w}" (known: ${ALL_WORKLOADS.join(', ')})`);
  const duration = values.duration === undefined ? 5 : Number(values.duration);
  if (!(duration > 0)) throw new Error(`--duration must be a positive number of seconds, got "${values.duration}"`);
  if (values.compare && values.start) throw new Error('--compare and --start are exclusive');
  if (values.compare && values.endpoints) throw new Error('--compare starts its own clusters; drop --endpoints');
  const pids = (values.pids ?? '').split(',').filter(Boolean).map((p) => positiveInt('pids', p, 0));
  return {
    endpoints: (values.endpoints ?? '127.0.0.1:2379').split(',').filter(Boolean),
    workloads,
    durationMs: duration * 1000,
    concurrency: positiveInt('concurrency', values.concurrency, 64),
    contenders: positiveInt('contenders', values.contenders, 16),
    valueSize: positiveInt('value-size', values['value-size'], 256),
    trials: positiveInt('trials', values.trials, 3),
    compare: values.compare ?? false,
    start: values.start ?? false,
    members: positiveInt('members', values.members, 3),
    rounds: positiveInt('rounds', values.rounds, 1),
    json: values.json ?? false,
    html: values.html,
    svg: values.svg,
    pids,
    targetName: values['target-name'] ?? 'target',
  };
}
