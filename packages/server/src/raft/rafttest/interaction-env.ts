import type { BugName } from '../bugs.js';
import type { Logger } from '../config.js';
import { describeBytes, describeConfState, describeEntry, describeMessage, describeReady } from '../describe.js';
import { ProposalDroppedError } from '../errors.js';
import { RawNode } from '../raw-node.js';
import { MemoryStorage } from '../storage.js';
import {
  ConfChangeType,
  decodeConfChange,
  EntryType,
  MessageType,
  StateType,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
} from '../types.js';
import { parseCommand, type CommandArg } from './datadriven.js';

type Level = 'debug' | 'info' | 'warn' | 'error' | 'none';
const LEVELS: Level[] = ['debug', 'info', 'warn', 'error', 'none'];

interface EnvNode {
  id: NodeId;
  storage: MemoryStorage;
  rawNode: RawNode;
  /** What `config.random` returns (so randomized election timeouts are chosen by the script). */
  random: number;
  /** Options the node was created with, reused on restart. */
  opts: NodeOptions;
  /** Normal entries applied, as data strings (the "state machine"). */
  applied: string[];
  appliedIndex: number;
  confState: ConfState;
}

interface NodeOptions {
  preVote: boolean;
  checkQuorum: boolean;
  stepDownOnRemoval: boolean;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxUncommittedEntriesSize: number;
  disableProposalForwarding: boolean;
  bugs: ReadonlySet<BugName>;
}

const enc = new TextEncoder();

/**
 * The interpreter behind the scripted Raft scenarios in `raft/testdata/*.txt`: a cluster of RawNodes whose every
 * step is driven by a command, with messages held in a mailbox until a `deliver-msgs` (or `stabilize`) command.
 * Pure (no I/O): the test runner feeds it the script and compares what `handle` returns.
 *
 * Commands (arguments in brackets are optional):
 *
 * ```
 * add-nodes N [voters=(1,2,3)] [learners=(4)] [index=1] [prevote=true] [checkquorum=true]
 *           [step-down-on-removal=true] [max-size-per-msg=N] [max-inflight=N] [max-uncommitted-size=N]
 *           [disable-forwarding=false] [random=0] [bugs=(name,...)]
 *     Adds N nodes with the next ids. With voters, storage starts from a snapshot at `index` holding that
 *     configuration; without, the nodes start empty (to be added later and caught up by snapshot).
 * campaign ID                      ID starts an election (pre-vote first if enabled)
 * propose ID DATA                  ID proposes DATA
 * propose-conf-change ID add|add-learner|remove|update NODE
 * read-index ID CTX                ID asks for a read index with context CTX
 * transfer-leadership from=ID to=ID
 * forget-leader ID
 * process-ready [ID...]            take, print, persist and apply one Ready per node, then advance
 * deliver-msgs [drop=true] [type=MsgApp] [ID...]   deliver (or drop) pending messages addressed to the nodes
 * stabilize [ID...]                process-ready and deliver-msgs until nothing moves
 * tick-heartbeat ID | tick-election ID | tick ID N
 * partition (1,2) (3)              messages between groups are dropped on delivery; `heal` ends it
 * compact ID INDEX                 ID snapshots its state at INDEX and compacts its log
 * restart ID                       ID restarts from its storage (nothing is lost: everything was persisted)
 * report-unreachable ID PEER | report-snapshot ID PEER ok|fail
 * set-random ID VALUE              config.random of ID returns VALUE from now on
 * raft-state | raft-log ID | status ID | applied ID | log-level LEVEL
 * ```
 *
 * Any command given the bare argument `silent` prints only `ok` (unless it fails), for setting the stage.
 */
export class InteractionEnv {
  private readonly nodes: EnvNode[] = [];
  /** Sent and not yet delivered. */
  private mailbox: Message[] = [];
  private out: string[] = [];
  private indent = '';
  private level: Level = 'info';
  private partition: NodeId[][] | undefined;

