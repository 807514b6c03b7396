import {
  ConfChangeType,
  decodeConfChange,
  describeMessage,
  EntryType,
  MemoryStorage,
  MessageType,
  ProposalDroppedError,
  RawNode,
  StateType,
  type BugName,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Logger,
  type Message,
  type NodeId,
  type Ready,
  type Snapshot,
} from '@latchkey/server/raft';
import { checkOperations, explainFailure, type Operation } from '../checker/linearizability.js';
import { kvModel, type KvInput, type KvOutput } from '../checker/models.js';
import { LiveStorage, SimDisk } from './disk.js';
import { EventQueue } from './heap.js';
import { InvariantViolation, SafetyChecker } from './invariants.js';
import { chainHash, decodePut, encodePut, KvStore } from './kv.js';
import { describeParams, swarmParams, type SwarmParams } from './params.js';
import { Prng } from './prng.js';

export interface SimOptions {
  seed: number;
  /** Bugs to switch on in every node's core. */
  bugs?: ReadonlySet<BugName>;
  /** Called with every trace line as it happens. */
  verbose?: (line: string) => void;
  /** How many trace lines a failure report keeps. Default 150. */
  traceLength?: number;
  /**
   * Check the leader commit rule (§5.4.2: a leader advances its commit index only to an entry of its own term) after
   * every step. Default true. Without it, a broken commit rule is only caught once it loses an entry.
   */
  checkCommitRule?: boolean;
}

export interface SimStats {
  events: number;
  messages: number;
  dropped: number;
  virtualMs: number;
  ops: number;
  puts: number;
  gets: number;
  indeterminate: number;
  leaders: number;
  maxTerm: number;
  crashes: number;
  partitions: number;
  snapshotsSent: number;
  snapshotsTaken: number;
  confChanges: number;
  transfers: number;
  applied: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  violation?: { invariant: string; message: string; at: number };
  /** The last events before the violation, oldest first (empty when ok). */
  trace: string[];
  params: SwarmParams;
  stats: SimStats;
}

type Result = { kind: 'ok' } | { kind: 'value'; value: number | null } | { kind: 'dropped' };

interface Request {
  opId: number;
  attempt: number;
  clientId: number;
  kind: 'put' | 'get';
  seq: number;
  key: number;
  value: number;
}

interface ClientOp {
  id: number;
  kind: 'put' | 'get';
  key: number;
  value: number;
  seq: number;
  call: number;
  attempts: number;
  /** Attempts that timed out; the client gives up after maxAttempts of them. */
  timeouts: number;
  /** The attempt whose timeout is armed. */
  attempt: number;
}

interface SimClient {
  id: number;
  seq: number;
  op: ClientOp | undefined;
  /** Generation of the pending wake-up (older ones are ignored). */
  gen: number;
  probe: boolean;
}

interface PendingRead {
  client: SimClient;
  opId: number;
  key: number;
  answered: boolean;
  lastAsk: number;
}

type Ev =
  | { t: number; seq: number; kind: 'msg'; m: Message; snap: boolean }
  | { t: number; seq: number; kind: 'tick' | 'ready' | 'forget'; node: SimNode; inc: number }
  | { t: number; seq: number; kind: 'snapStatus'; node: SimNode; inc: number; peer: NodeId; ok: boolean }
  | { t: number; seq: number; kind: 'req'; node: SimNode; req: Request }
  | { t: number; seq: number; kind: 'resp'; client: SimClient; opId: number; attempt: number; result: Result }
  | { t: number; seq: number; kind: 'clientWake'; client: SimClient; gen: number }
  | { t: number; seq: number; kind: 'clientTimeout'; client: SimClient; opId: number; attempt: number }
  | { t: number; seq: number; kind: 'restart' | 'shutdown'; node: SimNode }
  | { t: number; seq: number; kind: 'resume'; node: SimNode; inc: number }
  | { t: number; seq: number; kind: 'nemesis' | 'liveness' | 'deadline' | 'stop' }
  | { t: number; seq: number; kind: 'heal'; gen: number };

/** One cluster member: its core, disk, state machine and the driver state around them. */
class SimNode {
  alive = false;
  /** Bumped at every crash and restart; events of an older incarnation are ignored. */
  inc = 0;
  rn!: RawNode;
  storage!: LiveStorage;
  kv = new KvStore();
  chain = 0;
  applied = 0;
  confState: ConfState = { voters: [], learners: [] };
  /** A Ready is being persisted (between ready() and its completion). */
  busy = false;
  pending: Ready | undefined;
  /** Writes waiting to be applied here, by (client, seq). */
  waiters = new Map<number, { client: SimClient; opId: number }>();
  /** Reads waiting for their read state, by context id. */
  readWaiters = new Map<number, PendingRead>();
  /** Reads with a read index, waiting for applied >= index. */
  servable: { index: number; read: PendingRead }[] = [];
  /** Reads without an answer yet: asked again (with a fresh context) every few ticks, as etcd's read loop does. */
  unanswered: PendingRead[] = [];
  /** Paused (SIGSTOP): no ticks; input waits in `deferred` until resumed. */
  paused = false;
  deferred: Ev[] = [];
  /** Commit index when the current leadership was first seen (for the commit-rule check). */
  leaderCommit = 0;
  /** Applied its own removal. */
  removed = false;
  /** Shut down for good (a removed member that was decommissioned). */
  decommissioned = false;
  /** Last term in which it was seen as leader (to check each leadership once). */
  leaderTerm = -1;
  /** Last persisted hard state in this incarnation. */
  lastHs: HardState | undefined;
  /** Fresh snapshot cache: (applied index → snapshot). */
  freshSnap: Snapshot | undefined;
  readonly rng: Prng;

  constructor(
    readonly id: NodeId,
    readonly disk: SimDisk,
    rng: Prng,
  ) {
    this.rng = rng;
  }
}

const PROBE_CLIENT = 0xfffe;

