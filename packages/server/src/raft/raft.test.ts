import { describe, expect, it } from 'vitest';
import type { BugName } from './bugs.js';
import { ConfigError, ProposalDroppedError, RaftUsageError } from './errors.js';
import { ent, newTestNode, processReady, takeMessages, TestNetwork, type TestNode } from './rafttest/harness.js';
import { RawNode } from './raw-node.js';
import { MemoryStorage } from './storage.js';
import { ProgressState } from './tracker/progress.js';
import { ConfChangeType, encodeConfChange, EntryType, MessageType, newMessage, None, StateType, type Message, type NodeId } from './types.js';

// Behaviour of the core beyond the paper: pre-vote, check-quorum, flow control, ReadIndex, transfer, membership,
// backpressure, and the RawNode API contract.

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const msg = (type: MessageType, from: NodeId, to: NodeId, term: number, extra: Partial<Message> = {}) => newMessage({ type, from, to, term, ...extra });

function leaderOf(net: TestNetwork): TestNode {
  const ls = net.leaders();
  expect(ls).toHaveLength(1);
  return net.node(ls[0]!);
}

describe('raft - elections with pre-vote and check-quorum', () => {
  it('raft - a pre-candidate does not raise its term', () => {
    const n = newTestNode(1n, [1n, 2n, 3n], { preVote: true });
    n.rn.campaign();
    expect(n.r.state).toBe(StateType.PreCandidate);
    expect(n.r.term).toBe(0);
    expect(takeMessages(n.r).map((m) => [m.type, m.term])).toEqual([
      [MessageType.MsgPreVote, 1],
      [MessageType.MsgPreVote, 1],
    ]);
  });

  it('raft - a node partitioned away does not disrupt the leader when it returns (pre-vote)', () => {
    const net = TestNetwork.of(3, { preVote: true, checkQuorum: true });
    net.campaign(1n);
    net.isolate(3n);
    for (let i = 0; i < 5; i++) net.tick(3n, 20);
    expect(net.node(3n).r.term).toBe(1);
    net.recover();
    net.tick(1n, 1);
    expect(net.leaders()).toEqual([1n]);
    expect(net.node(1n).r.term).toBe(1);
    expect(net.node(3n).r.lead).toBe(1n);
  });

  it('raft - followers ignore vote requests while their leader lease is fresh', () => {
    const net = TestNetwork.of(3, { preVote: false, checkQuorum: true });
    net.campaign(1n);
    net.node(3n).rn.campaign();
    net.stabilize();
    expect(net.leaders()).toEqual([1n]);
    expect(net.node(2n).r.term).toBe(1);
    expect(net.node(2n).r.vote).toBe(1n);
  });

  it('raft - a leader without an active quorum steps down (check-quorum)', () => {
    const net = TestNetwork.of(3, { checkQuorum: true, preVote: true });
    net.campaign(1n);
    net.isolate(1n);
    net.tick(1n, 20);
    expect(net.node(1n).r.state).toBe(StateType.Follower);
  });

  it('raft - forgetting the leader lets a follower grant votes at once', () => {
    const net = TestNetwork.of(3, { checkQuorum: true, preVote: true });
    net.campaign(1n);
    net.isolate(1n);
    net.node(3n).rn.forgetLeader();
    expect(net.node(3n).r.lead).toBe(None);
    net.campaign(2n);
    expect(net.node(2n).r.state).toBe(StateType.Leader);
    // forgetLeader is a no-op on a leader.
    net.node(2n).rn.forgetLeader();
    expect(net.node(2n).r.state).toBe(StateType.Leader);
  });

  it('raft - a learner never campaigns nor counts as a vote', () => {
    const n = newTestNode(4n, [1n, 2n, 3n], { learners: [4n] });
    for (let i = 0; i < 50; i++) n.rn.tick();
    expect(n.r.state).toBe(StateType.Follower);
    expect(takeMessages(n.r)).toEqual([]);
    const cand = newTestNode(1n, [1n, 2n, 3n], { learners: [4n] });
    cand.rn.campaign();
    processReady(cand);
    cand.rn.step(msg(MessageType.MsgVoteResp, 4n, 1n, 1));
    expect(cand.r.state).toBe(StateType.Candidate);
  });
});

