import { describe, expect, it } from 'vitest';
import { ent, newTestNode, processReady, storageWithLog, takeMessages, TestNetwork, type TestNode } from './rafttest/harness.js';
import { EntryType, MessageType, newMessage, None, StateType, type Message, type NodeId } from './types.js';

// Tests named after the rules of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable Consensus
// Algorithm", §5), in the spirit of etcd-io/raft's raft_paper_test.go. Pre-vote and check-quorum are off here:
// these are the paper's rules. Each test: set up, act, check.

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function msg(type: MessageType, from: NodeId, to: NodeId, term: number, extra: Partial<Message> = {}): Message {
  return newMessage({ type, from, to, term, ...extra });
}

/** Makes `n` leader of the next term with votes from `peers`, then gets every peer to acknowledge its empty entry. */
function electLeader(n: TestNode, peers: NodeId[]): void {
  n.rn.campaign();
  processReady(n); // persists the vote; advance counts our own vote
  for (const p of peers) if (p !== n.id) n.rn.step(msg(MessageType.MsgVoteResp, p, n.id, n.r.term));
  expect(n.r.state).toBe(StateType.Leader);
  processReady(n); // persists the empty entry; advance counts our own acknowledgement
  const last = n.r.raftLog.lastIndex();
  for (const p of peers) if (p !== n.id) n.rn.step(msg(MessageType.MsgAppResp, p, n.id, n.r.term, { index: last }));
  processReady(n);
  takeMessages(n.r);
}

function logTerms(n: TestNode): number[] {
  return n.r.raftLog.allEntries().map((e) => e.term);
}

describe('paper §5.1 - terms', () => {
  it('paper - nodes start as followers', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    expect(n.r.state).toBe(StateType.Follower);
    expect(n.r.term).toBe(0);
  });

  it.each([
    ['follower', (n: TestNode) => n.r.becomeFollower(1, 2n)],
    ['candidate', (n: TestNode) => n.r.becomeCandidate()],
    ['pre-candidate', (n: TestNode) => n.r.becomePreCandidate()],
    ['leader', (n: TestNode) => (n.r.becomeCandidate(), n.r.becomeLeader())],
  ])('paper - a %s adopts a higher term from any message and becomes follower', (_role, setup) => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    setup(n);
    n.rn.step(msg(MessageType.MsgApp, 2n, 1n, 2));
    expect(n.r.term).toBe(2);
    expect(n.r.state).toBe(StateType.Follower);
    expect(n.r.lead).toBe(2n);
  });

  it('paper - candidate steps down on higher term', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    n.r.becomeCandidate();
    n.rn.step(msg(MessageType.MsgVote, 3n, 1n, 5, { index: 0, logTerm: 0 }));
    expect(n.r.state).toBe(StateType.Follower);
    expect(n.r.term).toBe(5);
  });

  it('paper - a message with a stale term is ignored', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    n.r.becomeFollower(2, 2n);
    n.rn.step(msg(MessageType.MsgApp, 3n, 1n, 1, { entries: [ent(1, 1, 'x')] }));
    expect(n.r.term).toBe(2);
    expect(n.r.raftLog.lastIndex()).toBe(0);
    expect(takeMessages(n.r)).toEqual([]);
  });

  it('paper - a stale leader is told the newer term (with pre-vote or check-quorum)', () => {
    const n = newTestNode(1n, [1n, 2n, 3n], { preVote: true });
    n.r.becomeFollower(2, 2n);
    n.rn.step(msg(MessageType.MsgHeartbeat, 3n, 1n, 1));
    const out = takeMessages(n.r);
    expect(out.map((m) => [m.type, m.to, m.term])).toEqual([[MessageType.MsgAppResp, 3n, 2]]);
  });
});

