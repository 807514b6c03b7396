import { describe, expect, it } from 'vitest';
import { ConfChangeType } from '../types.js';
import { Inflights } from './inflights.js';
import { Progress, ProgressState } from './progress.js';
import { ProgressTracker } from './tracker.js';

describe('tracker - inflights', () => {
  it('tracker - inflights fill by count and free in order', () => {
    const inf = new Inflights(3, Number.MAX_SAFE_INTEGER);
    inf.add(5, 10);
    inf.add(8, 10);
    inf.add(9, 10);
    expect(inf.full()).toBe(true);
    expect(() => inf.add(10, 1)).toThrow(/full/);
    inf.freeLE(8);
    expect([inf.length, inf.inflightBytes, inf.full()]).toEqual([1, 10, false]);
    inf.add(12, 1);
    inf.add(13, 1); // wraps around the ring
    inf.freeLE(12);
    expect(inf.length).toBe(1);
    inf.freeLE(100);
    expect(inf.length).toBe(0);
  });

  it('tracker - inflights fill by bytes', () => {
    const inf = new Inflights(100, 25);
    inf.add(1, 10);
    inf.add(2, 10);
    expect(inf.full()).toBe(false);
    inf.add(3, 10);
    expect(inf.full()).toBe(true);
    inf.freeLE(1);
    expect(inf.full()).toBe(false);
  });

  it('tracker - a long random workload keeps count and bytes consistent with a naive queue', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 48271) + 1) % 2147483647), seed % n);
    const inf = new Inflights(8, Number.MAX_SAFE_INTEGER);
    const naive: [number, number][] = [];
    let next = 1;
    for (let i = 0; i < 5000; i++) {
      if (!inf.full() && rnd(2) === 0) {
        const b = rnd(50);
        inf.add(next, b);
        naive.push([next, b]);
        next += 1 + rnd(3);
      } else if (naive.length > 0) {
        const to = naive[rnd(naive.length)]![0];
        inf.freeLE(to);
        while (naive.length > 0 && naive[0]![0] <= to) naive.shift();
      }
      expect(inf.length).toBe(naive.length);
      expect(inf.inflightBytes).toBe(naive.reduce((a, [, b]) => a + b, 0));
    }
  });
});

describe('tracker - progress', () => {
  it('tracker - probe sends one append at a time; replicate streams', () => {
    const pr = new Progress(5, 4, Number.MAX_SAFE_INTEGER, false);
    pr.sentEntries(2, 20);
    expect(pr.isPaused()).toBe(true);
    expect(pr.next).toBe(5);
    pr.maybeUpdate(6);
    pr.becomeReplicate();
    expect([pr.state, pr.next]).toEqual([ProgressState.Replicate, 7]);
    pr.sentEntries(3, 30);
    expect([pr.next, pr.isPaused()]).toEqual([10, false]);
  });

  it('tracker - stale rejections are ignored; fresh ones step next back (never below match + 1)', () => {
    const pr = new Progress(10, 4, Number.MAX_SAFE_INTEGER, false);
    pr.match = 3;
    expect(pr.maybeDecrTo(5, 4)).toBe(false); // probe answer to an older probe
    expect(pr.maybeDecrTo(9, 6)).toBe(true);
    expect(pr.next).toBe(7);
    expect(pr.maybeDecrTo(6, 0)).toBe(true);
    expect(pr.next).toBe(4);
  });

  it('tracker - snapshot state pauses until the follower catches up', () => {
    const pr = new Progress(3, 4, Number.MAX_SAFE_INTEGER, false);
    pr.becomeSnapshot(20);
    expect([pr.isPaused(), pr.next, pr.pendingSnapshot]).toEqual([true, 21, 20]);
    pr.becomeProbe();
    expect([pr.state, pr.next]).toEqual([ProgressState.Probe, 21]);
  });
});

describe('tracker - configuration', () => {
  const cc = (type: ConfChangeType, nodeId: bigint) => ({ type, nodeId, context: new Uint8Array(0) });

  it('tracker - add learner, promote, demote, remove, keeping progress across role changes', () => {
    const t = new ProgressTracker(8, Number.MAX_SAFE_INTEGER);
    t.restore({ voters: [1n, 2n, 3n], learners: [] }, 10);
    t.applyChange(cc(ConfChangeType.AddLearnerNode, 4n), 10);
    expect(t.confState()).toEqual({ voters: [1n, 2n, 3n], learners: [4n] });
    t.progress.get(4n)!.match = 7;
    t.applyChange(cc(ConfChangeType.AddNode, 4n), 10);
    expect(t.confState()).toEqual({ voters: [1n, 2n, 3n, 4n], learners: [] });
    expect(t.progress.get(4n)!.match).toBe(7);
    t.applyChange(cc(ConfChangeType.AddLearnerNode, 3n), 10);
    expect(t.confState()).toEqual({ voters: [1n, 2n, 4n], learners: [3n] });
    t.applyChange(cc(ConfChangeType.RemoveNode, 3n), 10);
    expect(t.confState()).toEqual({ voters: [1n, 2n, 4n], learners: [] });
    expect([...t.progress.keys()].sort()).toEqual([1n, 2n, 4n]);
    t.applyChange(cc(ConfChangeType.UpdateNode, 2n), 10);
    expect(t.confState()).toEqual({ voters: [1n, 2n, 4n], learners: [] });
  });

  it('tracker - the last voter cannot be removed or demoted', () => {
    const t = new ProgressTracker(8, Number.MAX_SAFE_INTEGER);
    t.restore({ voters: [1n], learners: [] }, 1);
    expect(t.checkChange(cc(ConfChangeType.RemoveNode, 1n))).toBe('removed all voters');
    expect(t.checkChange(cc(ConfChangeType.AddLearnerNode, 1n))).toBe('removed all voters');
    expect(() => t.applyChange(cc(ConfChangeType.RemoveNode, 1n), 1)).toThrow();
  });

  it('tracker - visits peers in id order and tallies only voters', () => {
    const t = new ProgressTracker(8, Number.MAX_SAFE_INTEGER);
    t.restore({ voters: [3n, 1n, 2n], learners: [9n] }, 1);
    const seen: bigint[] = [];
    t.visit((id) => seen.push(id));
    expect(seen).toEqual([1n, 2n, 3n, 9n]);
    t.recordVote(9n, true);
    t.recordVote(1n, true);
    t.recordVote(1n, false); // only the first answer counts
    expect(t.tallyVotes()).toMatchObject({ granted: 1, rejected: 0 });
  });
});
