/**
 * One chaos run: start the cluster behind fault proxies (or use `--endpoints`), run the workloads while the
 * nemeses inject faults, heal, read, check, report.
 *
 *   start ─► workloads ─► nemeses (duration) ─► heal + wait healthy ─► leader-after-heal ─► stop workloads ─►
 *   final reads + checkers ─► report (violations also to a file)
 *
 * ```ts
 * const report = await runChaos({ durationS: 60, seed: 1, members: 3, workers: 4, target: 'latchkey' });
 * report.violations;   // 0 for a correct system; > 0 expected with `unsafe: true`
 * ```
 */
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@latchkey/client';
import { Cluster } from '../harness/cluster.js';
import { Rng } from '../harness/random.js';
import { ChaosNetwork } from './net.js';
import { ALL_NEMESES, LIGHT_NEMESES, Nemesis, type NemesisName } from './nemesis.js';
import { Progress } from './progress.js';
import { type CheckerResult, eventually, sleep, toJson, type WorkloadContext } from './workloads/common.js';
import { ElectionWorkload } from './workloads/election.js';
import { LockWorkload } from './workloads/lock.js';
import { RegisterWorkload } from './workloads/register.js';
import { SetWorkload } from './workloads/set.js';
import { WatchWorkload } from './workloads/watch.js';

export interface ChaosOptions {
  durationS: number;
  seed: number;
  members: number;
  /** Lock worker processes. */
  workers: number;
  target: 'latchkey' | 'etcd';
  /** An existing etcd-compatible cluster: only client-side nemeses apply. */
  endpoints?: string[];
  /** Default: every nemesis that applies to the target. */
  nemeses?: NemesisName[];
  unsafe?: boolean;
  /** Where violation files go (default: a new directory under the OS temp dir). */
  outDir?: string;
  /** Progress bar on stderr (default true). */
  progress?: boolean;
  /** Per-event log lines (faults, phases) go here (default: nowhere). */
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  target: string;
  durationS: number;
  members: number;
  unsafeControl: boolean;
  operations: number;
  faults: Record<string, number>;
  faultErrors: Record<string, number>;
  faultErrorSamples: string[];
  /** Peer proxies: connections accepted, not attributed to a member (should be 0), reset by cuts, bytes dropped. */
  network?: { connections: number; unidentified: number; reset: number; droppedBytes: number };
  violations: number;
  checkers: Record<string, { operations: number; violations: number } & Record<string, number | string | boolean>>;
  /** Set when there were violations: history and explanation. */
  violationFile?: string;
  /** Member logs, kept when there were violations. */
  memberLogs?: string[];
  /** True when the run means what it should: no violations, or (unsafe control) some. */
  ok: boolean;
  elapsedS: number;
}