/**
 * One deterministic run of a whole cluster under a seed: Raft nodes, a lossy network, crashing disks, clients,
 * a nemesis that partitions, crashes, reconfigures and transfers leadership; then a liveness phase on a healed
 * cluster. Everything happens in virtual time, in one thread, so a seed replays exactly.
 */
export class Simulation {
  readonly p: SwarmParams;
  private readonly rng: Prng;
  private readonly q = new EventQueue<Ev>();
  private now = 0;
  private readonly nodes: SimNode[] = [];
  private readonly byId = new Map<NodeId, SimNode>();
  private nextNodeId = 1;
  private readonly clients: SimClient[] = [];
  private readonly history: Operation<KvInput, KvOutput>[] = [];
  private nextOpId = 1;
  private nextAttempt = 1;
  private nextCtx = 1;
  private readonly checker = new SafetyChecker();
  private phase: 'safety' | 'liveness' | 'done' = 'safety';
  /** Directed links that drop everything: key = from * 4096 + to. */
  private blocked = new Set<number>();
  private partitionGen = 0;
  private dropRate: number;
  private dupRate: number;
  /** The latest configuration applied anywhere, and the index of its entry. */
  private globalConf: ConfState;
  private globalConfIndex = 1;
  private pendingConf: { cc: ConfChange; at: number } | undefined;
  private probeDoneAt = -1;
  private readonly trace: { t: number; text: string | (() => string) }[] = [];
  private traceNext = 0;
  private readonly traceLength: number;
  private readonly verbose: ((line: string) => void) | undefined;
  private readonly bugs: ReadonlySet<BugName>;
  readonly stats: SimStats = {
    events: 0,
    messages: 0,
    dropped: 0,
    virtualMs: 0,
    ops: 0,
    puts: 0,
    gets: 0,
    indeterminate: 0,
    leaders: 0,
    maxTerm: 0,
    crashes: 0,
    partitions: 0,
    snapshotsSent: 0,
    snapshotsTaken: 0,
    confChanges: 0,
    transfers: 0,
    applied: 0,
  };

  constructor(readonly opts: SimOptions) {
    this.p = swarmParams(opts.seed);
    this.rng = new Prng(opts.seed, 1);
    this.dropRate = this.p.dropRate;
    this.dupRate = this.p.dupRate;
    this.traceLength = opts.traceLength ?? 150;
    this.verbose = opts.verbose;
    this.bugs = opts.bugs ?? new Set();
    const voters: NodeId[] = [];
    for (let i = 0; i < this.p.members; i++) voters.push(BigInt(i + 1));
    this.globalConf = { voters, learners: [] };
  }