describe('raft - proposals', () => {
  it('raft - a proposal without a leader is dropped with a typed error', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    expect(() => n.rn.propose(enc('x'))).toThrow(ProposalDroppedError);
    n.r.becomeCandidate();
    expect(() => n.rn.propose(enc('x'))).toThrow(ProposalDroppedError);
  });

  it('raft - a follower forwards proposals to the leader', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    net.propose(2n, 'via follower');
    expect(net.node(3n).applied.map((e) => dec(e.data))).toEqual(['via follower']);
  });

  it('raft - with forwarding disabled a follower drops proposals', () => {
    const net = TestNetwork.of(3, { disableProposalForwarding: true });
    net.campaign(1n);
    expect(() => net.node(2n).rn.propose(enc('x'))).toThrow(new ProposalDroppedError('forwarding-disabled'));
  });

  it('raft - a leader drops proposals beyond its uncommitted-size budget', () => {
    const net = TestNetwork.of(3, { maxUncommittedEntriesSize: 10 });
    net.campaign(1n);
    net.isolate(2n);
    net.isolate(3n);
    const l = net.node(1n);
    l.rn.propose(enc('12345678'));
    expect(() => l.rn.propose(enc('12345678'))).toThrow(new ProposalDroppedError('uncommitted-size-limit'));
    // Once committed and applied, the budget frees up.
    net.recover();
    net.tick(1n, 1);
    l.rn.propose(enc('12345678'));
  });

  it('raft - a remote proposal the leader cannot take is dropped silently', () => {
    const n = newTestNode(1n, [1n, 2n, 3n]);
    // Not a leader, no leader known: stepping a forwarded proposal does not throw.
    n.rn.step(msg(MessageType.MsgProp, 2n, 1n, 0, { entries: [{ term: 0, index: 0, type: EntryType.Normal, data: enc('x') }] }));
    expect(n.r.raftLog.lastIndex()).toBe(0);
  });
});

describe('raft - replication flow control', () => {
  it('raft - a follower in replicate state gets at most maxInflightMsgs appends in flight', () => {
    const net = TestNetwork.of(3, { maxInflightMsgs: 2, maxSizePerMsg: 0 });
    net.campaign(1n);
    const l = net.node(1n);
    net.isolate(2n);
    net.isolate(3n);
    for (let i = 0; i < 5; i++) l.rn.propose(enc(`p${i}`));
    const rd = l.rn.ready();
    const to2 = rd.messages.filter((m) => m.to === 2n && m.type === MessageType.MsgApp);
    expect(to2).toHaveLength(2);
    expect(to2.every((m) => m.entries.length === 1)).toBe(true);
    expect(l.r.trk.progress.get(2n)!.inflights.full()).toBe(true);
    l.rn.advance(rd);
  });

  it('raft - in-flight bytes are bounded too', () => {
    const net = TestNetwork.of(2, { maxInflightMsgs: 100, maxSizePerMsg: 20, maxInflightBytes: 40 });
    net.campaign(1n);
    net.isolate(2n);
    const l = net.node(1n);
    for (let i = 0; i < 6; i++) l.rn.propose(enc('xx'));
    const apps = l.rn.ready().messages.filter((m) => m.type === MessageType.MsgApp);
    expect(apps).toHaveLength(3); // 18 + 18 bytes, then one that passes 40
  });

  it('raft - a rejected append makes the leader probe back with the follower hint', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    const l = net.node(1n);
    net.isolate(2n);
    net.propose(1n, 'x');
    const pr = l.r.trk.progress.get(2n)!;
    expect([pr.state, pr.match, pr.next]).toEqual([ProgressState.Replicate, 1, 3]);
    // A rejection of an index at or below match is stale and ignored; one above it sends the leader back to probing.
    l.rn.step(msg(MessageType.MsgAppResp, 2n, 1n, 1, { index: 1, reject: true, rejectHint: 0 }));
    expect(pr.state).toBe(ProgressState.Replicate);
    l.rn.step(msg(MessageType.MsgAppResp, 2n, 1n, 1, { index: 2, reject: true, rejectHint: 1, logTerm: 1 }));
    expect([pr.state, pr.next]).toEqual([ProgressState.Probe, 2]);
  });

  it('raft - reportUnreachable moves a replicating follower back to probe', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    const l = net.node(1n);
    expect(l.r.trk.progress.get(2n)!.state).toBe(ProgressState.Replicate);
    l.rn.reportUnreachable(2n);
    expect(l.r.trk.progress.get(2n)!.state).toBe(ProgressState.Probe);
  });

  it('raft - a follower whose entries were compacted gets a snapshot; reportSnapshot resumes probing', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    net.isolate(3n);
    net.propose(1n, 'a');
    net.propose(1n, 'b');
    const l = net.node(1n);
    const applied = l.r.raftLog.applied;
    l.storage.createSnapshot(applied, { voters: [1n, 2n, 3n], learners: [] }, enc('state'));
    l.storage.compact(applied);
    net.recover();
    // Drop the snapshot in flight: the follower stays behind until the transport reports.
    net.ignore(MessageType.MsgSnap);
    net.tick(1n, 1);
    const pr = l.r.trk.progress.get(3n)!;
    expect(pr.state).toBe(ProgressState.Snapshot);
    expect(pr.pendingSnapshot).toBe(applied);
    l.rn.reportSnapshot(3n, false);
    expect(pr.state).toBe(ProgressState.Probe);
    net.recover();
    net.tick(1n, 1);
    net.tick(1n, 1);
    expect(net.node(3n).r.raftLog.committed).toBe(l.r.raftLog.committed);
    expect(net.node(3n).storage.snapshot().metadata.index).toBe(applied);
  });
});