/** Election timeout of the members (ms), for the lock availability bound. */
const ELECTION_TIMEOUT_MS = 1_000;
const LOCK_TTL_S = 3;
/** Margin on top of TTL + election timeout for a handoff after a holder kill (a loaded 2-core machine). */
const HANDOFF_MARGIN_MS = 3_000;
/** How long after a cluster fault ends the cluster counts as still recovering. */
const SETTLE_MS = 4_000;

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const t0 = Date.now();
  const log = o.log ?? (() => undefined);
  const rng = new Rng(o.seed);
  const external = o.endpoints !== undefined && o.endpoints.length > 0;
  const applicable: readonly NemesisName[] = external ? LIGHT_NEMESES : ALL_NEMESES;
  const nemeses = (o.nemeses ?? [...applicable]).filter((n) => applicable.includes(n));
  const runId = `${o.seed}-${t0.toString(36)}`;

  // ---- cluster and network ----
  let cluster: Cluster | undefined;
  let net: ChaosNetwork | undefined;
  let nemesis: Nemesis | undefined;
  let endpoints: string[];
  if (external) {
    endpoints = o.endpoints!;
  } else {
    net = new ChaosNetwork(() => nemesis?.pids() ?? new Map());
    log(`starting ${o.members} ${o.target} members behind fault proxies`);
    cluster = await Cluster.start({ kind: o.target, size: o.members, advertise: net.advertise, extraArgs: ['--election-timeout', String(ELECTION_TIMEOUT_MS), '--heartbeat-interval', '100'] });
    endpoints = net.endpoints;
  }

  const stopWorkloads = new AbortController();
  setMaxListeners(0, stopWorkloads.signal); // every actor's sleeps and calls listen to it
  const ctx: WorkloadContext = {
    endpoints,
    prefix: `/chaos/${runId}/`,
    rng: new Rng(o.seed ^ 0x5bd1e995),
    unsafe: o.unsafe ?? false,
    unsafeEndpoint: o.unsafe ? endpoints[0] : undefined,
    signal: stopWorkloads.signal,
    opTimeoutMs: 2_000,
  };
  const bound = LOCK_TTL_S * 1000 + ELECTION_TIMEOUT_MS + HANDOFF_MARGIN_MS;
  const lock = new LockWorkload(ctx, o.workers, LOCK_TTL_S, bound, (t) => nemesis!.quiet(t, t + bound, SETTLE_MS));
  const register = new RegisterWorkload(ctx, { actors: 4, opsPerKey: 150 });
  const set = new SetWorkload(ctx, 2);
  const watch = new WatchWorkload(ctx, 3);
  const election = new ElectionWorkload(ctx, 3, 2, LOCK_TTL_S);
  const workloads = [lock, register, set, watch, election];

  nemesis = new Nemesis(rng, nemeses, { killHolder: () => lock.killHolder(), log }, cluster, net, endpoints);
  // Now that the member processes are known, make the members reconnect so every peer connection has a source.
  net?.resetPeerConnections();
  const progress = new Progress(o.progress ?? true, o.durationS);
  const finalClient = new Client({ endpoints, dialTimeoutMs: 1_000, defaultTimeoutMs: 10_000 });
  let report: ChaosReport | undefined;
  try {
    await watch.init();
    for (const w of workloads) w.start();
    log(`workloads started (prefix ${ctx.prefix})`);

    // ---- faults for the duration ----
    const stopFaults = new AbortController();
    setMaxListeners(0, stopFaults.signal);
    const faultTimer = setTimeout(() => stopFaults.abort(), o.durationS * 1000);
    const ticker = setInterval(() => {
      progress.update(
        (Date.now() - t0) / 1000,
        workloads.reduce((n, w) => n + w.operations(), 0),
        Object.values(nemesis!.counts).reduce((a, b) => a + b, 0),
        'chaos',
      );
    }, 250);
    const forced =
      o.unsafe && net && cluster
        ? async (): Promise<string> => {
            // The negative control's first fault: isolate the member the stale readers are pinned to.
            const victim = cluster.members[0]!;
            net.isolate(victim.name, cluster.members.slice(1).map((m) => m.name), 'drop');
            await sleep(6_000, stopFaults.signal);
            return 'partition-isolate/drop';
          }
        : undefined;
    await Promise.all([nemesis.runClusterFaults(stopFaults.signal, forced), nemesis.runLightFaults(stopFaults.signal)]);
    clearTimeout(faultTimer);
    await new Promise<void>((resolve) => {
      if (stopFaults.signal.aborted) resolve();
      else stopFaults.signal.addEventListener('abort', () => resolve(), { once: true });
    });

    // ---- heal and final phase ----
    progress.phase('healing');
    log('healing');
    // Members that exited on their own (not killed by a nemesis: those were restarted) are crashes.
    const clusterCheck: CheckerResult = { name: 'cluster', operations: 0, violations: [], details: {}, history: undefined };
    for (const m of nemesis.active()) {
      if (!m.running) clusterCheck.violations.push(`member ${m.name} exited on its own (${JSON.stringify(m.lastExit)}); log: ${m.logPath}\n${m.logTail(15)}`);
    }
    try {
      await nemesis.healAll(!external);
    } catch (err) {
      clusterCheck.violations.push(`the cluster did not become healthy within 60 s of the final heal: ${(err as Error).message.split('\n')[0]}`);
    }
    clusterCheck.details = { members: nemesis.active().map((m) => m.name).join(','), membersRemoved: nemesis.retired.size };
    election.leaderSeen = await election.leaderAfterHeal();
    log(`leader after heal: ${election.leaderSeen ?? 'none'}`);
    await sleep(2_000);
    progress.phase('final reads');
    stopWorkloads.abort();
    await Promise.all(workloads.map((w) => w.stop()));
    clearInterval(ticker);
    progress.phase('checking');
    const results: CheckerResult[] = [];
    for (const w of workloads) {
      try {
        results.push(await w.check(finalClient));
      } catch (err) {
        results.push({ name: w.name, operations: 0, violations: [], details: { checkerError: String((err as Error).message ?? err) }, history: undefined });
      }
    }
    if (cluster) results.push(clusterCheck);
    progress.done();

    const violations = results.reduce((n, r) => n + r.violations.length, 0);
    report = {
      seed: o.seed,
      target: external ? `${o.target} @ ${endpoints.join(',')}` : o.target,
      durationS: o.durationS,
      members: external ? endpoints.length : o.members,
      unsafeControl: o.unsafe ?? false,
      operations: results.reduce((n, r) => n + r.operations, 0),
      faults: nemesis.counts,
      faultErrors: nemesis.errors,
      faultErrorSamples: nemesis.errorSamples,
      ...(net ? { network: net.peerStats() } : {}),
      violations,
      checkers: Object.fromEntries(
        results.map((r) => [r.name, { operations: r.operations, violations: r.violations.length, ...Object.fromEntries(Object.entries(r.details).filter(([k]) => k !== 'explanation')) }]),
      ),
      ok: o.unsafe ? violations > 0 : violations === 0,
      elapsedS: Math.round((Date.now() - t0) / 1000),
    };
    const checkerErrors = results.filter((r) => 'checkerError' in r.details);
    if (checkerErrors.length) report.ok = false;
    if (violations > 0) {
      const dir = o.outDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `latchkey-chaos-${o.seed}-`));
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `violations-seed-${o.seed}.txt`);
      const lines = [`chaos run seed ${o.seed}, target ${report.target}, ${o.durationS} s${o.unsafe ? ', UNSAFE CONTROL' : ''}`, ''];
      for (const r of results.filter((x) => x.violations.length)) {
        lines.push(`== ${r.name}: ${r.violations.length} violation(s)`, ...r.violations.map((v) => `  - ${v}`));
        if (typeof r.details['explanation'] === 'string') lines.push('', r.details['explanation']);
        lines.push('');
      }
      lines.push(`histories: ${path.join(dir, `history-seed-${o.seed}.json`)}`);
      fs.writeFileSync(file, lines.join('\n') + '\n');
      fs.writeFileSync(
        path.join(dir, `history-seed-${o.seed}.json`),
        toJson({ report, histories: Object.fromEntries(results.filter((r) => r.violations.length).map((r) => [r.name, { violations: r.violations, history: r.history }])), faultIntervals: nemesis.intervals }),
      );
      report.violationFile = file;
      if (cluster && !o.unsafe) report.memberLogs = cluster.members.map((m) => m.logPath);
    }
    return report;
  } finally {
    progress.done();
    stopWorkloads.abort();
    await lock.pool.stopAll().catch(() => undefined);
    finalClient.close();
    nemesis.close();
    const keep = report !== undefined && report.violations > 0 && !o.unsafe;
    await cluster?.dispose({ keepFiles: keep });
    await net?.close();
  }
}

