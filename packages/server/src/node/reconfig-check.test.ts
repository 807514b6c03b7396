import { describe, expect, it } from 'vitest';
import { checkAddVoter, checkPromote, checkRemoveVoter, HEALTH_INTERVAL_MS, type ReconfigView } from './reconfig-check.js';

/** A view from member 1 of voters 1..n; `down` are not connected, `young` connected for less than the interval. */
function view(n: number, opts: { down?: number[]; young?: number[]; unstarted?: number[] } = {}): ReconfigView {
  const ids = Array.from({ length: n }, (_, i) => BigInt(i + 1));
  const connectedForMs = new Map<bigint, number>();
  for (const id of ids.slice(1)) {
    const i = Number(id);
    connectedForMs.set(id, opts.down?.includes(i) ? 0 : opts.young?.includes(i) ? HEALTH_INTERVAL_MS - 1 : HEALTH_INTERVAL_MS);
  }
  return { voters: ids.map((id) => ({ id, started: !opts.unstarted?.includes(Number(id)) })), viewer: 1n, connectedForMs };
}

describe('strict reconfig check - etcd 3.4 rules', () => {
  it('adds a voter only with every voter connected long enough and a started quorum after the add', () => {
    expect(checkAddVoter(view(3))).toBeUndefined();
    expect(checkAddVoter(view(3, { down: [3] }))).toBe('Unhealthy');
    expect(checkAddVoter(view(3, { young: [2] }))).toBe('Unhealthy');
    expect(checkAddVoter(view(1))).toBeUndefined(); // a single member may take its second
    expect(checkAddVoter(view(2, { unstarted: [2] }))).toBe('MemberNotEnoughStarted'); // 1 of 3 started
    expect(checkAddVoter(view(4, { unstarted: [4] }))).toBeUndefined(); // 3 of 5 started
    expect(checkAddVoter(view(4, { unstarted: [3, 4] }))).toBe('MemberNotEnoughStarted');
  });

  it('removes a down voter, but not a live one when the rest would lack an active quorum', () => {
    expect(checkRemoveVoter(view(3), 2n)).toBeUndefined();
    expect(checkRemoveVoter(view(3, { down: [3] }), 3n)).toBeUndefined();
    expect(checkRemoveVoter(view(3, { down: [3] }), 2n)).toBe('Unhealthy');
    expect(checkRemoveVoter(view(3, { down: [3] }), 1n)).toBe('Unhealthy'); // the viewer itself counts as live
    expect(checkRemoveVoter(view(5, { down: [5] }), 2n)).toBeUndefined(); // 3 live of the 4 left
    expect(checkRemoveVoter(view(5, { down: [4, 5] }), 2n)).toBe('Unhealthy');
    // Connected, but for less than the interval: subtracted without being counted (as etcd does).
    expect(checkRemoveVoter(view(3, { young: [2] }), 2n)).toBe('Unhealthy');
    expect(checkRemoveVoter(view(3, { unstarted: [2, 3] }), 3n)).toBe('MemberNotEnoughStarted');
  });

  it('promotes a learner when, counted as started, the started voters are a quorum', () => {
    expect(checkPromote(view(3))).toBeUndefined();
    expect(checkPromote(view(3, { unstarted: [2, 3] }))).toBe('MemberNotEnoughStarted'); // 2 of 4
    expect(checkPromote(view(2, { unstarted: [2] }))).toBeUndefined(); // 2 of 3
  });
});