describe('paper §5.2 - leader election', () => {
  it('paper - a follower campaigns after its election timeout', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    n.r.becomeFollower(1, 2n);
    for (let i = 0; i < n.r.randomizedElectionTimeout; i++) n.rn.tick();
    expect(n.r.state).toBe(StateType.Candidate);
    expect(n.r.term).toBe(2);
    expect(n.r.vote).toBe(1n);
    expect(takeMessages(n.r).map((m) => [m.type, m.to, m.term])).toEqual([
      [MessageType.MsgVote, 2n, 2],
      [MessageType.MsgVote, 3n, 2],
    ]);
  });

  it('paper - a candidate whose election times out starts a new one in a new term', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    n.r.becomeCandidate();
    for (let i = 0; i < n.r.randomizedElectionTimeout; i++) n.rn.tick();
    expect(n.r.state).toBe(StateType.Candidate);
    expect(n.r.term).toBe(2);
  });

  it.each([
    [1, [], StateType.Leader],
    [3, [[2n, true]], StateType.Leader],
    [3, [[2n, true], [3n, true]], StateType.Leader],
    [5, [[2n, true], [3n, true]], StateType.Leader],
    [3, [], StateType.Candidate],
    [5, [[2n, true]], StateType.Candidate],
    [5, [[2n, false], [3n, false]], StateType.Candidate],
    [3, [[2n, false], [3n, false]], StateType.Follower],
    [5, [[2n, false], [3n, false], [4n, false]], StateType.Follower],
  ] as [number, [bigint, boolean][], StateType][])('paper - a candidate of %d voters with answers %s ends up %s', (size, answers, want) => {
    const ids = Array.from({ length: size }, (_, i) => BigInt(i + 1));
    const n = newTestNode(1n, ids);
    n.rn.campaign();
    processReady(n);
    for (const [from, granted] of answers) n.rn.step(msg(MessageType.MsgVoteResp, from, 1n, 1, { reject: !granted }));
    expect(StateType[n.r.state]).toBe(StateType[want]);
    expect(n.r.term).toBe(1);
  });

  it('paper - a candidate counts its own vote only once it is durable', () => {
    const n = newTestNode(1n, [1n]);
    n.rn.campaign();
    expect(n.r.state).toBe(StateType.Candidate);
    const rd = processReady(n)!;
    expect(rd.hardState?.vote).toBe(1n);
    expect(rd.mustSync).toBe(true);
    expect(n.r.state).toBe(StateType.Leader);
  });

  it('paper - follower votes once per term', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    const vote = (from: NodeId) => {
      n.rn.step(msg(MessageType.MsgVote, from, 1n, 1, { index: 0, logTerm: 0 }));
      const [resp] = takeMessages(n.r);
      return resp!.reject;
    };
    expect(vote(2n)).toBe(false);
    expect(n.r.vote).toBe(2n);
    expect(vote(3n)).toBe(true);
    expect(vote(2n)).toBe(false); // asking again is answered the same
    expect(n.r.vote).toBe(2n);
  });

  it('paper - a candidate becomes follower when a leader of its term appears', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    n.r.becomeCandidate();
    n.rn.step(msg(MessageType.MsgApp, 2n, 1n, 1));
    expect(n.r.state).toBe(StateType.Follower);
    expect(n.r.term).toBe(1);
    expect(n.r.lead).toBe(2n);
  });

  it('paper - election timeouts are randomized in [electionTick, 2 * electionTick)', () => {
    for (const r of [0, 0.25, 0.5, 0.99, 0.9999999]) {
      const n = newTestNode(1n, [1n, 2n, 3n], { random: () => r });
      n.r.becomeFollower(1, 2n);
      let ticks = 0;
      while (n.r.state === StateType.Follower) {
        n.rn.tick();
        ticks++;
      }
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(ticks).toBeLessThan(20);
      expect(ticks).toBe(10 + Math.floor(r * 10));
    }
  });

  it('paper - randomized election timeouts of several followers rarely collide', () => {
    let seed = 12345;
    const rand = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const nodes = [1n, 2n, 3n, 4n, 5n].map((id) => newTestNode(id, [1n, 2n, 3n, 4n, 5n], { random: rand }));
    let conflicts = 0;
    const rounds = 1000;
    for (let i = 0; i < rounds; i++) {
      const timeouts = nodes.map((n) => (n.r.becomeFollower(n.r.term + 1, None), n.r.randomizedElectionTimeout));
      const min = Math.min(...timeouts);
      if (timeouts.filter((t) => t === min).length > 1) conflicts++;
    }
    expect(conflicts / rounds).toBeLessThan(0.3);
  });

  it('paper - leader broadcasts heartbeat every heartbeat interval', () => {
    const n = newTestNode(1n, [1n, 2n, 3n], { heartbeatTick: 2 });
    n.r.becomeCandidate();
    n.r.becomeLeader();
    takeMessages(n.r);
    n.rn.tick();
    expect(takeMessages(n.r)).toEqual([]);
    n.rn.tick();
    expect(takeMessages(n.r).map((m) => [m.type, m.to])).toEqual([
      [MessageType.MsgHeartbeat, 2n],
      [MessageType.MsgHeartbeat, 3n],
    ]);
  });
});