/** Collects the index of every read state `n` is handed, as the network advances it. */
function readStateIndexes(n: TestNode): number[] {
  const got: number[] = [];
  const advance = n.rn.advance.bind(n.rn);
  n.rn.advance = (rd) => {
    got.push(...rd.readStates.map((r) => r.index));
    advance(rd);
  };
  return got;
}

describe('raft - commit-only appends (commitOnlyAppends)', () => {
  /** Runs an election and three proposals on 3 voters; returns what was delivered. */
  function run(commitOnlyAppends: boolean): { net: TestNetwork; apps: Message[]; resps: Message[] } {
    const net = TestNetwork.of(3, { commitOnlyAppends });
    net.campaign(1n);
    for (const p of ['a', 'b', 'c']) net.propose(1n, p);
    const apps = net.delivered.filter((m) => m.type === MessageType.MsgApp);
    const resps = net.delivered.filter((m) => m.type === MessageType.MsgAppResp);
    return { net, apps, resps };
  }

  it('raft - a follower does not answer an append that only moves its commit index', () => {
    const on = run(true);
    const off = run(false);
    const marked = on.apps.filter((m) => m.commitOnly);
    expect(marked.length).toBeGreaterThan(0);
    expect(marked.every((m) => m.entries.length === 0)).toBe(true);
    expect(off.apps.some((m) => m.commitOnly)).toBe(false);
    // The same appends go out; each marked one is one answer fewer.
    expect(on.apps.length).toBe(off.apps.length);
    expect(on.resps.length).toBe(off.resps.length - marked.length);
    // Every member still learns every commit.
    for (const id of [1n, 2n, 3n]) {
      expect(on.net.node(id).r.raftLog.committed).toBe(4);
      expect(on.net.node(id).applied.map((e) => dec(e.data))).toEqual(['a', 'b', 'c']);
    }
  });

  it('raft - a mismatching follower still rejects a commit-only append', () => {
    const f = newTestNode(2n, [1n, 2n, 3n], { commitOnlyAppends: true });
    f.rn.step(msg(MessageType.MsgApp, 1n, 2n, 2, { index: 5, logTerm: 2, commit: 5, commitOnly: true }));
    const out = takeMessages(f.r);
    expect(out).toHaveLength(1);
    expect([out[0]!.type, out[0]!.reject]).toEqual([MessageType.MsgAppResp, true]);
  });

  function lostAnswer(bugs?: Set<BugName>): TestNetwork {
    // Flow-control window of one append; member 3 is away, so member 2's answer is needed to commit.
    const net = TestNetwork.of(3, { commitOnlyAppends: true, maxInflightMsgs: 1, ...(bugs ? { bugs } : {}) });
    net.campaign(1n);
    net.isolate(3n);
    net.ignore(MessageType.MsgAppResp); // member 2's answer to the next append is lost
    net.propose(1n, 'x');
    net.recover();
    net.isolate(3n);
    expect(net.node(1n).r.raftLog.committed).toBe(1);
    // A heartbeat answer makes the leader send an append again; its window is full, so it carries no entries.
    net.tick(1n, 3);
    return net;
  }

  it('raft - after a lost answer the next empty append is not commit-only, so the follower repeats its match', () => {
    const net = lostAnswer();
    expect(net.node(1n).r.raftLog.committed).toBe(2);
    expect(net.node(2n).r.raftLog.committed).toBe(2);
  });

  it('raft - marking that append commit-only as well (the bug-zoo switch) stalls the commit', () => {
    const net = lostAnswer(new Set<BugName>(['commit-only-append-unmatched']));
    expect(net.node(1n).r.raftLog.committed).toBe(1);
    expect(net.delivered.filter((m) => m.type === MessageType.MsgApp && m.commitOnly && m.to === 2n).length).toBeGreaterThan(0);
  });
});

