/**
 * `npm run chaos` — the chaos suite's command line (built to test/dist/chaos/main.js by `npx tsc -b`).
 *
 *   npm run chaos -- [--duration SECONDS] [--seed N] [--members N] [--workers N] [--nemesis LIST]
 *                    [--target latchkey|etcd] [--endpoints E1,E2,…] [--unsafe-control] [--json] [--out DIR]
 *                    [--verbose] [--no-progress]
 *
 *  --duration        seconds of faults (default 60); heal, final reads and checks come after
 *  --seed            schedule seed (default: random, printed)
 *  --members         cluster size (default 3)
 *  --workers         lock worker processes (default 4)
 *  --nemesis         comma list of nemeses or groups (all, kill, pause, partition); default all that apply
 *  --target          latchkey (default) or etcd: the cluster started behind the fault proxies
 *  --endpoints       run against an existing etcd-compatible cluster instead (client-side nemeses only:
 *                    kill-holder, compact)
 *  --unsafe-control  negative control: the same workloads in deliberately unsafe modes; succeeds only if the
 *                    checkers report violations
 *  --json            print one JSON line (the report) last on stdout
 *  --out             directory for violation files (default: a new temp dir)
 *
 * Exit status: 0 when the run means what it should (no violations; with --unsafe-control, some), 1 otherwise,
 * 2 on a usage or setup error.
 */
import { parseNemeses, type NemesisName } from './nemesis.js';
import { formatReport, runChaos } from './run.js';
import { toJson } from './workloads/common.js';

const FLAGS = new Set(['duration', 'seed', 'members', 'workers', 'nemesis', 'target', 'endpoints', 'out']);
const SWITCHES = new Set(['unsafe-control', 'json', 'verbose', 'no-progress', 'help']);

function parse(argv: string[]): Map<string, string | true> {
  const args = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument ${a}`);
    const [, name, inline] = m as unknown as [string, string, string | undefined];
    if (SWITCHES.has(name)) args.set(name, true);
    else if (FLAGS.has(name)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`--${name} needs a value`);
      args.set(name, v);
    } else throw new Error(`unknown flag --${name}`);
  }
  return args;
}

function int(args: Map<string, string | true>, name: string, fallback: number): number {
  const v = args.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${String(v)}`);
  return n;
}

async function main(): Promise<number> {
  let args: Map<string, string | true>;
  let nemeses: NemesisName[] | undefined;
  try {
    args = parse(process.argv.slice(2));
    if (args.has('nemesis')) nemeses = parseNemeses(String(args.get('nemesis')));
    const target = String(args.get('target') ?? 'latchkey');
    if (target !== 'latchkey' && target !== 'etcd') throw new Error('--target must be latchkey or etcd');
  } catch (err) {
    console.error(`chaos: ${(err as Error).message}`);
    return 2;
  }
  if (args.has('help')) {
    console.log('usage: npm run chaos -- [--duration S] [--seed N] [--members N] [--workers N] [--nemesis LIST] [--target latchkey|etcd] [--endpoints E,…] [--unsafe-control] [--json] [--out DIR]');
    return 0;
  }
  const seed = int(args, 'seed', Math.floor(Math.random() * 2 ** 31));
  const json = args.has('json');
  const verbose = args.has('verbose');
  const endpoints = args.has('endpoints') ? String(args.get('endpoints')).split(',').filter(Boolean) : undefined;
  const log = (line: string): void => {
    if (verbose) process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${line}\n`);
  };
  if (!json) console.log(`chaos: seed ${seed} (replay with --seed ${seed})`);
  try {
    const report = await runChaos({
      durationS: int(args, 'duration', 60),
      seed,
      members: int(args, 'members', 3),
      workers: int(args, 'workers', 4),
      target: String(args.get('target') ?? 'latchkey') as 'latchkey' | 'etcd',
      ...(endpoints ? { endpoints } : {}),
      ...(nemeses ? { nemeses } : {}),
      unsafe: args.has('unsafe-control'),
      ...(args.has('out') ? { outDir: String(args.get('out')) } : {}),
      progress: !args.has('no-progress'),
      log,
    });
    console.log(formatReport(report));
    if (json) console.log(toJson(report));
    return report.ok ? 0 : 1;
  } catch (err) {
    console.error(`chaos: run failed: ${(err as Error).stack ?? String(err)}`);
    return 2;
  }
}

// Workers, clients and members are cleaned up by runChaos; exit explicitly so stray handles cannot hold the process.
process.exit(await main());
