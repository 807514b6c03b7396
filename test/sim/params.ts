import { Prng } from './prng.js';

/**
 * Per-seed parameters ("swarm testing", as TigerBeetle's VOPR does): each seed draws its own cluster size, fault
 * rates and flow-control limits, so that across seeds the simulator visits calm and violent, fast and slow runs
 * alike. Times are virtual milliseconds; rates are per virtual second.
 */
export interface SwarmParams {
  /** `churn` seeds crash leaders often and ship one entry per append, the shape of Figure 8 of the Raft paper. */
  profile: 'swarm' | 'churn';
  /** Initial voters. */
  members: number;
  clients: number;
  keys: number;
  /** Length of the safety phase (faults on). */
  safetyMs: number;
  /** After healing, a leader must commit a new proposal within this budget. */
  livenessBudgetMs: number;
  tickMs: number;
  electionTick: number;
  heartbeatTick: number;
  /** One-way network delay: min + uniform jitter; with `spikeRate`, a long delay (reordering). */
  netMinMs: number;
  netJitterMs: number;
  spikeRate: number;
  dropRate: number;
  dupRate: number;
  partitionRate: number;
  partitionMinMs: number;
  partitionMaxMs: number;
  crashRate: number;
  /** Probability that a crash picks the leader. */
  leaderCrashBias: number;
  downMinMs: number;
  downMaxMs: number;
  fsyncMs: number;
  /** Take a snapshot after this many applied entries, keeping this many entries before it. */
  compactEvery: number;
  compactKeep: number;
  confChangeRate: number;
  transferRate: number;
  /** Process pauses (SIGSTOP-like: no ticks, input queued) per second, and their length. */
  pauseRate: number;
  pauseMaxMs: number;
  /** Per Ready, the probability of a crash at one of the driver's steps (a failpoint, as etcd's robustness tests use). */
  failpointRate: number;
  /** Driver order: apply committed entries before persisting the Ready (allowed: they are already durable). */
  applyFirst: boolean;
  /** While a Ready is being persisted, apply entries committed meanwhile at once (`RawNode.takeCommittedEntries`). */
  applyEarly: boolean;
  /**
   * Leaders step down when they stop hearing from a quorum. Off in some seeds (a supported configuration): a
   * deposed leader then keeps leading its minority for a whole partition, which makes read-path mistakes that
   * only a short window exposes under CheckQuorum reachable by the simulator.
   */
  checkQuorum: boolean;
  /** Followers do not answer commit-only appends (`Config.commitOnlyAppends`, the server's setting). */
  commitOnlyAppends: boolean;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
  maxUncommittedSize: number;
  /** Client behaviour. */
  putRatio: number;
  thinkMs: number;
  clientTimeoutMs: number;
  maxAttempts: number;
}