describe('raft - ReadIndex', () => {
  it('raft - a single voter answers a read without a heartbeat round, once it has committed in its term', () => {
    const n = newTestNode(1n, [1n]);
    n.rn.campaign();
    processReady(n); // the vote is durable: leader
    n.rn.readIndex(enc('early')); // its empty entry is not committed yet: queued
    expect(processReady(n)!.readStates).toEqual([]);
    const rd2 = processReady(n)!;
    expect(rd2.readStates.map((r) => [dec(r.requestCtx), r.index])).toEqual([['early', 1]]);
    n.rn.readIndex(enc('late'));
    expect(processReady(n)!.readStates.map((r) => [dec(r.requestCtx), r.index])).toEqual([['late', 1]]);
  });

  it('raft - the leader confirms leadership with a heartbeat round before answering', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    const l = net.node(1n);
    l.rn.readIndex(enc('r'));
    const rd = l.rn.ready();
    expect(rd.readStates).toEqual([]);
    const hbs = rd.messages.filter((m) => m.type === MessageType.MsgHeartbeat);
    expect(hbs.map((m) => m.to)).toEqual([2n, 3n]);
    expect(hbs[0]!.context.length).toBe(8);
    l.rn.advance(rd);
    // A heartbeat answer without the read's context does not confirm it.
    l.rn.step(msg(MessageType.MsgHeartbeatResp, 2n, 1n, 1));
    const rdx = l.rn.ready();
    expect(rdx.readStates).toEqual([]);
    l.rn.advance(rdx);
    // One follower's answer plus the leader's own is a quorum of three.
    l.rn.step(msg(MessageType.MsgHeartbeatResp, 2n, 1n, 1, { context: hbs[0]!.context }));
    const rd2 = l.rn.ready();
    expect(rd2.readStates.map((r) => [dec(r.requestCtx), r.index])).toEqual([['r', 1]]);
    l.rn.advance(rd2);
  });

  it('raft - a deposed leader cannot confirm a read', () => {
    const net = TestNetwork.of(3, { checkQuorum: true, preVote: true });
    net.campaign(1n);
    net.isolate(1n);
    net.node(3n).rn.forgetLeader();
    net.campaign(2n);
    expect(net.leaders()).toEqual([1n, 2n]);
    const old = net.node(1n);
    old.rn.readIndex(enc('stale?'));
    net.recover();
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      net.tick(1n, 1);
      const rd = processReady(old);
      if (rd) seen.push(...rd.readStates.map((r) => dec(r.requestCtx)));
    }
    expect(seen).toEqual([]);
    expect(old.r.state).toBe(StateType.Follower);
  });

  /** Follower `f` asks for a read; returns the request it forwards to the leader. */
  function forwardedRead(f: TestNode, ctx: string): Message {
    f.rn.readIndex(enc(ctx));
    const rd = f.rn.ready();
    f.rn.advance(rd);
    const fwd = rd.messages.filter((m) => m.type === MessageType.MsgReadIndex);
    expect(fwd).toHaveLength(1);
    return fwd[0]!;
  }

  it("raft - with three voters a follower's forwarded read is answered without a heartbeat round", () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    const l = net.node(1n);
    const req = forwardedRead(net.node(2n), 'f');
    expect([req.to, req.logTerm]).toEqual([1n, l.r.term]); // the follower's term goes with the request
    l.rn.step(req);
    const rd = l.rn.ready();
    l.rn.advance(rd);
    expect(rd.messages.filter((m) => m.type === MessageType.MsgHeartbeat)).toEqual([]);
    const resp = rd.messages.filter((m) => m.type === MessageType.MsgReadIndexResp);
    expect(resp.map((m) => [m.to, m.index, dec(m.entries[0]!.data)])).toEqual([[2n, l.r.raftLog.committed, 'f']]);
  });

  it('raft - a forwarded read without the follower term, or with another, waits for a heartbeat round', () => {
    for (const logTerm of [0, 2]) {
      const net = TestNetwork.of(3);
      net.campaign(1n);
      const l = net.node(1n);
      expect(l.r.term).toBe(1);
      l.rn.step({ ...forwardedRead(net.node(2n), 'f'), logTerm });
      const rd = l.rn.ready();
      l.rn.advance(rd);
      expect(rd.messages.filter((m) => m.type === MessageType.MsgReadIndexResp)).toEqual([]);
      expect(rd.messages.filter((m) => m.type === MessageType.MsgHeartbeat).map((m) => m.to)).toEqual([2n, 3n]);
    }
  });

  it("raft - with five voters a forwarded read is not a quorum: the heartbeat round needs two more answers", () => {
    const net = TestNetwork.of(5);
    net.campaign(1n);
    const l = net.node(1n);
    l.rn.step(forwardedRead(net.node(2n), 'f'));
    const rd = l.rn.ready();
    l.rn.advance(rd);
    expect(rd.messages.filter((m) => m.type === MessageType.MsgReadIndexResp)).toEqual([]);
    const hbs = rd.messages.filter((m) => m.type === MessageType.MsgHeartbeat);
    expect(hbs.map((m) => m.to)).toEqual([2n, 3n, 4n, 5n]);
    const answered = (): Message[] => {
      const r = l.rn.ready();
      l.rn.advance(r);
      return r.messages.filter((m) => m.type === MessageType.MsgReadIndexResp);
    };
    // The asking follower's own heartbeat answer plus the leader: two of five, not yet a quorum.
    l.rn.step(msg(MessageType.MsgHeartbeatResp, 2n, 1n, 1, { context: hbs[0]!.context }));
    expect(answered()).toEqual([]);
    l.rn.step(msg(MessageType.MsgHeartbeatResp, 3n, 1n, 1, { context: hbs[1]!.context }));
    expect(answered().map((m) => m.to)).toEqual([2n]);
  });

  it("raft - with five voters a deposed leader does not answer its follower's forwarded read", () => {
    const net = TestNetwork.of(5);
    net.campaign(1n);
    // {1, 2} | {3, 4, 5}: 3 is elected in term 2 and commits a write that 1 and 2 never see.
    for (const a of [1n, 2n]) for (const b of [3n, 4n, 5n]) net.cut(a, b);
    net.campaign(3n);
    net.propose(3n, 'w');
    expect(net.leaders()).toEqual([1n, 3n]);
    expect(net.node(3n).r.raftLog.committed).toBeGreaterThan(net.node(1n).r.raftLog.committed);
    // 2 still follows 1 in term 1, so its read goes there: answered, it would miss the write.
    const f = net.node(2n);
    const states = readStateIndexes(f);
    f.rn.readIndex(enc('r'));
    net.stabilize();
    net.tick(1n, 1);
    expect(states).toEqual([]);
  });

  it('raft - reads with the same context are answered separately', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    const l = net.node(1n);
    const got = readStateIndexes(l);
    l.rn.readIndex(enc('same'));
    net.stabilize();
    net.propose(1n, 'x');
    l.rn.readIndex(enc('same'));
    net.stabilize();
    expect(got).toEqual([1, 2]);
  });
});