describe('paper §5.3 - log replication', () => {
  it('paper - the leader appends a proposal and replicates it to every follower', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    electLeader(n, [2n, 3n]);
    n.rn.propose(enc('some data'));
    expect(n.r.raftLog.lastEntryId()).toEqual({ index: 2, term: 1 });
    const out = takeMessages(n.r);
    expect(out.map((m) => [m.type, m.to, m.index, m.logTerm, m.commit, m.entries.map((e) => `${e.term}/${e.index} ${dec(e.data)}`)])).toEqual([
      [MessageType.MsgApp, 2n, 1, 1, 1, ['1/2 some data']],
      [MessageType.MsgApp, 3n, 1, 1, 1, ['1/2 some data']],
    ]);
  });

  it('paper - the leader commits an entry once a majority stores it, and hands it out for applying', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    electLeader(n, [2n, 3n]);
    n.rn.propose(enc('x'));
    processReady(n); // durable on the leader
    expect(n.r.raftLog.committed).toBe(1);
    n.rn.step(msg(MessageType.MsgAppResp, 2n, 1n, 1, { index: 2 }));
    expect(n.r.raftLog.committed).toBe(2);
    const rd = n.rn.ready();
    expect(rd.committedEntries.map((e) => dec(e.data))).toEqual(['x']);
    // The new commit index goes out to the followers.
    expect(rd.messages.filter((m) => m.type === MessageType.MsgApp).map((m) => [m.to, m.commit])).toEqual([
      [2n, 2],
      [3n, 2],
    ]);
  });

  it.each([
    [1, [], true],
    [3, [], false],
    [3, [2n], true],
    [3, [2n, 3n], true],
    [5, [], false],
    [5, [2n], false],
    [5, [2n, 3n], true],
    [5, [2n, 3n, 4n, 5n], true],
  ] as [number, bigint[], boolean][])('paper - with %d voters and acknowledgements from %s the entry is committed: %s', (size, acks, want) => {
    const ids = Array.from({ length: size }, (_, i) => BigInt(i + 1));
    const n = newTestNode(1n, ids);
    electLeader(n, ids);
    n.rn.propose(enc('x'));
    processReady(n);
    for (const a of acks) n.rn.step(msg(MessageType.MsgAppResp, a, 1n, 1, { index: 2 }));
    expect(n.r.raftLog.committed > 1).toBe(want);
  });

  it('paper - committing an entry commits every entry before it', () => {
    const n = newTestNode(1n, [1n, 2n, 3n], { storage: storageWithLog([1n, 2n, 3n], [1, 2]) });
    n.r.loadState({ term: 2, vote: None, commit: 0 });
    n.rn.campaign();
    processReady(n);
    n.rn.step(msg(MessageType.MsgVoteResp, 2n, 1n, 3));
    processReady(n); // the empty entry 3 of term 3 is durable on the leader
    expect(n.r.raftLog.committed).toBe(0);
    n.rn.step(msg(MessageType.MsgAppResp, 2n, 1n, 3, { index: 3 }));
    expect(n.r.raftLog.committed).toBe(3);
    expect(processReady(n)!.committedEntries.map((e) => `${e.term}/${e.index}`)).toEqual(['1/1', '2/2', '3/3']);
  });

  it('paper - followers learn the commit index from the leader and apply up to it', () => {
    const f = newTestNode(2n, [1n, 2n, 3n]);
    f.rn.step(msg(MessageType.MsgApp, 1n, 2n, 1, { index: 0, logTerm: 0, entries: [ent(1, 1, 'a'), ent(1, 2, 'b')], commit: 1 }));
    const rd1 = processReady(f)!;
    expect(rd1.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(rd1.hardState?.commit).toBe(1);
    // Entries are applied only once durable: in the next Ready.
    expect(rd1.committedEntries).toEqual([]);
    const rd2 = processReady(f)!;
    expect(rd2.committedEntries.map((e) => dec(e.data))).toEqual(['a']);
  });

  it.each([
    ['matching prev entry', 2, 2, false],
    ['prev entry of another term', 2, 3, true],
    ['prev entry beyond the log', 3, 3, true],
    ['prev entry at the start', 0, 0, false],
    ['older matching entry', 1, 1, false],
  ] as [string, number, number, boolean][])('paper - log matching: append with %s (index %d term %d) rejected: %s', (_name, index, logTerm, reject) => {
    const f = newTestNode(2n, [1n, 2n, 3n], { storage: storageWithLog([1n, 2n, 3n], [1, 2]) });
    f.r.loadState({ term: 2, vote: None, commit: 1 });
    f.rn.step(msg(MessageType.MsgApp, 1n, 2n, 2, { index, logTerm, commit: 1 }));
    const [resp] = takeMessages(f.r);
    expect(resp!.type).toBe(MessageType.MsgAppResp);
    expect(resp!.reject).toBe(reject);
    if (reject) expect(resp!.rejectHint).toBeLessThanOrEqual(2);
  });

  it('paper - log matching: append rejected when prev entry term differs', () => {
    const f = newTestNode(2n, [1n, 2n, 3n], { storage: storageWithLog([1n, 2n, 3n], [1, 1, 2]) });
    f.r.loadState({ term: 3, vote: None, commit: 0 });
    f.rn.step(msg(MessageType.MsgApp, 1n, 2n, 3, { index: 3, logTerm: 3, entries: [ent(3, 4)] }));
    const [resp] = takeMessages(f.r);
    expect(resp!.reject).toBe(true);
    // The hint points at our last entry whose term is <= the leader's: index 3 (term 2).
    expect([resp!.rejectHint, resp!.logTerm]).toEqual([3, 2]);
    expect(f.r.raftLog.lastIndex()).toBe(3);
  });

  it.each([
    ['append after the last entry', 2, 2, [ent(3, 3)], [1, 2, 3]],
    ['replace a conflicting suffix', 1, 1, [ent(3, 2), ent(4, 3)], [1, 3, 4]],
    ['duplicate of an existing entry', 0, 0, [ent(1, 1)], [1, 2]],
    ['conflict at the first entry', 0, 0, [ent(3, 1)], [3]],
  ] as [string, number, number, ReturnType<typeof ent>[], number[]][])(
    'paper - log matching: a follower keeps matching entries and replaces conflicting ones (%s)',
    (_name, index, logTerm, entries, want) => {
      const f = newTestNode(2n, [1n, 2n, 3n], { storage: storageWithLog([1n, 2n, 3n], [1, 2]) });
      f.r.loadState({ term: 3, vote: None, commit: 0 });
      f.rn.step(msg(MessageType.MsgApp, 1n, 2n, 3, { index, logTerm, entries }));
      expect(logTerms(f)).toEqual(want);
    },
  );

  it.each([
    ['a: missing entries', [1, 1, 1, 4, 4, 5, 5, 6, 6]],
    ['b: far behind', [1, 1, 1, 4]],
    ['c: one extra entry of the last term', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
    ['d: extra entries of a later term', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
    ['e: diverged after index 5', [1, 1, 1, 4, 4, 4, 4]],
    ['f: diverged after index 3', [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
  ])('paper - the leader brings a follower log like Figure 7 (%s) in line with its own', (_name, followerLog) => {
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const ids = [1n, 2n, 3n];
    const lead = newTestNode(1n, ids, { storage: storageWithLog(ids, leaderLog) });
    const fol = newTestNode(2n, ids, { storage: storageWithLog(ids, followerLog) });
    lead.r.loadState({ term: 7, vote: None, commit: 0 });
    fol.r.loadState({ term: 7, vote: None, commit: 0 });
    const third = newTestNode(3n, ids);
    const net = new TestNetwork([lead, fol, third]);
    net.isolate(3n);
    lead.rn.campaign();
    net.stabilize();
    // Node 3 (cut off) votes for 1 by hand, so that 1 wins even when 2's log is more up to date.
    if (lead.r.state !== StateType.Leader) {
      lead.rn.step(msg(MessageType.MsgVoteResp, 3n, 1n, 8));
      net.stabilize();
    }
    expect(lead.r.state).toBe(StateType.Leader);
    net.propose(1n, 'z');
    expect(logTerms(fol)).toEqual(logTerms(lead));
    expect(logTerms(lead)).toEqual([...leaderLog, 8, 8]);
  });

  it('paper - a leader only appends to its log, never changes existing entries', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    electLeader(n, [2n, 3n]);
    const before = n.r.raftLog.allEntries();
    n.rn.propose(enc('a'));
    n.rn.step(msg(MessageType.MsgAppResp, 2n, 1n, 1, { index: 2, reject: true, rejectHint: 0 }));
    n.rn.propose(enc('b'));
    const after = n.r.raftLog.allEntries();
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.slice(before.length).map((e) => dec(e.data))).toEqual(['a', 'b']);
  });
});

describe('paper §5.4 - safety', () => {
  it.each([
    ['same last entry', [1], 1, 1, false],
    ['longer log of the same last term', [1], 2, 1, false],
    ['higher last term', [1, 1], 1, 2, false],
    ['shorter log of the same last term', [1, 1], 1, 1, true],
    ['lower last term, longer log', [2], 3, 1, true],
    ['lower last term', [2, 2], 1, 1, true],
  ] as [string, number[], number, number, boolean][])('paper - a voter rejects a candidate whose log is less up to date (%s)', (_name, log, index, logTerm, reject) => {
    const n = newTestNode(1n, [1n, 2n], { storage: storageWithLog([1n, 2n], log) });
    n.rn.step(msg(MessageType.MsgVote, 2n, 1n, 3, { index, logTerm }));
    const [resp] = takeMessages(n.r);
    expect(resp!.type).toBe(MessageType.MsgVoteResp);
    expect(resp!.reject).toBe(reject);
  });

  it('paper - a new leader appends an empty entry of its term', () => {
    const n = newTestNode(1n, [1n, 2n, 3n], { storage: storageWithLog([1n, 2n, 3n], [1]) });
    n.r.loadState({ term: 1, vote: None, commit: 0 });
    n.r.becomeCandidate();
    n.r.becomeLeader();
    const last = n.r.raftLog.allEntries().at(-1)!;
    expect([last.term, last.index, last.type, last.data.length]).toEqual([2, 2, EntryType.Normal, 0]);
  });

  it('paper - leader only commits entries of its term by counting', () => {
    const n = newTestNode(1n, [1n, 2n, 3n], { storage: storageWithLog([1n, 2n, 3n], [1, 2]) });
    n.r.loadState({ term: 2, vote: None, commit: 0 });
    n.r.becomeCandidate();
    n.r.becomeLeader();
    processReady(n);
    expect(n.r.term).toBe(3);
    // A majority (1 and 2) stores entry 2 of term 2: not enough.
    n.rn.step(msg(MessageType.MsgAppResp, 2n, 1n, 3, { index: 2 }));
    expect(n.r.raftLog.committed).toBe(0);
    // Once entry 3 of term 3 is on a majority, it and everything before it is committed.
    n.rn.step(msg(MessageType.MsgAppResp, 2n, 1n, 3, { index: 3 }));
    expect(n.r.raftLog.committed).toBe(3);
  });

  it('paper - figure 8: an old-term entry on a majority is not committed, because a later leader could overwrite it', () => {
    // S1 leads term 4 with [1/1, 2/2]: entry 2 (term 2) reaches S3 and so a majority of five (S1, S2, S3).
    const ids = [1n, 2n, 3n, 4n, 5n];
    const s1 = newTestNode(1n, ids, { storage: storageWithLog(ids, [1, 2]) });
    s1.r.loadState({ term: 3, vote: None, commit: 1 });
    s1.r.becomeCandidate();
    s1.r.becomeLeader();
    processReady(s1);
    s1.rn.step(msg(MessageType.MsgAppResp, 2n, 1n, 4, { index: 2 }));
    s1.rn.step(msg(MessageType.MsgAppResp, 3n, 1n, 4, { index: 2 }));
    expect(s1.r.raftLog.committed).toBe(1);
    // Indeed S5, whose log [1/1, 2/3] ends in term 3, can still win votes from S2, S3, S4 (their logs end in term 2)
    // and overwrite index 2.
    const s3 = newTestNode(3n, ids, { storage: storageWithLog(ids, [1, 2]) });
    s3.rn.step(msg(MessageType.MsgVote, 5n, 3n, 5, { index: 2, logTerm: 3 }));
    expect(takeMessages(s3.r)[0]!.reject).toBe(false);
  });

  it('paper - leader completeness: a node that missed committed entries cannot be elected', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    net.isolate(3n);
    net.propose(1n, 'a');
    net.propose(1n, 'b');
    net.recover();
    net.node(3n).rn.campaign();
    net.stabilize();
    expect(net.node(3n).r.state).not.toBe(StateType.Leader);
    // Whoever leads next has the committed entries.
    net.campaign(2n);
    expect(net.leaders()).toEqual([2n]);
    expect(net.node(2n).applied.map((e) => dec(e.data))).toEqual(['a', 'b']);
  });

  it('paper - state machine safety: every node applies the same entries in the same order', () => {
    const net = TestNetwork.of(5);
    net.campaign(1n);
    for (const d of ['a', 'b', 'c']) net.propose(1n, d);
    net.isolate(1n);
    net.campaign(4n);
    for (const d of ['d', 'e']) net.propose(4n, d);
    net.recover();
    net.propose(4n, 'f');
    net.tick(4n); // a heartbeat round resumes the probe of the node that was cut off
    const want = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const n of net.nodes.values()) expect(n.applied.map((e) => dec(e.data))).toEqual(want);
  });
});