/** Draws the parameters of `seed` (from a generator of their own, so they do not shift when the run changes). */
export function swarmParams(seed: number): SwarmParams {
  const r = new Prng(seed, 0x5a7a);
  const calm = r.chance(0.1);
  const violent = !calm && r.chance(0.4);
  const rate = (max: number) => (calm ? 0 : r.float() * max * (violent ? 2 : 1));
  const churn = r.chance(0.1);
  const p: SwarmParams = {
    profile: churn ? 'churn' : 'swarm',
    members: r.chance(0.5) ? 3 : 5,
    clients: r.range(2, 6),
    keys: r.range(1, 4),
    safetyMs: r.range(1500, 3000),
    livenessBudgetMs: 4000,
    tickMs: 10,
    electionTick: 10,
    heartbeatTick: 1,
    netMinMs: r.range(1, 4),
    netJitterMs: r.pick([0, 2, 5, 10, 20]),
    spikeRate: r.pick([0, 0, 0.005, 0.02]),
    dropRate: r.chance(0.3) ? 0 : rate(0.1),
    dupRate: r.chance(0.4) ? 0 : rate(0.05),
    partitionRate: rate(2),
    partitionMinMs: 50,
    partitionMaxMs: r.range(300, 1500),
    crashRate: rate(2),
    leaderCrashBias: r.float() * 0.8,
    downMinMs: 20,
    downMaxMs: r.range(100, 800),
    fsyncMs: r.pick([0, 0.5, 1, 3]),
    compactEvery: r.pick([5, 10, 20, 50, 1000]),
    compactKeep: r.pick([0, 1, 3, 10]),
    confChangeRate: rate(1),
    transferRate: rate(0.5),
    pauseRate: r.chance(0.5) ? 0 : rate(1.5),
    pauseMaxMs: r.range(50, 600),
    failpointRate: r.pick([0, 0, 0.002, 0.01, 0.03]),
    applyFirst: r.chance(0.5),
    maxSizePerMsg: r.pick([0, 64, 256, 1024 * 1024]),
    maxInflightMsgs: r.pick([1, 2, 4, 16, 256]),
    maxInflightBytes: r.pick([0, 0, 4096]),
    maxUncommittedSize: r.pick([0, 0, 0, 200]),
    putRatio: 0.3 + r.float() * 0.5,
    thinkMs: r.pick([0, 2, 5, 20]),
    clientTimeoutMs: r.range(150, 400),
    maxAttempts: r.range(2, 6),
    applyEarly: false,
    checkQuorum: true,
    commitOnlyAppends: true,
  };
  if (churn) {
    // Frequent leader crashes with short downtimes, partial replication (one entry per append, a small window),
    // no other faults: leaders change while their predecessors' entries are on some nodes only.
    p.members = 5;
    p.crashRate = 4 + r.float() * 4;
    p.leaderCrashBias = 0.9;
    p.downMinMs = 10;
    p.downMaxMs = r.range(100, 300);
    p.maxSizePerMsg = 0;
    p.maxInflightMsgs = r.pick([1, 2]);
    p.failpointRate = r.pick([0.01, 0.03]);
    p.partitionRate = r.float();
    p.pauseRate = 0;
    p.confChangeRate = 0;
    p.transferRate = 0;
    p.dropRate = r.float() * 0.05;
    p.putRatio = 0.8;
  }
  // Drawn last, so that adding it left every earlier parameter of a seed as it was.
  p.applyEarly = r.chance(0.5);
  p.checkQuorum = !r.chance(0.5);
  p.commitOnlyAppends = r.chance(0.5);
  return p;
}

/** A one-line rendering of the parameters, printed with every failing (or verbose) seed. */
export function describeParams(p: SwarmParams): string {
  return [
    `profile=${p.profile} members=${p.members} clients=${p.clients} keys=${p.keys} safety=${p.safetyMs}ms`,
    `net=${p.netMinMs}+${p.netJitterMs}ms spike=${p.spikeRate} drop=${p.dropRate.toFixed(3)} dup=${p.dupRate.toFixed(3)}`,
    `partition=${p.partitionRate.toFixed(2)}/s crash=${p.crashRate.toFixed(2)}/s (leader bias ${p.leaderCrashBias.toFixed(2)}) down=${p.downMinMs}-${p.downMaxMs}ms`,
    `pause=${p.pauseRate.toFixed(2)}/s up to ${p.pauseMaxMs}ms failpoints=${p.failpointRate}${p.checkQuorum ? '' : ' checkquorum=off'}${p.commitOnlyAppends ? ' commit-only-appends' : ''} driver=${p.applyFirst ? 'apply-persist-send' : 'persist-send-apply'}${p.applyEarly ? '+early-apply' : ''}`,
    `fsync=${p.fsyncMs}ms compact=${p.compactEvery}/${p.compactKeep} confchange=${p.confChangeRate.toFixed(2)}/s transfer=${p.transferRate.toFixed(2)}/s`,
    `maxMsg=${p.maxSizePerMsg} inflight=${p.maxInflightMsgs}/${p.maxInflightBytes}B uncommitted=${p.maxUncommittedSize}`,
  ].join(' ');
}