describe('raft - leadership transfer', () => {
  it('raft - transfer to an up-to-date follower completes', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    net.node(1n).rn.transferLeader(2n);
    net.stabilize();
    expect(net.leaders()).toEqual([2n]);
    expect(net.node(2n).r.term).toBe(2);
  });

  it('raft - a transfer asked of a follower is forwarded to the leader', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    net.node(3n).rn.transferLeader(3n);
    net.stabilize();
    expect(net.leaders()).toEqual([3n]);
  });

  it('raft - a transfer to a learner is ignored', () => {
    const ids = [1n, 2n, 3n];
    const nodes = [...ids, 4n].map((id) => newTestNode(id, ids, { learners: [4n] }));
    const net = new TestNetwork(nodes);
    net.campaign(1n);
    net.node(1n).rn.transferLeader(4n);
    expect(net.node(1n).r.leadTransferee).toBe(None);
  });

  it('raft - proposals are dropped during a transfer, which is aborted after an election timeout', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    net.isolate(3n);
    const l = net.node(1n);
    l.rn.transferLeader(3n);
    expect(l.r.leadTransferee).toBe(3n);
    expect(() => l.rn.propose(enc('x'))).toThrow(new ProposalDroppedError('leader-transfer'));
    net.tick(1n, 10);
    expect(l.r.leadTransferee).toBe(None);
    l.rn.propose(enc('x'));
  });
});

