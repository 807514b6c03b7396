/**
 * The recipe checkers on hand-made histories: each accepts a correct one and rejects a broken one (negative
 * controls that need no server; the conformance suite adds live ones).
 */
import { describe, expect, it } from 'vitest';
import { checkBarrier, checkConcurrency, checkDeliveries, checkOrder, checkReadersWriters, maxConcurrency } from './recipes.js';

describe('recipe checkers', () => {
  it('concurrency - touching intervals do not overlap; a third concurrent holder breaks limit 2', () => {
    const ok = [
      { who: 'a', start: 0, end: 10 },
      { who: 'b', start: 5, end: 15 },
      { who: 'c', start: 10, end: 20 },
    ];
    expect(checkConcurrency(ok, 2)).toEqual({ violations: [], max: 2 });
    const bad = [...ok, { who: 'd', start: 12, end: 13 }];
    const r = checkConcurrency(bad, 2);
    expect(r.max).toBe(3);
    expect(r.violations[0]).toMatch(/3 holders at once \(limit 2\).*b, c, d/);
    expect(checkConcurrency([{ who: 'x', start: 5, end: 4 }], 1).violations).toHaveLength(1);
    expect(maxConcurrency([]).max).toBe(0);
  });

  it('readers-writers - readers may overlap each other, never a writer', () => {
    const ok = [
      { who: 'r1', start: 0, end: 10, kind: 'read' as const },
      { who: 'r2', start: 2, end: 8, kind: 'read' as const },
      { who: 'w', start: 10, end: 12, kind: 'write' as const },
    ];
    expect(checkReadersWriters(ok)).toEqual({ violations: [], maxReaders: 2 });
    const bad = [...ok, { who: 'r3', start: 11, end: 14, kind: 'read' as const }];
    expect(checkReadersWriters(bad).violations[0]).toMatch(/writer w .* overlaps read r3/);
    const twoWriters = [
      { who: 'w1', start: 0, end: 5, kind: 'write' as const },
      { who: 'w2', start: 4, end: 6, kind: 'write' as const },
    ];
    expect(checkReadersWriters(twoWriters).violations.length).toBeGreaterThan(0);
  });

  it('order - any difference is reported', () => {
    expect(checkOrder(['a', 'b'], ['a', 'b'])).toEqual([]);
    expect(checkOrder(['a', 'b'], ['b', 'a'])).toHaveLength(1);
    expect(checkOrder(['a', 'b'], ['a'])).toHaveLength(1);
  });

  it('barrier - passing before the last arrival is reported', () => {
    const ok = [
      { who: 'a', arrived: 0, passed: 5 },
      { who: 'b', arrived: 4, passed: 5 },
    ];
    expect(checkBarrier(ok, 2)).toEqual([]);
    expect(checkBarrier([{ who: 'a', arrived: 0, passed: 3 }, { who: 'b', arrived: 4, passed: 5 }], 2)[0]).toMatch(/a passed at 3.000, before the last arrival/);
    expect(checkBarrier(ok, 3)).toHaveLength(1);
  });

  it('deliveries - lost, duplicated and unknown acks are reported', () => {
    expect(checkDeliveries(['a', 'b'], ['b', 'a']).violations).toEqual([]);
    const r = checkDeliveries(['a', 'b', 'c'], ['a', 'a', 'z']);
    expect(r.missing).toEqual(['b', 'c']);
    expect(r.duplicated).toEqual(['a']);
    expect(r.violations).toHaveLength(4);
  });
});
