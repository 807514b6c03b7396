/**
 * Nemeses: the faults a chaos run injects, on a seeded random schedule.
 *
 * Cluster faults run one at a time (apply, hold 1.5–5 s, recover), drawn from a shuffled bag (every kind once
 * before any repeats), with 1–3 s between them and now and then a
 * quiet period of 14–18 s (the run opens with one of 12 s); light faults (killing the lock holder — more often in quiet periods,
 * and once early in the opening one — and compaction) run alongside on their own schedule. Every cluster fault is recorded as an interval
 * so checkers with time bounds (lock handoff) can tell "the cluster was healthy" from "the cluster was partitioned".
 *
 * | name               | what it does                                                                        |
 * |--------------------|-------------------------------------------------------------------------------------|
 * | kill-holder        | SIGKILL the lock worker inside its critical section (a replacement is started)      |
 * | kill-leader        | SIGKILL the leader, restart it 1–5 s later (same data dir)                          |
 * | kill-follower      | SIGKILL a follower, restart it later                                                |
 * | pause-leader       | SIGSTOP the leader, SIGCONT later                                                   |
 * | pause-follower     | SIGSTOP a follower, SIGCONT later                                                   |
 * | partition-isolate  | one member (the leader half the time) cut off from the others, both ways           |
 * | partition-oneway   | one member's messages to the others lost, theirs to it delivered (or the reverse)   |
 * | partition-ring     | majorities ring: everyone reaches a majority, no two the same one                   |
 * | partition-clients  | clients cannot reach one member (they must fail over)                               |
 * | delay              | 50–400 ms latency on every link of one member                                       |
 * | move-leader        | MoveLeader to a random follower                                                     |
 * | membership         | remove a follower (MemberRemove), add a fresh member in its place (empty data dir,   |
 * |                    | `--initial-cluster-state existing`)                                                 |
 * | compact            | compact to the revision of ~10 s ago                                                |
 *
 * Partitions choose `cut` (connections reset and refused) or `drop` (blackhole) at random; the report counts
 * them as `partition-isolate/cut` and so on.
 */
import { Client } from '@latchkey/client';
import { ClusterService, MaintenanceService } from '@latchkey/proto';
import type { Cluster } from '../harness/cluster.js';
import type { Member } from '../harness/processes.js';
import { Rng } from '../harness/random.js';
import type { ChaosNetwork, FaultKind } from './net.js';
import { sleep } from './workloads/common.js';

export const CLUSTER_NEMESES = [
  'kill-leader',
  'kill-follower',
  'pause-leader',
  'pause-follower',
  'partition-isolate',
  'partition-oneway',
  'partition-ring',
  'partition-clients',
  'delay',
  'move-leader',
  'membership',
] as const;
export const LIGHT_NEMESES = ['kill-holder', 'compact'] as const;
export const ALL_NEMESES = [...LIGHT_NEMESES, ...CLUSTER_NEMESES] as const;
export type NemesisName = (typeof ALL_NEMESES)[number];

/** Expands a `--nemesis` list: names, and the groups `all`, `kill`, `pause`, `partition`. */
export function parseNemeses(list: string): NemesisName[] {
  const out = new Set<NemesisName>();
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (raw === 'all') ALL_NEMESES.forEach((n) => out.add(n));
    else if (['kill', 'pause', 'partition'].includes(raw)) CLUSTER_NEMESES.filter((n) => n.startsWith(`${raw}-`)).forEach((n) => out.add(n));
    else if ((ALL_NEMESES as readonly string[]).includes(raw)) out.add(raw as NemesisName);
    else throw new Error(`unknown nemesis "${raw}"; known: ${ALL_NEMESES.join(', ')} (groups: all, kill, pause, partition)`);
  }
  return [...out];
}

interface MemberStatus {
  member: Member;
  id: bigint;
  leader: bigint;
  term: bigint;
  revision: bigint;
}

export interface FaultInterval {
  kind: string;
  start: number;
  /** Infinity while the fault is active. */
  end: number;
}

/** What the nemesis needs from the rest of the run. */
export interface NemesisHooks {
  killHolder(): boolean;
  log(line: string): void;
}