describe('raft - membership changes', () => {
  const cc = (type: ConfChangeType, nodeId: NodeId) => ({ type, nodeId, context: new Uint8Array(0) });

  it('raft - a leader accepts a conf change only after committing an entry of its term', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    // 1 wins term 2 but its empty entry is not yet applied: a conf change is turned into an empty entry.
    net.isolate(1n);
    const l = net.node(1n);
    l.r.becomeFollower(1, None);
    l.rn.campaign();
    processReady(l);
    for (const p of [2n, 3n]) l.rn.step(msg(MessageType.MsgVoteResp, p, 1n, 2));
    expect(l.r.state).toBe(StateType.Leader);
    l.rn.proposeConfChange(cc(ConfChangeType.AddLearnerNode, 4n));
    expect(l.r.raftLog.allEntries().at(-1)!.type).toBe(EntryType.Normal);
    // Once the empty entry is committed and applied, the same change is accepted.
    net.recover();
    net.tick(1n, 1);
    l.rn.proposeConfChange(cc(ConfChangeType.AddLearnerNode, 4n));
    expect(l.r.raftLog.allEntries().at(-1)!.type).toBe(EntryType.ConfChange);
  });

  it('raft - only one conf change may be pending', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    const l = net.node(1n);
    l.rn.proposeConfChange(cc(ConfChangeType.AddLearnerNode, 4n));
    l.rn.proposeConfChange(cc(ConfChangeType.AddLearnerNode, 5n));
    const ents = l.r.raftLog.allEntries().slice(-2);
    expect(ents.map((e) => e.type)).toEqual([EntryType.ConfChange, EntryType.Normal]);
  });

  it('raft - removing the last voter is refused', () => {
    const net = new TestNetwork([newTestNode(1n, [1n])]);
    net.campaign(1n);
    const l = net.node(1n);
    l.rn.proposeConfChange(cc(ConfChangeType.RemoveNode, 1n));
    net.stabilize();
    expect(l.r.trk.voters).toEqual([1n]);
  });

  it('raft - a conf change takes effect when the application applies it', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    const l = net.node(1n);
    l.rn.proposeConfChange(cc(ConfChangeType.AddLearnerNode, 4n));
    expect(l.r.trk.learners).toEqual([]);
    net.stabilize();
    expect(l.r.trk.learners).toEqual([4n]);
    expect(l.r.trk.progress.get(4n)?.isLearner).toBe(true);
    l.rn.proposeConfChange(cc(ConfChangeType.AddNode, 4n));
    net.stabilize();
    expect(l.r.trk.voters).toEqual([1n, 2n, 3n, 4n]);
    expect(l.r.trk.learners).toEqual([]);
  });

  it('raft - learners do not count toward the commit quorum', () => {
    const ids = [1n, 2n, 3n];
    const l = newTestNode(1n, ids, { learners: [4n, 5n] });
    l.r.becomeCandidate();
    l.r.becomeLeader();
    processReady(l);
    l.rn.step(msg(MessageType.MsgAppResp, 4n, 1n, 1, { index: 1 }));
    l.rn.step(msg(MessageType.MsgAppResp, 5n, 1n, 1, { index: 1 }));
    expect(l.r.raftLog.committed).toBe(0);
    l.rn.step(msg(MessageType.MsgAppResp, 2n, 1n, 1, { index: 1 }));
    expect(l.r.raftLog.committed).toBe(1);
  });

  it('raft - a removed leader steps down (stepDownOnRemoval, the default)', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    net.node(1n).rn.proposeConfChange(cc(ConfChangeType.RemoveNode, 1n));
    net.stabilize();
    expect(net.node(1n).r.state).toBe(StateType.Follower);
    expect(net.node(1n).r.promotable()).toBe(false);
  });

  it('raft - without stepDownOnRemoval a removed leader keeps leading but takes no proposals', () => {
    const net = TestNetwork.of(3, { stepDownOnRemoval: false });
    net.campaign(1n);
    net.node(1n).rn.proposeConfChange(cc(ConfChangeType.RemoveNode, 1n));
    net.stabilize();
    expect(net.node(1n).r.state).toBe(StateType.Leader);
    expect(() => net.node(1n).rn.propose(enc('x'))).toThrow(new ProposalDroppedError('not-a-member'));
  });

  it('raft - removing a slow voter lets the leader commit', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    net.isolate(3n);
    net.isolate(2n);
    const l = net.node(1n);
    l.rn.proposeConfChange(cc(ConfChangeType.RemoveNode, 3n));
    // Only the leader has it: not committed.
    processReady(l);
    expect(l.r.raftLog.committed).toBe(1);
    net.recover();
    net.isolate(3n);
    net.tick(1n, 1);
    expect(l.r.trk.voters).toEqual([1n, 2n]);
  });
});