  run(): SimResult {
    const p = this.p;
    this.log(() => `seed ${this.opts.seed}: ${describeParams(p)}`);
    try {
      this.checker.bootstrap(1, 1, 0);
      for (const id of this.globalConf.voters) this.addNode(id, MemoryStorage.withConfState({ voters: this.globalConf.voters.slice(), learners: [] }, 1, 1));
      for (let c = 1; c <= p.clients; c++) {
        const client: SimClient = { id: c, seq: 0, op: undefined, gen: 0, probe: false };
        this.clients.push(client);
        this.wake(client, this.rng.range(0, 50));
      }
      this.q.push({ t: 50, kind: 'nemesis' });
      this.q.push({ t: p.safetyMs, kind: 'liveness' });
      this.loop();
      this.checkHistory();
      this.finishStats();
      return { seed: this.opts.seed, ok: true, trace: [], params: p, stats: this.stats };
    } catch (err) {
      this.finishStats();
      const v =
        err instanceof InvariantViolation
          ? { invariant: err.invariant, message: err.message, at: this.now }
          : { invariant: 'simulator crashed', message: err instanceof Error ? (err.stack ?? err.message) : String(err), at: this.now };
      return { seed: this.opts.seed, ok: false, violation: v, trace: this.traceLines(), params: p, stats: this.stats };
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Event loop

  private loop(): void {
    const maxEvents = 3_000_000;
    for (;;) {
      const ev = this.q.pop();
      if (ev === undefined) return;
      this.now = ev.t;
      if (++this.stats.events > maxEvents) throw new InvariantViolation('runaway', `more than ${maxEvents} events`);
      switch (ev.kind) {
        case 'msg':
          this.deliver(ev);
          break;
        case 'tick':
          if (this.current(ev.node, ev.inc)) {
            // A paused process does not tick; the ticks it misses are lost (its clock view goes stale).
            if (!ev.node.paused) this.onTick(ev.node);
            this.q.push({ t: this.now + this.p.tickMs, kind: 'tick', node: ev.node, inc: ev.inc });
          }
          break;
        case 'ready':
          if (this.current(ev.node, ev.inc)) {
            if (ev.node.paused) ev.node.deferred.push(ev);
            else this.onReadyDone(ev.node);
          }
          break;
        case 'resume':
          if (this.current(ev.node, ev.inc) && ev.node.paused) this.resume(ev.node);
          break;
        case 'forget':
          if (this.current(ev.node, ev.inc) && ev.node.paused) ev.node.deferred.push(ev);
          else if (this.current(ev.node, ev.inc) && ev.node.rn.raft.lead !== 0n) {
            this.log(() => `${ev.node.id} forgets its leader (connection to it broke)`);
            this.core(ev.node, () => ev.node.rn.forgetLeader());
            this.kick(ev.node);
          }
          break;
        case 'snapStatus':
          if (this.current(ev.node, ev.inc) && ev.node.paused) ev.node.deferred.push(ev);
          else if (this.current(ev.node, ev.inc)) {
            this.core(ev.node, () => ev.node.rn.reportSnapshot(ev.peer, ev.ok));
            this.kick(ev.node);
          }
          break;
        case 'req':
          if (ev.node.alive && ev.node.paused) ev.node.deferred.push(ev);
          else this.onRequest(ev.node, ev.req);
          break;
        case 'resp':
          this.onResponse(ev.client, ev.opId, ev.attempt, ev.result);
          break;
        case 'clientWake':
          if (ev.client.gen === ev.gen) this.startOp(ev.client);
          break;
        case 'clientTimeout':
          this.onClientTimeout(ev.client, ev.opId, ev.attempt);
          break;
        case 'restart':
          this.restart(ev.node);
          break;
        case 'shutdown':
          if (ev.node.alive) {
            this.log(() => `${ev.node.id} decommissioned (removed member shuts down)`);
            this.crash(ev.node, false);
          }
          ev.node.decommissioned = true;
          break;
        case 'nemesis':
          if (this.phase === 'safety') {
            this.nemesis();
            this.q.push({ t: this.now + 50, kind: 'nemesis' });
          }
          break;
        case 'heal':
          if (ev.gen === this.partitionGen && this.phase === 'safety') this.heal();
          break;
        case 'liveness':
          this.startLiveness();
          break;
        case 'deadline':
          if (this.probeDoneAt < 0) {
            throw new InvariantViolation(
              'liveness',
              `no leader committed a new proposal within ${this.p.livenessBudgetMs}ms (${this.p.livenessBudgetMs / this.p.tickMs} ticks) after all faults healed`,
            );
          }
          return;
        case 'stop':
          return;
      }
    }
  }

  private current(n: SimNode, inc: number): boolean {
    return n.alive && n.inc === inc;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Nodes

  private addNode(id: NodeId, storage: MemoryStorage): SimNode {
    const n = new SimNode(id, new SimDisk(storage), this.rng.fork(Number(id)));
    this.nodes.push(n);
    this.byId.set(id, n);
    if (Number(id) >= this.nextNodeId) this.nextNodeId = Number(id) + 1;
    this.start(n);
    return n;
  }

  private start(n: SimNode): void {
    n.inc++;
    n.alive = true;
    n.busy = false;
    n.pending = undefined;
    n.leaderTerm = -1;
    n.lastHs = undefined;
    n.freshSnap = undefined;
    const mem = n.disk.live;
    const snap = mem.snapshot();
    const { store, chain } = KvStore.decode(snap.data);
    n.kv = store;
    n.chain = chain;
    n.applied = snap.metadata.index;
    n.confState = snap.metadata.confState;
    n.storage = new LiveStorage(mem, () => this.freshSnapshot(n));
    const p = this.p;
    n.rn = this.core(n, () =>
      new RawNode({
        id: n.id,
        electionTick: p.electionTick,
        heartbeatTick: p.heartbeatTick,
        storage: n.storage,
        applied: snap.metadata.index,
        maxSizePerMsg: p.maxSizePerMsg,
        maxCommittedSizePerReady: 64 * 1024,
        maxInflightMsgs: p.maxInflightMsgs,
        maxInflightBytes: p.maxInflightBytes === 0 ? 0 : Math.max(p.maxInflightBytes, p.maxSizePerMsg),
        maxUncommittedEntriesSize: p.maxUncommittedSize,
        checkQuorum: p.checkQuorum,
        commitOnlyAppends: p.commitOnlyAppends,
        random: () => n.rng.float(),
        logger: this.nodeLogger(n),
        bugs: this.bugs,
      }),
    );
    this.afterCall(n);
    this.q.push({ t: this.now + this.rng.float() * p.tickMs, kind: 'tick', node: n, inc: n.inc });
    this.kick(n);
  }

  private nodeLogger(n: SimNode): Logger {
    const keep = (level: string) => (msg: string) => this.log(`${n.id} ${level} ${msg}`);
    return { debug() {}, info: keep('INFO'), warn: keep('WARN'), error: keep('ERROR') };
  }

  /** A snapshot of the node's applied state, for sending to a follower (what etcd's server does too). */
  private freshSnapshot(n: SimNode): Snapshot | undefined {
    if (n.applied === 0) return undefined;
    if (n.freshSnap !== undefined && n.freshSnap.metadata.index === n.applied) return n.freshSnap;
    const mem = n.disk.live;
    if (n.applied < mem.firstIndex() - 1 || n.applied > mem.lastIndex()) return undefined;
    n.freshSnap = {
      metadata: { index: n.applied, term: mem.term(n.applied), confState: { voters: n.confState.voters.slice(), learners: n.confState.learners.slice() } },
      data: n.kv.encode(n.chain),
    };
    return n.freshSnap;
  }

  private crash(n: SimNode, restart: boolean): void {
    if (!n.alive) return;
    this.stats.crashes++;
    this.log(() => `${n.id} CRASH${restart ? '' : ' (for good)'}`);
    n.alive = false;
    n.inc++;
    n.busy = false;
    n.pending = undefined;
    n.waiters.clear();
    n.readWaiters.clear();
    n.servable = [];
    n.unanswered = [];
    n.paused = false;
    n.deferred = [];
    n.disk.crash(n.rng);
    // Peers whose connection to a dead leader breaks forget it, so they grant votes at once.
    for (const o of this.nodes) {
      if (o !== n && o.alive && o.rn.raft.lead === n.id && this.rng.chance(0.7)) {
        this.q.push({ t: this.now + this.rng.range(1, 20), kind: 'forget', node: o, inc: o.inc });
      }
    }
    if (restart) this.q.push({ t: this.now + this.rng.range(this.p.downMinMs, this.p.downMaxMs), kind: 'restart', node: n });
  }

  private restart(n: SimNode): void {
    if (n.alive || n.decommissioned) return;
    this.log(() => `${n.id} RESTART`);
    this.start(n);
  }

  private onTick(n: SimNode): void {
    this.core(n, () => n.rn.tick());
    this.retryReads(n);
    this.afterCall(n);
    this.kick(n);
  }

  /** Asks again, with a fresh context, for reads that got no read state for 3 ticks (lost, or no leader then). */
  private retryReads(n: SimNode): void {
    if (n.unanswered.length === 0) return;
    n.unanswered = n.unanswered.filter((r) => !r.answered);
    for (const r of n.unanswered) {
      if (this.now - r.lastAsk < 3 * this.p.tickMs) continue;
      r.lastAsk = this.now;
      const ctx = this.nextCtx++;
      n.readWaiters.set(ctx, r);
      this.core(n, () => n.rn.readIndex(encodeCtx(ctx)));
    }
  }

  private pause(n: SimNode): void {
    if (!n.alive || n.paused) return;
    n.paused = true;
    const ms = this.rng.range(20, this.p.pauseMaxMs);
    this.log(() => `${n.id} PAUSE for ${ms}ms`);
    this.q.push({ t: this.now + ms, kind: 'resume', node: n, inc: n.inc });
  }

  /**
   * Ends a pause. The queued input is handled at once, in an order a resumed process might see it: each source's
   * input stays in order (one TCP stream per peer, one for clients, the node's own disk completions), but the
   * sources interleave at random, as their sockets become readable in an arbitrary order.
   */
  private resume(n: SimNode): void {
    n.paused = false;
    this.log(() => `${n.id} RESUME (${n.deferred.length} queued inputs)`);
    const streams = new Map<string, Ev[]>();
    for (const ev of n.deferred) {
      const src = ev.kind === 'msg' ? `peer ${ev.m.from}` : ev.kind === 'req' ? 'clients' : 'local';
      let s = streams.get(src);
      if (s === undefined) streams.set(src, (s = []));
      s.push(ev);
    }
    n.deferred = [];
    const queues = [...streams.values()];
    while (queues.length > 0) {
      const i = this.rng.int(queues.length);
      const ev = queues[i]!.shift()!;
      if (queues[i]!.length === 0) queues.splice(i, 1);
      this.q.push({ ...ev, t: this.now });
    }
  }

  /** Starts processing a Ready if the node has one and is not already busy with one. */
  private kick(n: SimNode): void {
    if (!n.alive || n.busy) return;
    if (!this.core(n, () => n.rn.hasReady())) return;
    const rd = this.core(n, () => n.rn.ready());
    n.busy = true;
    n.pending = rd;
    // Early-apply seeds drive as the server does: the Ready's committed entries are applied when it is taken, and
    // entries committed while it is being persisted are applied as they commit (see deliver).
    if (this.p.applyEarly) this.applyReady(n, rd);
    const latency = rd.mustSync ? this.p.fsyncMs * (0.5 + this.rng.float()) : 0;
    this.q.push({ t: this.now + latency, kind: 'ready', node: n, inc: n.inc });
  }

  /**
   * The driver, as a server runs it: persist → send → apply → advance (or, in seeds that choose it, apply → persist
   * → send → advance, which the Ready contract also allows since committed entries are already durable). Each step
   * may be preceded by a failpoint crash.
   */
  private onReadyDone(n: SimNode): void {
    const rd = n.pending!;
    n.busy = false;
    n.pending = undefined;
    this.log(() => `${n.id} ready: ${summarizeReady(rd)}`);
    const persist = () => this.persist(n, rd);
    const send = () => {
      for (const m of rd.messages) this.send(n, m);
    };
    const apply = () => this.applyReady(n, rd);
    const steps: [string, () => void][] = this.p.applyEarly
      ? [['persist', persist], ['send', send]]
      : this.p.applyFirst
        ? [['apply', apply], ['persist', persist], ['send', send]]
        : [['persist', persist], ['send', send], ['apply', apply]];
    for (const [name, fn] of steps) {
      if (this.failpoint(n, `before ${name}`)) return;
      fn();
    }
    if (this.failpoint(n, 'before advance')) return;
    this.core(n, () => n.rn.advance(rd));
    this.afterCall(n);
    // A new leader is known: ask again at once for reads still waiting (etcd's read loop does the same).
    if (rd.softState !== undefined && rd.softState.lead !== 0n) {
      for (const r of n.unanswered) r.lastAsk = -Infinity;
      this.retryReads(n);
    }
    this.maybeCompact(n);
    this.kick(n);
  }

  /** Crashes the node here with the seed's failpoint probability (safety phase only). */
  private failpoint(n: SimNode, where: string): boolean {
    if (this.phase !== 'safety' || !this.rng.chance(this.p.failpointRate / 4) || !this.mayCrash()) return false;
    this.log(() => `${n.id} FAILPOINT ${where}`);
    this.crash(n, true);
    return true;
  }

  /** Step 1: persist the snapshot, entries and hard state (fsync if mustSync). */
  private persist(n: SimNode, rd: Ready): void {
    n.disk.write(rd, rd.mustSync);
    if (rd.entries.length > 0) this.checker.onPersistEntries(n.id, rd.entries, (i) => termOrUndefined(n.disk.live, i));
    if (rd.hardState !== undefined) {
      this.checker.onPersistHardState(n.id, rd.hardState, n.lastHs);
      n.lastHs = rd.hardState;
    }
  }

  /** Step 3: install the snapshot, apply committed entries, then serve the reads that became servable. */
  private applyReady(n: SimNode, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      const s = rd.snapshot;
      const { store, chain } = KvStore.decode(s.data);
      n.kv = store;
      n.chain = chain;
      n.applied = s.metadata.index;
      n.confState = s.metadata.confState;
      n.freshSnap = undefined;
      this.checker.onInstallSnapshot(n.id, s.metadata.index, s.metadata.term, chain);
      this.log(() => `${n.id} installed snapshot at ${s.metadata.index}`);
    }
    for (const e of rd.committedEntries) this.applyEntry(n, e);
    for (const rs of rd.readStates) {
      const ctx = decodeCtx(rs.requestCtx);
      const read = n.readWaiters.get(ctx);
      if (read === undefined) continue;
      n.readWaiters.delete(ctx);
      if (read.answered) continue;
      read.answered = true;
      n.servable.push({ index: rs.index, read });
    }
    this.serveReads(n);
  }

  private applyEntry(n: SimNode, e: Entry): void {
    if (e.index !== n.applied + 1) throw new InvariantViolation('apply order', `${n.id} applied ${e.index} after ${n.applied}`);
    n.chain = chainHash(n.chain, e.index, e.term, e.data);
    n.applied = e.index;
    n.freshSnap = undefined;
    this.checker.onApply(n.id, e.index, e.term, n.chain);
    if (e.index > this.stats.applied) this.stats.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      const cs = this.core(n, () => n.rn.applyConfChange(cc));
      n.confState = cs;
      if (e.index > this.globalConfIndex) {
        this.globalConfIndex = e.index;
        this.globalConf = cs;
        this.stats.confChanges++;
        this.log(() => `config at ${e.index}: voters=(${cs.voters.join(' ')}) learners=(${cs.learners.join(' ')})`);
        if (this.pendingConf !== undefined && this.pendingConf.cc.nodeId === cc.nodeId && this.pendingConf.cc.type === cc.type) this.pendingConf = undefined;
      }
      if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === n.id && !n.removed) {
        n.removed = true;
        // Some removed members are shut down by their operator after a while; the others linger.
        if (this.rng.chance(0.3)) this.q.push({ t: this.now + this.rng.range(0, 2000), kind: 'shutdown', node: n });
      }
      return;
    }
    if (e.data.length === 0) return;
    const cmd = decodePut(e.data);
    n.kv.apply(cmd);
    const key = cmd.clientId * 0x1_0000_0000 + cmd.seq;
    const w = n.waiters.get(key);
    if (w !== undefined) {
      n.waiters.delete(key);
      this.respond(w.client, w.opId, 0, { kind: 'ok' });
    }
  }

