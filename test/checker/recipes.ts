/**
 * Checkers for the coordination recipes' histories, recorded by tests on one monotonic clock (performance.now()
 * in the test process, so every client's events are comparable):
 *
 *   checkConcurrency   holds of a semaphore (or lock: limit 1) never exceed `limit` at any instant
 *   checkReadersWriters a writer's hold overlaps no other hold; reports how many readers were ever concurrent
 *   checkOrder          grants happened in the expected (FIFO / priority) order
 *   checkBarrier        nobody passed a barrier phase before the last participant arrived at it
 *   checkDeliveries     every enqueued item was acked exactly once, and nothing unknown was acked
 *
 * A hold interval is [start, end): `start` when the acquire call resolved, `end` just before release was called.
 * Both lie inside the server-side hold, so two intervals that overlap prove two holds that overlapped. Each
 * checker returns human-readable violations (empty = passed) and has negative controls in recipes.test.ts and in
 * test/integration/recipes-conformance.test.ts that show it failing.
 */

export interface Interval {
  who: string;
  start: number;
  end: number;
  kind?: 'read' | 'write';
}

/** The largest number of intervals open at one instant, and one instant where it happened. */
export function maxConcurrency(intervals: readonly Interval[]): { max: number; at: number; open: string[] } {
  // Sweep: at equal times an end comes before a start ([start, end) intervals touching do not overlap).
  const points = intervals.flatMap((iv, i) => [
    { t: iv.start, d: 1, i },
    { t: iv.end, d: -1, i },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let open = 0;
  let best = { max: 0, at: 0, open: [] as string[] };
  const current = new Set<number>();
  for (const p of points) {
    open += p.d;
    if (p.d > 0) current.add(p.i);
    else current.delete(p.i);
    if (open > best.max) best = { max: open, at: p.t, open: [...current].map((i) => intervals[i]!.who) };
  }
  return best;
}

export function checkConcurrency(intervals: readonly Interval[], limit: number): { violations: string[]; max: number } {
  const violations: string[] = [];
  for (const iv of intervals) if (!(iv.end >= iv.start)) violations.push(`${iv.who}: interval ends before it starts`);
  const m = maxConcurrency(intervals);
  if (m.max > limit) violations.push(`${m.max} holders at once (limit ${limit}) at t=${m.at.toFixed(3)}: ${m.open.join(', ')}`);
  return { violations, max: m.max };
}

export function checkReadersWriters(intervals: readonly Interval[]): { violations: string[]; maxReaders: number } {
  const violations: string[] = [];
  const writers = intervals.filter((iv) => iv.kind === 'write');
  for (const w of writers) {
    for (const o of intervals) {
      if (o === w) continue;
      if (o.start < w.end && w.start < o.end) violations.push(`writer ${w.who} [${w.start.toFixed(3)}, ${w.end.toFixed(3)}) overlaps ${o.kind ?? 'hold'} ${o.who} [${o.start.toFixed(3)}, ${o.end.toFixed(3)})`);
    }
  }
  return { violations, maxReaders: maxConcurrency(intervals.filter((iv) => iv.kind === 'read')).max };
}

export function checkOrder(expected: readonly string[], actual: readonly string[]): string[] {
  if (expected.length === actual.length && expected.every((e, i) => actual[i] === e)) return [];
  return [`expected order ${expected.join(' ')}, got ${actual.join(' ')}`];
}

export interface BarrierRecord {
  who: string;
  /** When the participant called enter()/leave(). */
  arrived: number;
  /** When that call resolved. */
  passed: number;
}

/** Nobody passes before the last of the `count` participants has arrived. */
export function checkBarrier(records: readonly BarrierRecord[], count: number): string[] {
  const violations: string[] = [];
  if (records.length !== count) violations.push(`${records.length} participants recorded, expected ${count}`);
  const lastArrival = Math.max(...records.map((r) => r.arrived));
  for (const r of records) {
    if (r.passed < lastArrival) violations.push(`${r.who} passed at ${r.passed.toFixed(3)}, before the last arrival at ${lastArrival.toFixed(3)}`);
  }
  return violations;
}

/** Every enqueued id acked exactly once; no ack of an id never enqueued. */
export function checkDeliveries(enqueued: readonly string[], acked: readonly string[]): { violations: string[]; missing: string[]; duplicated: string[] } {
  const counts = new Map<string, number>();
  for (const id of acked) counts.set(id, (counts.get(id) ?? 0) + 1);
  const known = new Set(enqueued);
  const missing = enqueued.filter((id) => !counts.has(id));
  const duplicated = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  const unknown = [...counts.keys()].filter((id) => !known.has(id));
  const violations = [
    ...missing.map((id) => `item ${id} was never acked (lost)`),
    ...duplicated.map((id) => `item ${id} was acked ${counts.get(id)} times`),
    ...unknown.map((id) => `item ${id} was acked but never enqueued`),
  ];
  return { violations, missing, duplicated };
}