describe('raft - RawNode contract', () => {
  it('raft - stepping a local message from the network is a usage error', () => {
    const n = newTestNode(1n, [1n, 2n]);
    expect(() => n.rn.step(msg(MessageType.MsgHup, 2n, 1n, 0))).toThrow(RaftUsageError);
  });

  it('raft - a response from an unknown peer is dropped', () => {
    const n = newTestNode(1n, [1n, 2n]);
    n.r.becomeCandidate();
    n.rn.step(msg(MessageType.MsgVoteResp, 9n, 1n, 1));
    expect(n.r.trk.votes.has(9n)).toBe(false);
  });

  it('raft - ready twice without advance is a usage error', () => {
    const n = newTestNode(1n, [1n]);
    n.rn.campaign();
    n.rn.ready();
    expect(() => n.rn.ready()).toThrow(RaftUsageError);
  });

  it('raft - status reports progress only on the leader', () => {
    const net = TestNetwork.of(3);
    net.campaign(1n);
    const s = net.node(1n).rn.status();
    expect(s.softState).toEqual({ lead: 1n, raftState: StateType.Leader });
    expect([...s.progress.keys()]).toEqual([1n, 2n, 3n]);
    expect(s.progress.get(2n)).toMatchObject({ state: 'replicate', match: 1, next: 2 });
    expect(s.config).toEqual({ voters: [1n, 2n, 3n], learners: [] });
    expect(net.node(2n).rn.status().progress.size).toBe(0);
  });

  it('raft - config validation fills defaults and rejects nonsense', () => {
    const storage = new MemoryStorage();
    const base = { id: 1n, electionTick: 10, heartbeatTick: 1, storage, random: () => 0 };
    const rn = new RawNode(base);
    expect(rn.raft.checkQuorum).toBe(true);
    expect(rn.raft.preVote).toBe(true);
    expect(rn.raft.stepDownOnRemoval).toBe(true);
    expect(() => new RawNode({ ...base, id: 0n })).toThrow(ConfigError);
    expect(() => new RawNode({ ...base, electionTick: 1 })).toThrow(ConfigError);
    expect(() => new RawNode({ ...base, heartbeatTick: 0 })).toThrow(ConfigError);
    expect(() => new RawNode({ ...base, maxInflightMsgs: 0 })).toThrow(ConfigError);
    expect(() => new RawNode({ ...base, maxSizePerMsg: 100, maxInflightBytes: 10 })).toThrow(ConfigError);
  });

  it('raft - each role transition logs exactly one line', () => {
    const lines: string[] = [];
    const logger = { debug() {}, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error() {} };
    const n = newTestNode(1n, [1n], { logger, preVote: true });
    lines.length = 0;
    n.rn.campaign();
    processReady(n);
    processReady(n);
    expect(lines.filter((l) => / became /.test(l))).toEqual(['1 became pre-candidate at term 0', '1 became candidate at term 1', '1 became leader at term 1']);
  });

  it('raft - a conf change travels as entry data', () => {
    const n = newTestNode(1n, [1n]);
    n.rn.campaign();
    processReady(n); // leader
    processReady(n); // empty entry durable: committed
    processReady(n); // empty entry applied: conf changes accepted
    n.rn.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 2n, context: enc('url') });
    const e = n.r.raftLog.allEntries().at(-1)!;
    expect(e.type).toBe(EntryType.ConfChange);
    expect(e.data).toEqual(encodeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 2n, context: enc('url') }));
  });
});