  private serveReads(n: SimNode): void {
    if (n.servable.length === 0) return;
    const later: { index: number; read: PendingRead }[] = [];
    for (const s of n.servable) {
      if (s.index <= n.applied) this.respond(s.read.client, s.read.opId, 0, { kind: 'value', value: n.kv.get(s.read.key) });
      else later.push(s);
    }
    n.servable = later;
  }

  private maybeCompact(n: SimNode): void {
    const snapIndex = n.disk.live.snapshot().metadata.index;
    if (n.applied - snapIndex < this.p.compactEvery) return;
    const compactTo = Math.max(0, n.applied - this.p.compactKeep);
    n.disk.snapshotAndCompact(n.applied, n.confState, n.kv.encode(n.chain), compactTo);
    this.stats.snapshotsTaken++;
    this.log(() => `${n.id} snapshot at ${n.applied}, log compacted to ${compactTo}`);
  }

  /** Runs `fn` against a node's core; any exception other than a dropped proposal is a core assertion failure. */
  private core<T>(n: SimNode, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ProposalDroppedError || err instanceof InvariantViolation) throw err;
      throw new InvariantViolation('core assertion', `${n.id}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    }
  }

  /** After every call into a core: check leadership (election safety and leader completeness). */
  private afterCall(n: SimNode): void {
    const r = n.rn.raft;
    if (r.state !== StateType.Leader) return;
    if (n.leaderTerm !== r.term) {
      n.leaderTerm = r.term;
      n.leaderCommit = r.raftLog.committed;
      this.checker.onLeader(n.id, r.term, r.raftLog);
      this.log(() => `${n.id} is leader of term ${r.term}`);
    }
    if (r.raftLog.committed > n.leaderCommit) {
      // §5.4.2: a leader advances its commit index only to an entry of its own term (older ones follow implicitly).
      const t = r.raftLog.termOrZero(r.raftLog.committed);
      if (t !== r.term && this.opts.checkCommitRule !== false) {
        throw new InvariantViolation('leader commit rule', `${n.id}, leader of term ${r.term}, committed index ${r.raftLog.committed} of term ${t} by counting replicas`);
      }
      this.checker.onLeaderCommit(r.term, n.leaderCommit, r.raftLog.committed);
      n.leaderCommit = r.raftLog.committed;
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Network

  private linkBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.size > 0 && this.blocked.has(Number(from) * 4096 + Number(to));
  }

  private send(from: SimNode, m: Message): void {
    this.stats.messages++;
    const snap = m.type === MessageType.MsgSnap;
    if (snap) this.stats.snapshotsSent++;
    if (this.linkBlocked(m.from, m.to) || this.rng.chance(this.dropRate)) {
      this.stats.dropped++;
      if (snap) this.reportSnap(from, m.to, false);
      else if (this.linkBlocked(m.from, m.to) && this.rng.chance(0.3)) this.core(from, () => from.rn.reportUnreachable(m.to));
      return;
    }
    this.q.push({ t: this.now + this.netDelay(), kind: 'msg', m, snap });
    if (!snap && this.rng.chance(this.dupRate)) this.q.push({ t: this.now + this.netDelay(), kind: 'msg', m, snap: false });
  }

  private netDelay(): number {
    const p = this.p;
    let d = p.netMinMs + this.rng.float() * p.netJitterMs;
    if (p.spikeRate > 0 && this.rng.chance(p.spikeRate)) d += this.rng.range(50, 400);
    return d;
  }

  private reportSnap(from: SimNode, peer: NodeId, ok: boolean): void {
    this.q.push({ t: this.now + this.netDelay(), kind: 'snapStatus', node: from, inc: from.inc, peer, ok });
  }

  private deliver(ev: Ev & { kind: 'msg' }): void {
    const { m, snap } = ev;
    const to = this.byId.get(m.to);
    const from = this.byId.get(m.from);
    const lost = to === undefined || !to.alive || this.linkBlocked(m.from, m.to);
    if (!lost && to.paused) {
      to.deferred.push(ev);
      return;
    }
    if (snap && from !== undefined && from.alive) this.reportSnap(from, m.to, !lost);
    if (lost) {
      this.stats.dropped++;
      return;
    }
    this.log(() => `deliver ${describeMessage(m)}`);
    this.core(to, () => to.rn.step(m));
    this.afterCall(to);
    if (to.busy && this.p.applyEarly) this.applyEarly(to);
    this.kick(to);
  }

  /** Applies what became committed while the node's Ready is being persisted, as the server's driver does. */
  private applyEarly(n: SimNode): void {
    const ents = this.core(n, () => n.rn.takeCommittedEntries());
    if (ents.length === 0) return;
    this.log(() => `${n.id} early apply ${ents[0]!.index}..${ents[ents.length - 1]!.index}`);
    for (const e of ents) this.applyEntry(n, e);
    this.serveReads(n);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Clients

  private wake(c: SimClient, delay: number): void {
    c.gen++;
    this.q.push({ t: this.now + delay, kind: 'clientWake', client: c, gen: c.gen });
  }

  private startOp(c: SimClient): void {
    if (c.op !== undefined) return;
    if (this.phase !== 'safety' && !c.probe) return;
    const p = this.p;
    const put = c.probe || this.rng.chance(p.putRatio);
    const key = c.probe ? 0 : this.rng.int(p.keys);
    if (put) c.seq++;
    c.op = {
      id: this.nextOpId++,
      kind: put ? 'put' : 'get',
      key,
      value: put ? (c.probe ? 4_000_000_000 + c.seq : c.id * 100_000 + c.seq) : 0,
      seq: c.seq,
      call: this.now,
      attempts: 0,
      timeouts: 0,
      attempt: 0,
    };
    this.attempt(c);
  }

  /** Sends the current op to a member (a different one on retries, at random). */
  private attempt(c: SimClient): void {
    const op = c.op!;
    op.attempts++;
    op.attempt = this.nextAttempt++;
    const members = [...this.globalConf.voters, ...this.globalConf.learners];
    const target = this.byId.get(this.rng.pick(members))!;
    const req: Request = { opId: op.id, attempt: op.attempt, clientId: c.id, kind: op.kind, seq: op.seq, key: op.key, value: op.value };
    this.log(() => `client ${c.id} ${op.kind === 'put' ? `put(k${op.key}, ${op.value}) seq ${op.seq}` : `get(k${op.key})`} → ${target.id} (attempt ${op.attempts})`);
    if (!this.rng.chance(this.dropRate / 2)) this.q.push({ t: this.now + this.clientDelay(), kind: 'req', node: target, req });
    const timeout = c.probe ? 100 : this.p.clientTimeoutMs;
    this.q.push({ t: this.now + timeout, kind: 'clientTimeout', client: c, opId: op.id, attempt: op.attempt });
  }

  private clientDelay(): number {
    return 0.5 + this.rng.float() * 2;
  }

  private onRequest(n: SimNode, req: Request): void {
    if (!n.alive) return;
    const client = req.clientId === PROBE_CLIENT ? this.probeClient() : this.clients[req.clientId - 1]!;
    if (req.kind === 'put') {
      const data = encodePut({ clientId: req.clientId, seq: req.seq, key: req.key, value: req.value });
      try {
        this.core(n, () => n.rn.propose(data));
        n.waiters.set(req.clientId * 0x1_0000_0000 + req.seq, { client, opId: req.opId });
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
        this.respond(client, req.opId, req.attempt, { kind: 'dropped' });
      }
    } else {
      const ctx = this.nextCtx++;
      const read: PendingRead = { client, opId: req.opId, key: req.key, answered: false, lastAsk: this.now };
      n.readWaiters.set(ctx, read);
      n.unanswered.push(read);
      this.core(n, () => n.rn.readIndex(encodeCtx(ctx)));
    }
    this.afterCall(n);
    this.kick(n);
  }

  private respond(c: SimClient, opId: number, attempt: number, result: Result): void {
    if (this.rng.chance(this.dropRate / 2)) return;
    this.q.push({ t: this.now + this.clientDelay(), kind: 'resp', client: c, opId, attempt, result });
  }

  private onResponse(c: SimClient, opId: number, attempt: number, result: Result): void {
    const op = c.op;
    if (op === undefined || op.id !== opId) return;
    if (result.kind === 'dropped') {
      // No leader (or a transfer): try again soon, elsewhere, if this is the attempt in charge.
      if (attempt === op.attempt) this.retryOrGiveUp(c, this.rng.range(5, 30));
      return;
    }
    this.log(() => `client ${c.id} ${op.kind === 'put' ? `put(k${op.key}, ${op.value}) ok` : `get(k${op.key}) = ${result.kind === 'value' ? result.value : '?'}`}`);
    this.record(c, op, result.kind === 'value' ? { kind: 'value', value: result.value } : { kind: 'ok' }, this.now);
  }

  private onClientTimeout(c: SimClient, opId: number, attempt: number): void {
    const op = c.op;
    if (op === undefined || op.id !== opId || op.attempt !== attempt) return;
    if (attempt !== -1) op.timeouts++;
    this.retryOrGiveUp(c, 0);
  }

  private retryOrGiveUp(c: SimClient, delay: number): void {
    const op = c.op!;
    if (c.probe || (op.timeouts < this.p.maxAttempts && this.phase !== 'done')) {
      op.attempt = -1; // disarm the current timeout; the retry arms a new one
      if (delay === 0) this.attempt(c);
      else {
        const id = op.id;
        this.q.push({ t: this.now + delay, kind: 'clientTimeout', client: c, opId: id, attempt: -1 });
      }
      return;
    }
    this.log(() => `client ${c.id} gives up on ${op.kind} (indeterminate)`);
    if (op.kind === 'put') this.record(c, op, { kind: 'unknown' }, Infinity);
    else this.finishOp(c);
  }

  private record(c: SimClient, op: ClientOp, output: KvOutput, ret: number): void {
    const input: KvInput = op.kind === 'put' ? { kind: 'put', key: op.key, value: op.value } : { kind: 'get', key: op.key };
    // Times are kept to 0.01ms: rounding is monotonic, so real-time order between operations is preserved.
    this.history.push({ clientId: c.id, input, call: round2(op.call), output, return: ret === Infinity ? Infinity : round2(ret) });
    this.stats.ops++;
    if (op.kind === 'put') this.stats.puts++;
    else this.stats.gets++;
    if (ret === Infinity) this.stats.indeterminate++;
    if (c.probe && ret !== Infinity) {
      this.probeDoneAt = this.now;
      this.log(() => `liveness probe committed after ${this.now - this.p.safetyMs}ms`);
      this.q.push({ t: this.now + 300, kind: 'stop' });
    }
    this.finishOp(c);
  }

  private finishOp(c: SimClient): void {
    c.op = undefined;
    if (!c.probe) this.wake(c, this.rng.range(0, this.p.thinkMs));
  }

  private probe: SimClient | undefined;
  private probeClient(): SimClient {
    if (this.probe === undefined) this.probe = { id: PROBE_CLIENT, seq: 0, op: undefined, gen: 0, probe: true };
    return this.probe;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The nemesis

  private nemesis(): void {
    const p = this.p;
    const dt = 0.05;
    if (this.blocked.size === 0 && this.rng.chance(p.partitionRate * dt)) this.partition();
    if (this.rng.chance(p.crashRate * dt)) this.crashSomeone();
    if (this.rng.chance(p.confChangeRate * dt)) this.changeMembership();
    if (this.rng.chance(p.transferRate * dt)) this.transfer();
    if (this.rng.chance(p.pauseRate * dt)) {
      const l = this.leader();
      const alive = this.nodes.filter((n) => n.alive && !n.paused);
      const victim = l !== undefined && !l.paused && this.rng.chance(0.5) ? l : alive.length > 0 ? this.rng.pick(alive) : undefined;
      if (victim !== undefined) this.pause(victim);
    }
  }

  /** Whether another crash keeps a majority of voters up (or, sometimes, regardless). */
  private mayCrash(): boolean {
    const voters = new Set(this.globalConf.voters);
    const down = this.nodes.filter((n) => !n.alive && !n.decommissioned && voters.has(n.id)).length;
    return down < Math.floor((this.globalConf.voters.length - 1) / 2) || this.rng.chance(0.2);
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes) {
      if (!n.alive || n.removed) continue;
      const r = n.rn.raft;
      if (r.state === StateType.Leader && (best === undefined || r.term > best.rn.raft.term)) best = n;
    }
    return best;
  }

  private partition(): void {
    const ids = this.nodes.filter((n) => !n.decommissioned).map((n) => n.id);
    if (ids.length < 2) return;
    const block = (a: NodeId, b: NodeId) => this.blocked.add(Number(a) * 4096 + Number(b));
    const kind = this.rng.int(5);
    let desc: string;
    if (kind === 0) {
      // Symmetric split into two sides.
      const side = new Set(ids.filter(() => this.rng.chance(0.5)));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) block(a, b);
      desc = `split {${[...side].join(',')}} | rest`;
    } else if (kind === 1) {
      // Isolate one node (often the leader).
      const l = this.leader();
      const victim = l !== undefined && this.rng.chance(0.6) ? l.id : this.rng.pick(ids);
      for (const b of ids) if (b !== victim) (block(victim, b), block(b, victim));
      desc = `isolate ${victim}`;
    } else if (kind === 2) {
      // Asymmetric: a few one-way links fail.
      const k = this.rng.range(1, 3);
      const links: string[] = [];
      for (let i = 0; i < k; i++) {
        const a = this.rng.pick(ids);
        const b = this.rng.pick(ids);
        if (a !== b) (block(a, b), links.push(`${a}->${b}`));
      }
      desc = `one-way ${links.join(' ')}`;
    } else if (kind === 4) {
      // The leader in the largest minority (with 5 members: the leader and one follower, which still forwards
      // its reads and proposals to it): the majority elects a new leader while the old one may still lead.
      const l = this.leader();
      if (l === undefined) return;
      const others = ids.filter((x) => x !== l.id);
      const side = new Set([l.id]);
      while (side.size < Math.floor((ids.length - 1) / 2)) side.add(others.splice(this.rng.int(others.length), 1)[0]!);
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) block(a, b);
      desc = `leader's minority {${[...side].join(',')}} | rest`;
    } else {
      // Bridge: two sides that only talk through one node.
      const bridge = this.rng.pick(ids);
      const side = new Set(ids.filter((x) => x !== bridge && this.rng.chance(0.5)));
      for (const a of ids) for (const b of ids) if (a !== bridge && b !== bridge && side.has(a) !== side.has(b)) block(a, b);
      desc = `bridge ${bridge} between {${[...side].join(',')}} and the rest`;
    }
    if (this.blocked.size === 0) return;
    this.stats.partitions++;
    this.partitionGen++;
    this.log(() => `PARTITION ${desc}`);
    this.q.push({ t: this.now + this.rng.range(this.p.partitionMinMs, this.p.partitionMaxMs), kind: 'heal', gen: this.partitionGen });
  }

  private heal(): void {
    this.blocked = new Set();
    this.log('HEAL partition');
  }

  private crashSomeone(): void {
    const alive = this.nodes.filter((n) => n.alive);
    // Usually keep a majority up (so the run makes progress); sometimes not.
    if (!this.mayCrash()) return;
    const l = this.leader();
    const victim = l !== undefined && this.rng.chance(this.p.leaderCrashBias) ? l : alive.length > 0 ? this.rng.pick(alive) : undefined;
    if (victim !== undefined) this.crash(victim, true);
  }

  private changeMembership(): void {
    if (this.pendingConf !== undefined) {
      if (this.now - this.pendingConf.at < 1500) return;
      this.pendingConf = undefined; // dropped or lost: try something else
    }
    const l = this.leader();
    if (l === undefined) return;
    const { voters, learners } = this.globalConf;
    let cc: ConfChange;
    const none = new Uint8Array(0);
    if (learners.length > 0 && voters.length < 6 && this.rng.chance(0.6)) {
      cc = { type: ConfChangeType.AddNode, nodeId: this.rng.pick(learners), context: none };
    } else if (voters.length >= 4 && this.rng.chance(0.5)) {
      const victim = this.rng.chance(0.4) ? l.id : this.rng.pick(voters);
      cc = { type: ConfChangeType.RemoveNode, nodeId: victim, context: none };
    } else if (learners.length < 2 && voters.length + learners.length < 7) {
      const id = BigInt(this.nextNodeId);
      this.addNode(id, new MemoryStorage());
      this.log(() => `new node ${id} started (empty)`);
      cc = { type: voters.length < 5 && this.rng.chance(0.3) ? ConfChangeType.AddNode : ConfChangeType.AddLearnerNode, nodeId: id, context: none };
    } else if (learners.length > 0) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: this.rng.pick(learners), context: none };
    } else {
      return;
    }
    this.log(() => `propose conf change ${ConfChangeType[cc.type]} ${cc.nodeId} at ${l.id}`);
    try {
      this.core(l, () => l.rn.proposeConfChange(cc));
      this.pendingConf = { cc, at: this.now };
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
    }
    this.afterCall(l);
    this.kick(l);
  }

  private transfer(): void {
    const l = this.leader();
    if (l === undefined) return;
    const others = this.globalConf.voters.filter((v) => v !== l.id);
    if (others.length === 0) return;
    const target = this.rng.pick(others);
    // Usually asked of the leader; sometimes of a follower, which forwards it.
    const alive = this.nodes.filter((n) => n.alive && !n.removed);
    const via = this.rng.chance(0.7) || alive.length === 0 ? l : this.rng.pick(alive);
    this.stats.transfers++;
    this.log(() => `transfer leadership to ${target} (asked at ${via.id})`);
    this.core(via, () => via.rn.transferLeader(target));
    this.afterCall(via);
    this.kick(via);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Liveness phase and the end of the run

  private startLiveness(): void {
    this.phase = 'liveness';
    this.log('LIVENESS phase: faults healed, every member restarted');
    this.blocked = new Set();
    this.dropRate = 0;
    this.dupRate = 0;
    for (const n of this.nodes) if (!n.alive && !n.decommissioned) this.restart(n);
    for (const n of this.nodes) if (n.paused) this.resume(n);
    const c = this.probeClient();
    this.q.push({ t: this.now + this.p.livenessBudgetMs, kind: 'deadline' });
    this.startOp(c);
  }

  private checkHistory(): void {
    this.phase = 'done';
    // Operations still pending at the end never got an answer: writes are indeterminate, reads constrain nothing.
    for (const c of [...this.clients, ...(this.probe ? [this.probe] : [])]) {
      const op = c.op;
      if (op !== undefined && op.kind === 'put') {
        this.history.push({ clientId: c.id, input: { kind: 'put', key: op.key, value: op.value }, call: round2(op.call), output: { kind: 'unknown' }, return: Infinity });
        this.stats.indeterminate++;
      }
    }
    const res = checkOperations(kvModel, this.history, { maxSteps: 2_000_000 });
    if (res.result === 'illegal') {
      const bad = res.partitions[res.partitions.length - 1]!;
      throw new InvariantViolation('linearizability', `the client history is not linearizable (key ${String(bad.operations[0]?.input.key)}):\n${explainFailure(kvModel, bad)}`);
    }
    if (res.result === 'unknown') this.log('linearizability check gave up (step budget): unknown');
  }

  private finishStats(): void {
    this.stats.virtualMs = Math.round(this.now);
    this.stats.leaders = this.checker.leadersElected;
    this.stats.maxTerm = this.checker.maxTerm;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Trace

  private log(text: string | (() => string)): void {
    if (this.verbose !== undefined) {
      this.verbose(`[${fmtTime(this.now)}] ${typeof text === 'string' ? text : text()}`);
      return;
    }
    if (this.trace.length < this.traceLength) this.trace.push({ t: this.now, text });
    else this.trace[this.traceNext] = { t: this.now, text };
    this.traceNext = (this.traceNext + 1) % this.traceLength;
  }

  private traceLines(): string[] {
    const n = this.trace.length;
    const start = n < this.traceLength ? 0 : this.traceNext;
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const e = this.trace[(start + i) % n]!;
      out.push(`[${fmtTime(e.t)}] ${typeof e.text === 'string' ? e.text : e.text()}`);
    }
    return out;
  }
}

