import type { Config } from '../config.js';
import type { Raft } from '../raft.js';
import { RawNode } from '../raw-node.js';
import { MemoryStorage } from '../storage.js';
import { decodeConfChange, EntryType, StateType, type Entry, type Message, type MessageType, type NodeId, type Ready } from '../types.js';

/**
 * Helpers for unit tests of the core: single nodes driven by hand, and a synchronous in-memory network that
 * delivers messages breadth-first until nothing moves (after etcd-io/raft's test network). Pure; no randomness.
 */

export type TestOptions = Partial<Omit<Config, 'id' | 'storage'>> & { storage?: MemoryStorage };

export interface TestNode {
  id: NodeId;
  rn: RawNode;
  /** The protocol state machine inside `rn`. */
  r: Raft;
  storage: MemoryStorage;
  /** Normal entries applied (non-empty data only). */
  applied: Entry[];
}

/**
 * A node with an empty log and configuration `voters` (+ `learners`). Defaults for unit tests: election 10 ticks,
 * heartbeat 1, pre-vote and check-quorum off (the paper's algorithm), randomized timeout = electionTick.
 */
export function newTestNode(id: NodeId, voters: NodeId[], opts: TestOptions & { learners?: NodeId[] } = {}): TestNode {
  const { storage: given, learners, ...rest } = opts;
  const storage = given ?? MemoryStorage.withConfState({ voters: voters.slice(), learners: (learners ?? []).slice() }, 0, 0);
  const rn = new RawNode({
    electionTick: 10,
    heartbeatTick: 1,
    preVote: false,
    checkQuorum: false,
    random: () => 0,
    ...rest,
    id,
    storage,
  });
  return { id, rn, r: rn.raft, storage, applied: [] };
}

/** Takes (and clears) the messages a node has queued for others. */
export function takeMessages(r: Raft): Message[] {
  const out = [...r.msgs, ...r.msgsAfterAppend].filter((m) => m.to !== r.id);
  r.msgs = [];
  r.msgsAfterAppend = r.msgsAfterAppend.filter((m) => m.to === r.id);
  return out;
}

/** Processes one Ready as a driver would (persist, apply, advance) and returns it; undefined if nothing to do. */
export function processReady(n: TestNode): Ready | undefined {
  if (!n.rn.hasReady()) return undefined;
  const rd = n.rn.ready();
  if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
  n.storage.append(rd.entries);
  if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
  for (const e of rd.committedEntries) {
    if (e.type === EntryType.ConfChange) n.rn.applyConfChange(decodeConfChange(e.data));
    else if (e.data.length > 0) n.applied.push(e);
  }
  n.rn.advance(rd);
  return rd;
}

/** An entry literal. */
export function ent(term: number, index: number, data = ''): Entry {
  return { term, index, type: EntryType.Normal, data: new TextEncoder().encode(data) };
}

/** A storage holding `terms[i]` as the term of entry i + 1, and configuration `voters`. */
export function storageWithLog(voters: NodeId[], terms: number[]): MemoryStorage {
  const s = MemoryStorage.withConfState({ voters: voters.slice(), learners: [] }, 0, 0);
  s.append(terms.map((t, i) => ent(t, i + 1)));
  return s;
}

type Filter = (m: Message) => boolean;

/**
 * A cluster of test nodes on a synchronous network. `send` steps messages and processes every node's Ready until
 * the cluster is quiescent. Links can be cut, nodes isolated and message types ignored.
 */
export class TestNetwork {
  readonly nodes = new Map<NodeId, TestNode>();
  private filters: Filter[] = [];
  /** Every message delivered, in order (for assertions). */
  readonly delivered: Message[] = [];

  constructor(nodes: TestNode[]) {
    for (const n of nodes) this.nodes.set(n.id, n);
  }

  /** `n` nodes 1..n, all voters, with `opts`. */
  static of(n: number, opts: TestOptions = {}): TestNetwork {
    const ids = Array.from({ length: n }, (_, i) => BigInt(i + 1));
    return new TestNetwork(ids.map((id) => newTestNode(id, ids, opts)));
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Campaigns node `id` (MsgHup) and runs the cluster until quiescent. */
  campaign(id: NodeId): void {
    this.node(id).rn.campaign();
    this.stabilize();
  }

  propose(id: NodeId, data: string): void {
    this.node(id).rn.propose(new TextEncoder().encode(data));
    this.stabilize();
  }

  /** Delivers `msgs` (and everything they cause) until quiescent. */
  send(...msgs: Message[]): void {
    const queue = msgs.slice();
    for (let rounds = 0; rounds < 100_000; rounds++) {
      for (const n of this.nodes.values()) {
        const rd = processReady(n);
        if (rd !== undefined) queue.push(...rd.messages);
      }
      const m = queue.shift();
      if (m === undefined) {
        if ([...this.nodes.values()].every((n) => !n.rn.hasReady())) return;
        continue;
      }
      if (this.filters.some((f) => f(m))) continue;
      const to = this.nodes.get(m.to);
      if (to === undefined) continue;
      this.delivered.push(m);
      to.rn.step(m);
    }
    throw new Error('network did not quiesce');
  }

  stabilize(): void {
    this.send();
  }

  /** Ticks node `id` `n` times and runs the cluster until quiescent. */
  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.node(id).rn.tick();
    this.stabilize();
  }

  /** Drops messages between `a` and `b`, both ways. */
  cut(a: NodeId, b: NodeId): void {
    this.filters.push((m) => (m.from === a && m.to === b) || (m.from === b && m.to === a));
  }

  /** Drops every message to or from `id`. */
  isolate(id: NodeId): void {
    this.filters.push((m) => m.from === id || m.to === id);
  }

  /** Drops every message of type `t`. */
  ignore(t: MessageType): void {
    this.filters.push((m) => m.type === t);
  }

  /** Removes every filter. */
  recover(): void {
    this.filters = [];
  }

  /** Ids of the nodes that believe they are leader. */
  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.r.state === StateType.Leader).map((n) => n.id);
  }
}
