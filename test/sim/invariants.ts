import type { Entry, HardState, NodeId } from '@latchkey/server/raft';

/** The part of a node's Raft log the leader-completeness check reads (unstable entries included). */
export interface LogView {
  firstIndex(): number;
  maybeTerm(i: number): number | undefined;
}

/** A broken invariant: the simulation stops at the first one. */
export class InvariantViolation extends Error {
  constructor(
    readonly invariant: string,
    message: string,
  ) {
    super(message);
    this.name = 'InvariantViolation';
  }
}

function fail(invariant: string, message: string): never {
  throw new InvariantViolation(invariant, message);
}

/** What the checker remembers about an index of the cluster-wide applied log. */
interface AppliedRecord {
  term: number;
  /** Hash chain of the applied log up to and including this index (see `chainHash`). */
  chain: number;
  node: NodeId;
}

/**
 * The Raft safety properties, checked incrementally as the simulation runs (each check is O(1) or O(new entries),
 * except leader completeness, which runs once per new leader):
 *
 * - election safety: at most one leader per term;
 * - log matching: two entries with the same index and term hold the same data and follow entries with the same
 *   term (so, inductively, the logs are identical up to there);
 * - leader completeness: a new leader of term T holds every entry committed in a term < T;
 * - state machine safety: no two nodes apply different entries at one index; the applied log is append-only
 *   (compared through hash chains, so a snapshot's state is checked against the entries it claims to cover);
 * - durability: a node's persisted term never goes back and its persisted vote never changes within a term, across
 *   crashes; commit and applied indexes never go back within one incarnation.
 */
export class SafetyChecker {
  private readonly leaderByTerm = new Map<number, NodeId>();
  /** index → record; index 1 is the bootstrap snapshot. */
  private readonly applied: (AppliedRecord | undefined)[] = [];
  /** Highest index applied by anyone. */
  maxApplied = 0;
  /**
   * index → the lowest term of a leader whose commit index reached it: the term in which the entry was committed.
   * (An entry may be committed in a later term than its own: a new leader commits its predecessors' entries.)
   */
  private readonly commitTerm: number[] = [];
  /** (index, term) → [hash of data, term of the previous entry] */
  private readonly entries = new Map<number, [number, number]>();
  private readonly votes = new Map<NodeId, Map<number, NodeId>>();
  private readonly persistedTerm = new Map<NodeId, number>();
  /** Counters for the run summary. */
  leadersElected = 0;
  maxTerm = 0;

  /** Seeds the applied log with the bootstrap snapshot every member starts from. */
  bootstrap(index: number, term: number, chain: number): void {
    this.applied[index] = { term, chain, node: 0n };
    this.maxApplied = index;
  }

  /** `node` is leader of `term` (called after every call into its core). Checks election safety and completeness. */
  onLeader(node: NodeId, term: number, log: LogView): void {
    const prev = this.leaderByTerm.get(term);
    if (prev !== undefined && prev !== node) fail('election safety', `two leaders in term ${term}: ${prev} and ${node}`);
    if (prev === node) return;
    this.leaderByTerm.set(term, node);
    this.leadersElected++;
    if (term > this.maxTerm) this.maxTerm = term;
    const first = log.firstIndex();
    for (let i = first; i <= this.maxApplied; i++) {
      const rec = this.applied[i];
      const ct = this.commitTerm[i];
      if (rec === undefined || ct === undefined || ct >= term) continue;
      const t = log.maybeTerm(i);
      if (t !== rec.term) {
        fail(
          'leader completeness',
          `${node} became leader of term ${term} without the entry at index ${i} (term ${rec.term}, committed in term ${ct}, applied by ${rec.node}); it has ${t === undefined ? 'no entry' : `term ${t}`} there`,
        );
      }
    }
  }

  /** A leader of `term` advanced its commit index from `from` to `to`. */
  onLeaderCommit(term: number, from: number, to: number): void {
    for (let i = from + 1; i <= to; i++) {
      const ct = this.commitTerm[i];
      if (ct === undefined || term < ct) this.commitTerm[i] = term;
    }
  }

  /** `node` persisted `entries`; `termAt` reads its log after the write. */
  onPersistEntries(node: NodeId, entries: readonly Entry[], termAt: (i: number) => number | undefined): void {
    for (const e of entries) {
      const key = e.index * 0x10_0000 + e.term;
      const h = hashBytes(e.data, e.type);
      const prevTerm = termAt(e.index - 1) ?? -1;
      const seen = this.entries.get(key);
      if (seen === undefined) {
        this.entries.set(key, [h, prevTerm]);
        continue;
      }
      if (seen[0] !== h) fail('log matching', `${node} stored a different entry at index ${e.index} term ${e.term} than another node`);
      if (seen[1] !== -1 && prevTerm !== -1 && seen[1] !== prevTerm) {
        fail('log matching', `${node} has entry ${e.index}/${e.term} after an entry of term ${prevTerm}; another log has it after term ${seen[1]}`);
      }
    }
  }

  /** `node` persisted hard state `hs` (its previous one in this incarnation was `prev`). */
  onPersistHardState(node: NodeId, hs: HardState, prev: HardState | undefined): void {
    const pt = this.persistedTerm.get(node) ?? 0;
    if (hs.term < pt) fail('durability', `${node} persisted term ${hs.term} after having persisted term ${pt} (term lost in a crash)`);
    this.persistedTerm.set(node, hs.term);
    if (hs.vote !== 0n) {
      let byTerm = this.votes.get(node);
      if (byTerm === undefined) this.votes.set(node, (byTerm = new Map()));
      const v = byTerm.get(hs.term);
      if (v !== undefined && v !== hs.vote) fail('durability', `${node} voted for ${v} and then for ${hs.vote} in term ${hs.term}`);
      byTerm.set(hs.term, hs.vote);
    }
    if (prev !== undefined && hs.commit < prev.commit) fail('monotonic commit', `${node} commit index went back from ${prev.commit} to ${hs.commit}`);
  }

  /** `node` applied the entry at `index` (term `term`), reaching hash chain `chain`. */
  onApply(node: NodeId, index: number, term: number, chain: number): void {
    const rec = this.applied[index];
    if (rec === undefined) {
      this.applied[index] = { term, chain, node };
      if (index > this.maxApplied) this.maxApplied = index;
      return;
    }
    if (rec.term !== term || rec.chain !== chain) {
      fail(
        'state machine safety',
        `${node} applied entry ${index} (term ${term}) but ${rec.node} applied ${rec.term === term ? 'a different entry or history' : `term ${rec.term}`} there`,
      );
    }
  }

  /** `node` installed a snapshot covering up to `index` whose state carries hash chain `chain`. */
  onInstallSnapshot(node: NodeId, index: number, term: number, chain: number): void {
    const rec = this.applied[index];
    if (rec === undefined) {
      // Nobody applied it yet as an entry (possible only if the sender did so, which records it): accept.
      this.applied[index] = { term, chain, node };
      if (index > this.maxApplied) this.maxApplied = index;
      return;
    }
    if (rec.term !== term || rec.chain !== chain) fail('state machine safety', `${node} installed a snapshot at ${index} whose state differs from what ${rec.node} applied`);
  }

  /** Whether anyone applied `index`, and its term. */
  appliedTerm(index: number): number | undefined {
    return this.applied[index]?.term;
  }
}

function hashBytes(b: Uint8Array, type: number): number {
  let h = (0x811c9dc5 ^ type) >>> 0;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193) >>> 0;
  return h ^ b.length;
}