/** The human summary. */
export function formatReport(r: ChaosReport): string {
  const lines: string[] = [];
  lines.push(`chaos ${r.unsafeControl ? '(UNSAFE CONTROL) ' : ''}against ${r.target}: seed ${r.seed}, ${r.durationS} s of faults, ${r.members} members, ${r.elapsedS} s in all`);
  const faults = Object.entries(r.faults).sort(([a], [b]) => a.localeCompare(b));
  const total = faults.reduce((n, [, c]) => n + c, 0);
  lines.push(`faults (${total}): ${faults.map(([k, c]) => `${k} ${c}`).join(', ') || 'none'}`);
  if (r.network) {
    lines.push(`peer proxies: ${r.network.connections} connections (${r.network.unidentified} not attributed to a member), ${r.network.reset} reset by cuts, ${r.network.droppedBytes} bytes dropped`);
  }
  const errs = Object.entries(r.faultErrors);
  if (errs.length) lines.push(`faults that could not be applied: ${errs.map(([k, c]) => `${k} ${c}`).join(', ')}`);
  lines.push('');
  lines.push(`${'checker'.padEnd(10)} ${'operations'.padStart(10)} ${'violations'.padStart(10)}  details`);
  for (const [name, c] of Object.entries(r.checkers)) {
    const details = Object.entries(c)
      .filter(([k]) => k !== 'operations' && k !== 'violations')
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    lines.push(`${name.padEnd(10)} ${String(c.operations).padStart(10)} ${String(c.violations).padStart(10)}  ${details}`);
  }
  lines.push('');
  const verdict = r.unsafeControl
    ? r.ok
      ? `negative control OK: the checkers found ${r.violations} violations in the unsafe mode`
      : 'negative control FAILED: the unsafe mode produced no violations'
    : r.ok
      ? `OK: ${r.operations} operations checked, no violations`
      : `FAILED: ${r.violations} violations in ${r.operations} operations`;
  lines.push(verdict);
  if (r.violationFile) lines.push(`violations and history: ${r.violationFile}`);
  if (r.memberLogs) lines.push(`member logs: ${r.memberLogs.join(' ')}`);
  return lines.join('\n');
}