  /** Runs one command line and returns its output (`ok` when there is none). */
  handle(line: string): string {
    this.out = [];
    this.indent = '';
    const cmd = parseCommand(line);
    const silent = cmd.args.some((a) => a.key === 'silent');
    try {
      this.dispatch(cmd.name, cmd.args);
    } catch (err) {
      this.print(`error: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
      return this.out.join('\n');
    }
    return this.out.length === 0 || silent ? 'ok' : this.out.join('\n');
  }

  private dispatch(name: string, args: CommandArg[]): void {
    switch (name) {
      case 'add-nodes':
        return this.addNodes(args);
      case 'campaign':
        return this.node(args, 0).rawNode.campaign();
      case 'propose':
        return this.propose(this.node(args, 0), positional(args, 1));
      case 'propose-conf-change':
        return this.proposeConfChange(args);
      case 'read-index':
        return this.node(args, 0).rawNode.readIndex(enc.encode(positional(args, 1)));
      case 'transfer-leadership':
        return this.byId(BigInt(keyed(args, 'from'))).rawNode.transferLeader(BigInt(keyed(args, 'to')));
      case 'forget-leader':
        return this.node(args, 0).rawNode.forgetLeader();
      case 'process-ready':
        for (const n of this.selected(args)) this.processReady(n);
        return;
      case 'deliver-msgs':
        for (const n of this.selected(args)) this.deliver(n, args);
        return;
      case 'stabilize':
        return this.stabilize(this.selected(args));
      case 'tick-heartbeat': {
        const n = this.node(args, 0);
        for (let i = 0; i < n.rawNode.raft.heartbeatTimeout; i++) n.rawNode.tick();
        return;
      }
      case 'tick-election': {
        const n = this.node(args, 0);
        for (let i = 0; i < n.rawNode.raft.randomizedElectionTimeout; i++) n.rawNode.tick();
        return;
      }
      case 'tick': {
        const n = this.node(args, 0);
        const k = Number(positional(args, 1));
        for (let i = 0; i < k; i++) n.rawNode.tick();
        return;
      }
      case 'partition':
        this.partition = args.map((a) =>
          a.key
            .replace(/[()]/g, '')
            .split(',')
            .filter((x) => x !== '')
            .map((x) => BigInt(x)),
        );
        return;
      case 'heal':
        this.partition = undefined;
        return;
      case 'compact':
        return this.compact(this.node(args, 0), Number(positional(args, 1)));
      case 'restart':
        return this.restart(this.node(args, 0));
      case 'report-unreachable':
        return this.node(args, 0).rawNode.reportUnreachable(BigInt(positional(args, 1)));
      case 'report-snapshot':
        return this.node(args, 0).rawNode.reportSnapshot(BigInt(positional(args, 1)), positional(args, 2) === 'ok');
      case 'set-random':
        this.node(args, 0).random = Number(positional(args, 1));
        return;
      case 'raft-state':
        return this.raftState();
      case 'raft-log':
        return this.raftLog(this.node(args, 0));
      case 'status':
        return this.status(this.node(args, 0));
      case 'applied': {
        const n = this.node(args, 0);
        this.print(`applied index ${n.appliedIndex}: [${n.applied.join(' ')}]`);
        return;
      }
      case 'log-level': {
        const l = positional(args, 0) as Level;
        if (!LEVELS.includes(l)) throw new Error(`unknown log level ${l}`);
        this.level = l;
        return;
      }
      default:
        throw new Error(`unknown command ${name}`);
    }
  }

  private print(line: string): void {
    this.out.push(this.indent + line);
  }

  private logger(): Logger {
    const at = (lvl: Level, tag: string) => (msg: string) => {
      if (LEVELS.indexOf(lvl) >= LEVELS.indexOf(this.level)) this.print(`${tag} ${msg}`);
    };
    return { debug: at('debug', 'DEBUG'), info: at('info', 'INFO'), warn: at('warn', 'WARN'), error: at('error', 'ERROR') };
  }

  private addNodes(args: CommandArg[]): void {
    const n = Number(positional(args, 0));
    const voters = (find(args, 'voters')?.values ?? []).map(BigInt);
    const learners = (find(args, 'learners')?.values ?? []).map(BigInt);
    const index = Number(find(args, 'index')?.values[0] ?? '1');
    const flag = (k: string, d: boolean) => (find(args, k)?.values[0] ?? String(d)) === 'true';
    const num = (k: string, d: number) => Number(find(args, k)?.values[0] ?? d);
    const opts: NodeOptions = {
      preVote: flag('prevote', true),
      checkQuorum: flag('checkquorum', true),
      stepDownOnRemoval: flag('step-down-on-removal', true),
      maxSizePerMsg: num('max-size-per-msg', 1024 * 1024),
      maxInflightMsgs: num('max-inflight', 256),
      maxUncommittedEntriesSize: num('max-uncommitted-size', 0),
      disableProposalForwarding: flag('disable-forwarding', false),
      bugs: new Set((find(args, 'bugs')?.values ?? []) as BugName[]),
    };
    const random = num('random', 0);
    for (let k = 0; k < n; k++) {
      const id = BigInt(this.nodes.length + 1);
      const confState: ConfState = { voters, learners };
      const storage = voters.length > 0 ? MemoryStorage.withConfState(confState, index, 1) : new MemoryStorage();
      const node: EnvNode = {
        id,
        storage,
        rawNode: undefined as unknown as RawNode,
        random,
        opts,
        applied: [],
        appliedIndex: voters.length > 0 ? index : 0,
        confState: voters.length > 0 ? confState : { voters: [], learners: [] },
      };
      node.rawNode = this.makeRawNode(node, node.appliedIndex);
      this.nodes.push(node);
    }
  }

  private makeRawNode(n: EnvNode, applied: number): RawNode {
    return new RawNode({
      id: n.id,
      electionTick: 10,
      heartbeatTick: 1,
      storage: n.storage,
      applied,
      preVote: n.opts.preVote,
      checkQuorum: n.opts.checkQuorum,
      stepDownOnRemoval: n.opts.stepDownOnRemoval,
      maxSizePerMsg: n.opts.maxSizePerMsg,
      maxInflightMsgs: n.opts.maxInflightMsgs,
      maxUncommittedEntriesSize: n.opts.maxUncommittedEntriesSize,
      disableProposalForwarding: n.opts.disableProposalForwarding,
      bugs: n.opts.bugs,
      random: () => n.random,
      logger: this.logger(),
    });
  }

  private propose(n: EnvNode, data: string): void {
    try {
      n.rawNode.propose(enc.encode(data));
    } catch (err) {
      if (err instanceof ProposalDroppedError) this.print(`error: ${err.message}`);
      else throw err;
    }
  }

  private proposeConfChange(args: CommandArg[]): void {
    const n = this.node(args, 0);
    const kind = positional(args, 1);
    const types: Record<string, ConfChangeType> = {
      add: ConfChangeType.AddNode,
      'add-learner': ConfChangeType.AddLearnerNode,
      remove: ConfChangeType.RemoveNode,
      update: ConfChangeType.UpdateNode,
    };
    const type = types[kind];
    if (type === undefined) throw new Error(`unknown conf change ${kind}`);
    try {
      n.rawNode.proposeConfChange({ type, nodeId: BigInt(positional(args, 2)), context: new Uint8Array(0) });
    } catch (err) {
      if (err instanceof ProposalDroppedError) this.print(`error: ${err.message}`);
      else throw err;
    }
  }

  private processReady(n: EnvNode): void {
    if (!n.rawNode.hasReady()) return;
    this.indent = '';
    this.print(`> ${n.id} handling Ready`);
    this.indent = '  ';
    const rd = n.rawNode.ready();
    const text = describeReady(rd);
    for (const l of text.split('\n')) if (l !== '') this.print(l);
    if (rd.snapshot !== undefined) {
      n.storage.applySnapshot(rd.snapshot);
      n.appliedIndex = rd.snapshot.metadata.index;
      n.confState = rd.snapshot.metadata.confState;
      const data = new TextDecoder().decode(rd.snapshot.data);
      n.applied = data === '' ? [] : data.split(' ');
    }
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) this.mailbox.push(m);
    for (const e of rd.committedEntries) this.apply(n, e);
    n.rawNode.advance(rd);
    this.indent = '';
  }

  private apply(n: EnvNode, e: Entry): void {
    n.appliedIndex = e.index;
    if (e.type === EntryType.ConfChange) {
      n.confState = n.rawNode.applyConfChange(decodeConfChange(e.data));
    } else if (e.data.length > 0) {
      n.applied.push(new TextDecoder().decode(e.data));
    }
  }

  private deliver(n: EnvNode, args: CommandArg[]): boolean {
    const drop = find(args, 'drop')?.values[0] === 'true';
    const type = find(args, 'type')?.values[0];
    const mine: Message[] = [];
    const rest: Message[] = [];
    for (const m of this.mailbox) {
      if (m.to === n.id && (type === undefined || MessageType[m.type] === type)) mine.push(m);
      else rest.push(m);
    }
    this.mailbox = rest;
    if (mine.length === 0) return false;
    this.indent = '';
    this.print(`> ${n.id} receiving messages`);
    this.indent = '  ';
    for (const m of mine) {
      if (drop) {
        this.print(`${describeMessage(m)} DROPPED`);
        continue;
      }
      if (this.partitioned(m.from, m.to)) {
        this.print(`${describeMessage(m)} DROPPED (partition)`);
        continue;
      }
      this.print(describeMessage(m));
      const target = this.nodes.find((x) => x.id === m.to);
      if (target === undefined) continue;
      target.rawNode.step(m);
    }
    this.indent = '';
    return true;
  }

  private partitioned(a: NodeId, b: NodeId): boolean {
    if (this.partition === undefined) return false;
    const ga = this.partition.findIndex((g) => g.includes(a));
    const gb = this.partition.findIndex((g) => g.includes(b));
    return ga !== gb;
  }

  private stabilize(nodes: EnvNode[]): void {
    for (let round = 0; round < 1000; round++) {
      let moved = false;
      for (const n of nodes) {
        if (n.rawNode.hasReady()) {
          this.processReady(n);
          moved = true;
        }
      }
      for (const n of nodes) if (this.deliver(n, [])) moved = true;
      if (!moved) return;
    }
    throw new Error('stabilize did not converge after 1000 rounds');
  }

  private compact(n: EnvNode, index: number): void {
    const data = enc.encode(n.applied.join(' '));
    n.storage.createSnapshot(index, n.confState, data);
    n.storage.compact(index);
  }

  private restart(n: EnvNode): void {
    const snapIndex = n.storage.snapshot().metadata.index;
    const data = new TextDecoder().decode(n.storage.snapshot().data);
    n.applied = data === '' ? [] : data.split(' ');
    n.appliedIndex = snapIndex;
    n.confState = n.storage.snapshot().metadata.confState;
    n.rawNode = this.makeRawNode(n, snapIndex);
  }

  private raftState(): void {
    for (const n of this.nodes) {
      const st = n.rawNode.basicStatus();
      const role = n.rawNode.raft.isLearner ? 'Learner' : n.rawNode.raft.trk.isVoter(n.id) ? 'Voter' : 'Non-Voter';
      this.print(`${n.id}: ${StateType[st.softState.raftState]} (${role}) Term:${st.hardState.term} Lead:${st.softState.lead} Commit:${st.hardState.commit}`);
    }
  }

  private raftLog(n: EnvNode): void {
    const first = n.storage.firstIndex();
    const last = n.storage.lastIndex();
    if (last < first) {
      this.print(`log is empty: first index=${first}, last index=${last}`);
      return;
    }
    for (const e of n.storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER)) this.print(describeEntry(e));
  }

  private status(n: EnvNode): void {
    const st = n.rawNode.status();
    this.print(`config: ${describeConfState(st.config)}`);
    for (const [id, pr] of st.progress) {
      const extra = `${pr.isLearner ? ' learner' : ''}${pr.paused ? ' paused' : ''}${pr.pendingSnapshot > 0 ? ` pendingSnap=${pr.pendingSnapshot}` : ''}${pr.inflight > 0 ? ` inflight=${pr.inflight}` : ''}`;
      this.print(`${id}: ${pr.state} match=${pr.match} next=${pr.next}${extra}`);
    }
  }

  private node(args: CommandArg[], pos: number): EnvNode {
    return this.byId(BigInt(positional(args, pos)));
  }

  private byId(id: NodeId): EnvNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  private selected(args: CommandArg[]): EnvNode[] {
    const ids = args.filter((a) => a.values.length === 0 && /^\d+$/.test(a.key)).map((a) => BigInt(a.key));
    return ids.length === 0 ? this.nodes.slice() : ids.map((id) => this.byId(id));
  }
}

function positional(args: CommandArg[], i: number): string {
  const pos = args.filter((a) => a.values.length === 0);
  const a = pos[i];
  if (a === undefined) throw new Error(`missing argument ${i + 1}`);
  return a.key;
}

function keyed(args: CommandArg[], key: string): string {
  const v = find(args, key)?.values[0];
  if (v === undefined) throw new Error(`missing ${key}=`);
  return v;
}

function find(args: CommandArg[], key: string): CommandArg | undefined {
  return args.find((a) => a.key === key);
}

/** Renders a byte string the way the scripts show contexts. */
export function showBytes(b: Uint8Array): string {
  return describeBytes(b);
}