describe('raft - restart', () => {
  it('raft - restarting recovers term, vote, commit and log; an applied index ahead of the commit raises it', () => {
    const storage = MemoryStorage.withConfState({ voters: [1n, 2n, 3n], learners: [] }, 0, 0);
    storage.append([1, 2, 3].map((i) => ({ term: 2, index: i, type: EntryType.Normal, data: enc(`e${i}`) })));
    storage.setHardState({ term: 3, vote: 2n, commit: 1 });
    const rn = new RawNode({ id: 1n, electionTick: 10, heartbeatTick: 1, storage, random: () => 0, applied: 2 });
    expect(rn.basicStatus().hardState).toEqual({ term: 3, vote: 2n, commit: 2 });
    expect(rn.basicStatus().applied).toBe(2);
    // Nothing to do: entry 3 is not known to be committed, and the initial state is not reported as a change.
    expect(rn.hasReady()).toBe(false);
  });
});

describe('raft - committed entries taken during a Ready', () => {
  const app = (term: number, index: number, logTerm: number, entries: [number, number][], commit: number): Message =>
    newMessage({
      type: MessageType.MsgApp,
      from: 1n,
      to: 2n,
      term,
      index,
      logTerm,
      commit,
      entries: entries.map(([t, i]) => ent(t, i, `t${t}i${i}`)),
    });
  const indexes = (es: { index: number; term: number }[]): string[] => es.map((e) => `${e.term}/${e.index}`);

  it('hands out durable entries committed meanwhile once, never those still being persisted', () => {
    const n = newTestNode(2n, [1n, 2n, 3n]);
    n.rn.step(app(1, 0, 0, [[1, 1], [1, 2]], 0));
    processReady(n);
    // Outside a Ready nothing is taken: the next Ready carries the entries.
    n.rn.step(app(1, 2, 1, [], 1));
    expect(n.rn.takeCommittedEntries()).toEqual([]);
    processReady(n);
    // A Ready persisting entry 3 is in progress while the leader's commit index moves to 2, then to 3.
    n.rn.step(app(1, 2, 1, [[1, 3]], 1));
    const rd = n.rn.ready();
    expect(indexes(rd.entries)).toEqual(['1/3']);
    expect(rd.committedEntries).toEqual([]);
    n.rn.step(app(1, 3, 1, [], 2));
    expect(indexes(n.rn.takeCommittedEntries())).toEqual(['1/2']);
    expect(n.rn.takeCommittedEntries()).toEqual([]);
    n.rn.step(app(1, 3, 1, [], 3));
    expect(n.rn.takeCommittedEntries()).toEqual([]); // entry 3 is not durable here yet
    n.storage.append(rd.entries);
    n.rn.advance(rd);
    expect(n.rn.basicStatus().applied).toBe(2);
    const next = n.rn.ready();
    expect(indexes(next.committedEntries)).toEqual(['1/3']);
    n.rn.advance(next);
    expect(n.rn.basicStatus().applied).toBe(3);
  });

  it('does not take a durable entry that an in-progress append is replacing', () => {
    const n = newTestNode(2n, [1n, 2n, 3n]);
    n.rn.step(app(1, 0, 0, [[1, 1], [1, 2], [1, 3]], 1));
    processReady(n);
    // A new leader (term 2) overwrites entry 3 and says 3 is committed: its entry, not ours.
    n.rn.step(app(2, 2, 1, [[2, 3]], 3));
    const rd = n.rn.ready();
    expect(indexes(rd.entries)).toEqual(['2/3']);
    expect(indexes(rd.committedEntries)).toEqual(['1/1', '1/2']);
    expect(n.rn.takeCommittedEntries()).toEqual([]);
    n.storage.append(rd.entries);
    n.rn.advance(rd);
    expect(indexes(n.rn.ready().committedEntries)).toEqual(['2/3']);
  });
});