function round2(t: number): number {
  return Math.round(t * 100) / 100;
}

function fmtTime(t: number): string {
  return t.toFixed(2).padStart(9);
}

function termOrUndefined(s: MemoryStorage, i: number): number | undefined {
  if (i < s.firstIndex() - 1 || i > s.lastIndex()) return undefined;
  return s.term(i);
}

function encodeCtx(id: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, id);
  return b;
}

function decodeCtx(b: Uint8Array): number {
  if (b.length !== 8) return -1;
  return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0);
}

function summarizeReady(rd: Ready): string {
  const parts: string[] = [];
  if (rd.softState) parts.push(`${StateType[rd.softState.raftState]} lead=${rd.softState.lead}`);
  if (rd.hardState) parts.push(`hs term=${rd.hardState.term} vote=${rd.hardState.vote} commit=${rd.hardState.commit}`);
  if (rd.snapshot) parts.push(`snapshot@${rd.snapshot.metadata.index}`);
  if (rd.entries.length > 0) parts.push(`persist ${rd.entries[0]!.index}..${rd.entries[rd.entries.length - 1]!.index}`);
  if (rd.committedEntries.length > 0) parts.push(`apply ${rd.committedEntries[0]!.index}..${rd.committedEntries[rd.committedEntries.length - 1]!.index}`);
  if (rd.readStates.length > 0) parts.push(`${rd.readStates.length} read states`);
  if (rd.messages.length > 0) parts.push(`${rd.messages.length} msgs`);
  if (rd.mustSync) parts.push('fsync');
  return parts.join(', ');
}

/** Runs one seed. */
export function runSeed(seed: number, opts: Omit<SimOptions, 'seed'> = {}): SimResult {
  return new Simulation({ ...opts, seed }).run();
}

/** Formats a failing result for humans: seed, invariant, parameters, trace, and how to replay. */
export function formatFailure(r: SimResult, bug?: string): string {
  const v = r.violation!;
  const lines = [
    `seed ${r.seed} FAILED at t=${v.at.toFixed(2)}ms: ${v.invariant}: ${v.message}`,
    `params: ${describeParams(r.params)}`,
    `last ${r.trace.length} events:`,
    ...r.trace.map((l) => `  ${l}`),
    `replay: npm run sim -- --seed ${r.seed}${bug ? ` --inject-bug ${bug}` : ''} --verbose`,
  ];
  return lines.join('\n');
}
