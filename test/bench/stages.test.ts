/**
 * The stage-trace reader (test/bench/stages.ts) on small hand-made traces whose answers are known.
 */
import { describe, expect, it } from 'vitest';
import { durations, lockChain, memberNames, parseTrace, readRounds, writeTimeline, type Row } from './stages.js';

/** Trace text from [pid, stage, index, microseconds] tuples (written out of order on purpose). */
function trace(lines: [number, string, number, number][]): string {
  return [...lines].reverse().map(([p, s, i, us]) => `${p} ${s} ${i} ${BigInt(us) * 1000n}`).join('\n') + '\nnot a line\n';
}
const at = (rows: Row[], name: string): number | undefined => rows.find((r) => r.name === name)?.p50;

// One write: leader 10, followers 20 and 30; times in microseconds from the request.
const oneWrite: [number, string, number, number][] = [
  [10, 'req:Put', -1, 1000],
  [10, 'propose', -1, 1020],
  [10, 'send-app', 5, 1100],
  [10, 'save', 5, 1200],
  [20, 'propose', -1, 1150], // a follower forwarding some other proposal: not the leader for that
  [20, 'recv-app', 5, 1300],
  [20, 'save', 5, 1350],
  [30, 'recv-app', 5, 1400],
  [10, 'saved', 5, 1900],
  [20, 'saved', 5, 2000],
  [20, 'send-ack', 5, 2010],
  [10, 'recv-ack', 5, 2100],
  [10, 'apply', 5, 2150],
  [10, 'applied', 5, 2300],
  [10, 'resp:Put', -1, 2400],
  [10, 'send-commit', 6, 2500], // a commit-only append covering entries up to 6 counts for entry 5
  [20, 'recv-commit', 6, 2700],
  [20, 'apply', 6, 2750],
];

describe('stage trace reader', () => {
  it('parses, sorts by time and skips malformed lines', () => {
    const lines = parseTrace(trace(oneWrite));
    expect(lines).toHaveLength(oneWrite.length);
    expect(lines[0]).toEqual({ pid: 10, stage: 'req:Put', index: -1, ns: 1_000_000n });
    expect(lines.every((l, i) => i === 0 || lines[i - 1]!.ns <= l.ns)).toBe(true);
  });

  it('names the member that sends appends L, whoever proposed', () => {
    const names = memberNames(parseTrace(trace(oneWrite)));
    expect([...names]).toEqual([
      [10, 'L'],
      [20, 'F1'],
      [30, 'F2'],
    ]);
  });

  it('write timeline: offsets from the decoded request, covering lines matched by index', () => {
    const rows = writeTimeline(parseTrace(trace(oneWrite)));
    expect(at(rows, 'L:send-app')).toBeCloseTo(0.1);
    expect(at(rows, 'F1:recv-app')).toBeCloseTo(0.3);
    expect(at(rows, 'F2:recv-app')).toBeCloseTo(0.4);
    expect(at(rows, 'L:saved')).toBeCloseTo(0.9);
    expect(at(rows, 'L:recv-ack')).toBeCloseTo(1.1);
    expect(at(rows, 'L:resp (answered)')).toBeCloseTo(1.4);
    expect(at(rows, 'F1:recv-commit')).toBeCloseTo(1.7);
    expect(at(rows, 'F1:apply')).toBeCloseTo(1.75);
    expect(at(rows, 'F2:saved')).toBeUndefined(); // never recorded: no row rather than a made-up one
    expect(rows.map((r) => r.p50)).toEqual([...rows.map((r) => r.p50)].sort((a, b) => a - b));
  });

  it('a request the leader answered without proposing is not a write', () => {
    const rows = writeTimeline(parseTrace(trace([[10, 'send-app', 1, 10], [10, 'req:Range', -1, 100], [10, 'resp:Range', -1, 200]])));
    expect(rows).toEqual([]);
  });

  it('durations per member pair the same index', () => {
    const rows = durations(parseTrace(trace(oneWrite)), 'save', 'saved');
    expect(at(rows, 'L save→saved')).toBeCloseTo(0.7);
    expect(at(rows, 'F1 save→saved')).toBeCloseTo(0.65);
    expect(rows).toHaveLength(2);
  });

  it('read rounds and waits, split by whether a round was in flight', () => {
    const rows = readRounds(
      parseTrace(
        trace([
          [10, 'send-app', 1, 1],
          [20, 'read-wait', -1, 100],
          [20, 'read-issue', -1, 150],
          [20, 'read-wait-busy', -1, 200],
          [20, 'read-state', 9, 650],
          [20, 'read-done', -1, 700],
          [20, 'read-issue', -1, 710],
          [20, 'read-state', 9, 1010],
          [20, 'read-done', -1, 1100],
        ]),
      ),
    );
    expect(at(rows, 'F1 round (issue→read state)')).toBeCloseTo(0.5); // rounds of 0.5 and 0.3 ms: the upper median
    expect(at(rows, 'F1 read wait, found no round in flight')).toBeCloseTo(0.6);
    expect(at(rows, 'F1 read wait, found a round in flight')).toBeCloseTo(0.9);
  });

  it('lock chain: release, the waiter’s watch event, its Range, the next release', () => {
    const cycle = (t: number): [number, string, number, number][] => [
      [10, 'req:DeleteRange', -1, t],
      [30, 'watch-events', -1, t + 2000],
      [20, 'req:Range', -1, t + 2100], // another member's read: not the waiter's
      [30, 'req:Range', -1, t + 2500],
      [30, 'resp:Range', -1, t + 4000],
    ];
    const rows = lockChain(parseTrace(trace([...cycle(0), ...cycle(5000), [30, 'req:DeleteRange', -1, 10000]])));
    expect(rows.map((r) => [r.name, r.n, r.p50])).toEqual([
      ['1 release → waiter’s watch event', 2, 2],
      ['2 watch event → waiter’s Range', 2, 0.5],
      ['3 Range (linearizable) on the server', 2, 1.5],
      ['4 Range answered → next release', 2, 1],
      ['5 whole cycle', 2, 5],
    ]);
  });
});