export class Nemesis {
  readonly counts: Record<string, number> = {};
  readonly errors: Record<string, number> = {};
  readonly intervals: FaultInterval[] = [];
  readonly errorSamples: string[] = [];
  /** Members removed from the cluster (kept for their logs). */
  readonly retired = new Set<Member>();
  private readonly killed = new Set<Member>();
  private readonly paused = new Set<Member>();
  private readonly admins = new Map<Member, Client>();
  private readonly revisions: { t: number; rev: bigint }[] = [];
  private compactedTo = 0n;
  private readonly lightRng: Rng;
  /** The cluster-fault schedule is in one of its quiet periods. */
  private quietPeriod = false;

  constructor(
    /** Draws of the cluster-fault schedule (the light schedule has its own, so each replays by itself). */
    private readonly rng: Rng,
    private readonly enabled: readonly NemesisName[],
    private readonly hooks: NemesisHooks,
    /** The cluster and its network, or undefined for an existing cluster (`--endpoints`). */
    private readonly cluster: Cluster | undefined,
    private readonly net: ChaosNetwork | undefined,
    /** Client endpoints for compaction against an existing cluster. */
    private readonly endpoints: readonly string[],
  ) {
    this.lightRng = new Rng(rng.seed ^ 0x2545f491);
  }

  /** Members currently in the cluster. */
  active(): Member[] {
    return (this.cluster?.members ?? []).filter((m) => !this.retired.has(m));
  }

  /** pid → member name of every member process running (for the proxies' source lookup). */
  pids(): Map<number, string> {
    const out = new Map<number, string>();
    for (const m of this.cluster?.members ?? []) if (m.pid !== undefined) out.set(m.pid, m.name);
    return out;
  }

  private count(kind: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }

  private fail(kind: string, err: unknown): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + 1;
    if (this.errorSamples.length < 20) this.errorSamples.push(`${kind}: ${(err as Error).message?.split('\n')[0]}`);
  }

  /** Whether no cluster fault was active, or had ended less than `settleMs` before, anywhere in [from, to]. */
  quiet(from: number, to: number, settleMs: number): boolean {
    return !this.intervals.some((i) => i.start <= to && i.end + settleMs >= from);
  }

  private admin(m: Member): Client {
    let c = this.admins.get(m);
    if (!c) {
      c = new Client({ endpoints: [m.endpoint], dialTimeoutMs: 500, defaultTimeoutMs: 2_000, maxRetries: 1 });
      this.admins.set(m, c);
    }
    return c;
  }

  private async statuses(): Promise<MemberStatus[]> {
    const live = this.active().filter((m) => m.running && !this.paused.has(m));
    const all = await Promise.all(
      live.map(async (m) => {
        try {
          const s = await this.admin(m).status({ timeoutMs: 1_500 });
          return { member: m, id: s.header?.memberId ?? 0n, leader: s.leader, term: s.raftTerm, revision: s.header?.revision ?? 0n };
        } catch {
          return undefined;
        }
      }),
    );
    return all.filter((s): s is MemberStatus => s !== undefined);
  }

  /** The member that says it leads (highest term), with everyone's status. */
  private async leader(): Promise<{ leader: MemberStatus | undefined; all: MemberStatus[] }> {
    const all = await this.statuses();
    const leaders = all.filter((s) => s.id === s.leader && s.id !== 0n).sort((a, b) => (a.term > b.term ? -1 : 1));
    return { leader: leaders[0], all };
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length ? xs[this.rng.int(xs.length)] : undefined;
  }

  private shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  private partitionKind(): FaultKind {
    return this.rng.chance(0.5) ? 'cut' : 'drop';
  }

  // ---- schedules ----

  /** Cluster faults one at a time until `signal` aborts. `first` forces the first fault (the unsafe control). */
  async runClusterFaults(signal: AbortSignal, first?: () => Promise<string>): Promise<void> {
    const kinds = CLUSTER_NEMESES.filter((k) => this.enabled.includes(k));
    if (first && !signal.aborted) {
      await sleep(3_000, signal);
      await this.run('forced', first);
    }
    if (kinds.length === 0 || !this.cluster) return;
    const bag: NemesisName[] = [];
    // The run opens with a quiet period: workloads get going, and a holder dies under a healthy cluster.
    this.quietPeriod = true;
    await sleep(12_000, signal);
    this.quietPeriod = false;
    while (!signal.aborted) {
      // Now and then a longer quiet period, in which holder kills are held to the lock's availability bound.
      if (this.rng.chance(0.15)) {
        this.quietPeriod = true;
        await sleep(this.rng.between(14_000, 18_000), signal);
        this.quietPeriod = false;
      } else await sleep(this.rng.between(1_000, 3_000), signal);
      if (signal.aborted) break;
      // A shuffled bag: every kind once before any repeats, so even a short run sees many kinds.
      if (bag.length === 0) bag.push(...this.shuffle(kinds));
      const kind = bag.pop()!;
      await this.run(kind, () => this.apply(kind, signal));
    }
  }

  /** Holder kills and compactions until `signal` aborts. */
  async runLightFaults(signal: AbortSignal): Promise<void> {
    const holder = this.enabled.includes('kill-holder');
    const compact = this.enabled.includes('compact');
    const rng = this.lightRng;
    let nextCompact = Date.now() + rng.between(5_000, 10_000);
    if (holder) {
      // One early holder kill in the opening quiet period, so every run checks a handoff against its bound.
      await sleep(2_000, signal);
      for (let i = 0; i < 20 && !signal.aborted; i++) {
        if (this.hooks.killHolder()) {
          this.count('kill-holder');
          break;
        }
        await sleep(100, signal);
      }
    }
    while (!signal.aborted) {
      await sleep(rng.between(1_500, 4_000), signal);
      if (signal.aborted) break;
      await this.sampleRevision();
      if (holder && rng.chance(this.quietPeriod ? 0.9 : 0.3)) {
        if (this.hooks.killHolder()) this.count('kill-holder');
      }
      if (compact && Date.now() >= nextCompact) {
        nextCompact = Date.now() + rng.between(8_000, 15_000);
        await this.compact().then(
          (done) => done && this.count('compact'),
          (err: unknown) => this.fail('compact', err),
        );
      }
    }
  }

  private async run(kind: string, fn: () => Promise<string>): Promise<void> {
    const interval: FaultInterval = { kind, start: Date.now(), end: Infinity };
    this.intervals.push(interval);
    try {
      const label = await fn();
      if (label) {
        this.count(label);
        this.hooks.log(`fault ${label}`);
      }
    } catch (err) {
      this.fail(kind, err);
      this.hooks.log(`fault ${kind} failed: ${(err as Error).message?.split('\n')[0]}`);
    } finally {
      // Whatever happened, leave the cluster healed before the next fault.
      await this.healAll(false).catch((err: unknown) => this.fail('heal', err));
      interval.end = Date.now();
    }
  }

  private async hold(signal: AbortSignal): Promise<void> {
    await sleep(this.rng.between(1_500, 5_000), signal);
  }

  /** Applies one cluster fault, holds it, recovers; returns the label to count ('' = nothing happened). */
  private async apply(kind: NemesisName, signal: AbortSignal): Promise<string> {
    const net = this.net!;
    const { leader, all } = await this.leader();
    const running = all.map((s) => s.member);
    const followers = all.filter((s) => leader && s.id !== leader.id).map((s) => s.member);
    const names = this.active().map((m) => m.name);
    const others = (m: Member): string[] => names.filter((n) => n !== m.name);
    switch (kind) {
      case 'kill-leader':
      case 'kill-follower': {
        const victim = kind === 'kill-leader' ? leader?.member : this.pick(followers);
        if (!victim) return '';
        await victim.kill('SIGKILL');
        this.killed.add(victim);
        await sleep(this.rng.between(1_000, 5_000), signal);
        await this.restartKilled();
        return kind;
      }
      case 'pause-leader':
      case 'pause-follower': {
        const victim = kind === 'pause-leader' ? leader?.member : this.pick(followers);
        if (!victim) return '';
        await victim.kill('SIGSTOP');
        this.paused.add(victim);
        await this.hold(signal);
        return kind;
      }
      case 'partition-isolate': {
        const victim = leader && this.rng.chance(0.5) ? leader.member : this.pick(running);
        if (!victim) return '';
        const k = this.partitionKind();
        net.isolate(victim.name, others(victim), k);
        await this.hold(signal);
        return `${kind}/${k}`;
      }
      case 'partition-oneway': {
        const victim = leader && this.rng.chance(0.5) ? leader.member : this.pick(running);
        if (!victim) return '';
        const k = this.partitionKind();
        const inbound = this.rng.chance(0.5);
        net.oneWay(victim.name, others(victim), k, inbound);
        await this.hold(signal);
        return `${kind}/${inbound ? 'in' : 'out'}/${k}`;
      }
      case 'partition-ring': {
        const order = this.shuffle(names);
        const k = this.partitionKind();
        net.ring(order, k);
        await this.hold(signal);
        return `${kind}/${k}`;
      }
      case 'partition-clients': {
        const victim = this.pick(running);
        if (!victim) return '';
        const k = this.partitionKind();
        net.cutClients(victim.name, k);
        await this.hold(signal);
        return `${kind}/${k}`;
      }
      case 'delay': {
        const victim = this.pick(running);
        if (!victim) return '';
        net.delay(victim.name, others(victim), this.rng.between(50, 400));
        await this.hold(signal);
        return kind;
      }
      case 'move-leader': {
        const target = all.find((s) => s.member === this.pick(followers));
        if (!leader || !target) return '';
        await this.admin(leader.member).call(MaintenanceService.MoveLeader, { targetID: target.id }, { timeoutMs: 5_000 });
        return kind;
      }
      case 'membership':
        return this.membership(leader, followers, all);
      default:
        return '';
    }
  }

  private async membership(leader: MemberStatus | undefined, followers: Member[], all: MemberStatus[]): Promise<string> {
    const cluster = this.cluster!;
    const net = this.net!;
    if (!leader || this.active().length < cluster.options.size) return '';
    const victim = this.pick(followers);
    const st = all.find((s) => s.member === victim);
    if (!victim || !st) return '';
    try {
      await this.admin(leader.member).call(ClusterService.MemberRemove, { ID: st.id }, { timeoutMs: 10_000 });
    } catch (err) {
      // --strict-reconfig-check refuses to remove a live voter while the others lack an active quorum (a voter
      // reconnected less than 5 s ago, say): no fault this time.
      if (String(err).includes('etcdserver: unhealthy cluster')) return '';
      throw err;
    }
    this.retired.add(victim);
    // A removed member stops by itself when it learns of its removal; make sure.
    const deadline = Date.now() + 5_000;
    while (victim.running && Date.now() < deadline) await sleep(100);
    await victim.stop(1_000);
    await net.retire(victim.name);
    this.admins.get(victim)?.close();
    this.admins.delete(victim);
    net.nextSlot = net.slotFor(victim.name);
    const fresh = await cluster.add();
    this.hooks.log(`membership: removed ${victim.name}, added ${fresh.name}`);
    return 'membership';
  }

  private async sampleRevision(): Promise<void> {
    try {
      const live = this.active().filter((m) => m.running && !this.paused.has(m));
      const c = this.cluster ? this.admin(live[this.lightRng.int(live.length)]!) : this.admin0();
      const s = await c.status({ timeoutMs: 1_000 });
      this.revisions.push({ t: Date.now(), rev: s.header?.revision ?? 0n });
    } catch {
      // no sample this time
    }
  }

  private admin0Client: Client | undefined;
  private admin0(): Client {
    this.admin0Client ??= new Client({ endpoints: [...this.endpoints], dialTimeoutMs: 1_000, defaultTimeoutMs: 5_000 });
    return this.admin0Client;
  }

  /** Compacts to the newest revision sampled at least 10 s ago. */
  private async compact(): Promise<boolean> {
    const old = this.revisions.filter((r) => r.t <= Date.now() - 10_000).at(-1);
    if (!old || old.rev <= this.compactedTo) return false;
    const c = this.cluster ? new Client({ endpoints: this.active().filter((m) => m.running).map((m) => m.endpoint), dialTimeoutMs: 1_000 }) : this.admin0();
    try {
      await c.compact(old.rev, { timeoutMs: 5_000 });
      this.compactedTo = old.rev;
      this.hooks.log(`compacted to ${old.rev}`);
      return true;
    } finally {
      if (c !== this.admin0Client) c.close();
    }
  }

  private async restartKilled(): Promise<void> {
    for (const m of [...this.killed]) {
      this.killed.delete(m);
      if (!this.retired.has(m) && !m.running) await m.restart({ waitHealthy: false });
    }
  }

  /** Heals the network, resumes paused members and restarts killed ones; with `wait`, waits until all are healthy. */
  async healAll(wait: boolean): Promise<void> {
    this.net?.heal();
    for (const m of [...this.paused]) {
      this.paused.delete(m);
      await m.kill('SIGCONT');
    }
    await this.restartKilled();
    if (wait) await Promise.all(this.active().filter((m) => m.running).map((m) => m.waitHealthy(60_000)));
  }

  close(): void {
    for (const c of this.admins.values()) c.close();
    this.admin0Client?.close();
  }
}
