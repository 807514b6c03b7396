import { BUG_DESCRIPTIONS, BUG_NAMES, isBugName, type BugName } from '@latchkey/server/raft';
import { formatFailure, runSeed } from './simulation.js';

/**
 * The deterministic simulator's command line.
 *
 *   npm run sim -- --seeds N [--start S]     run seeds S..S+N-1 (default S = 1); stop at the first failure
 *   npm run sim -- --seed S [--verbose]      run (replay) one seed; --verbose prints every event
 *   npm run sim -- --inject-bug NAME ...     switch a bug of the zoo on; success means the bug was caught
 *   npm run sim -- --list-bugs               print the bug names, one per line
 *   --keep-going                             with --seeds: report every failing seed (one line each)
 *   --no-commit-rule-check                   do not check the leader commit rule (only its consequences)
 *
 * Build first: `npx tsc -b`. Output for a single seed is deterministic (no wall-clock figures).
 */
function main(argv: string[]): number {
  const args = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      args.set(a.slice(2), next);
      i++;
    } else {
      args.set(a.slice(2), true);
    }
  }
  if (args.has('list-bugs')) {
    for (const b of BUG_NAMES) console.log(b);
    return 0;
  }
  if (args.has('help')) {
    console.log('usage: npm run sim -- [--seeds N [--start S] | --seed S] [--inject-bug NAME] [--verbose] | --list-bugs');
    return 0;
  }
  let bug: BugName | undefined;
  const bugArg = args.get('inject-bug');
  if (bugArg !== undefined) {
    if (bugArg === true || !isBugName(bugArg)) throw new Error(`unknown bug ${String(bugArg)}; see --list-bugs`);
    bug = bugArg;
  }
  const bugs = bug === undefined ? undefined : new Set<BugName>([bug]);
  const verbose = args.has('verbose');
  const checkCommitRule = !args.has('no-commit-rule-check');

  const single = args.get('seed');
  if (single !== undefined) {
    const seed = Number(single);
    if (bug !== undefined) console.log(`bug: ${bug}: ${BUG_DESCRIPTIONS[bug]}`);
    const r = runSeed(seed, { bugs, checkCommitRule, verbose: verbose ? (l) => console.log(l) : undefined });
    if (!r.ok) {
      console.log(formatFailure(r, bug));
      return 1;
    }
    console.log(summary(r.seed, r.stats));
    return 0;
  }

  const keepGoing = args.has('keep-going');
  let failures = 0;
  const n = Number(args.get('seeds') ?? 100);
  const start = Number(args.get('start') ?? 1);
  const t0 = Date.now();
  let lastReport = t0;
  if (bug !== undefined) console.log(`bug: ${bug}: ${BUG_DESCRIPTIONS[bug]}`);
  for (let i = 0; i < n; i++) {
    const seed = start + i;
    const r = runSeed(seed, { bugs, checkCommitRule });
    if (!r.ok && keepGoing) {
      failures++;
      console.log(`seed ${seed}: ${r.violation!.invariant}: ${r.violation!.message.split('\n')[0]}`);
    } else if (!r.ok) {
      console.log(formatFailure(r, bug));
      if (bug !== undefined) {
        console.log(`bug ${bug} detected by seed ${seed} (${i + 1} seeds run)`);
        return 0;
      }
      console.log(`FAILED: seed ${seed} after ${i} clean seeds`);
      return 1;
    }
    const now = Date.now();
    if (now - lastReport > 10_000 || i === n - 1) {
      lastReport = now;
      const rate = ((i + 1) / (now - t0)) * 60_000;
      console.log(`${i + 1}/${n} seeds clean (last ${seed}), ${rate.toFixed(0)} seeds/min, ${((now - t0) / 1000).toFixed(1)}s`);
    }
  }
  if (keepGoing) {
    console.log(`${failures} of ${n} seeds failed`);
    return failures > 0 ? 1 : 0;
  }
  if (bug !== undefined) {
    console.log(`bug ${bug} NOT detected in ${n} seeds`);
    return 1;
  }
  console.log(`OK: ${n} seeds (${start}..${start + n - 1}) clean`);
  return 0;
}

function summary(seed: number, s: import('./simulation.js').SimStats): string {
  return (
    `seed ${seed} ok: ${s.events} events, ${s.virtualMs}ms virtual, ${s.messages} messages (${s.dropped} lost), ` +
    `${s.ops} ops (${s.puts} puts, ${s.gets} gets, ${s.indeterminate} indeterminate), ${s.leaders} leaderships, max term ${s.maxTerm}, ` +
    `${s.crashes} crashes, ${s.partitions} partitions, ${s.confChanges} conf changes, ${s.transfers} transfers, ` +
    `${s.snapshotsSent} snapshots sent, applied index ${s.applied}`
  );
}

process.exitCode = main(process.argv.slice(2));
