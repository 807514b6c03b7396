import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkOperations, explainFailure, type Model, type Operation } from './linearizability.js';
import { kvModel, type KvInput, type KvOutput } from './models.js';

type Op = Operation<KvInput, KvOutput>;

const put = (clientId: number, key: number, value: number, call: number, ret: number): Op => ({
  clientId,
  input: { kind: 'put', key, value },
  call,
  output: ret === Infinity ? { kind: 'unknown' } : { kind: 'ok' },
  return: ret,
});
const get = (clientId: number, key: number, value: number | null, call: number, ret: number): Op => ({
  clientId,
  input: { kind: 'get', key },
  call,
  output: { kind: 'value', value },
  return: ret,
});

describe('linearizability - accepts', () => {
  it('linearizability - a sequential history that follows the model', () => {
    const h = [put(1, 0, 1, 0, 1), get(1, 0, 1, 2, 3), put(1, 0, 2, 4, 5), get(1, 0, 2, 6, 7)];
    expect(checkOperations(kvModel, h).result).toBe('ok');
  });

  it('linearizability - a read concurrent with a write may see either value', () => {
    const before = [put(1, 0, 1, 0, 1), put(2, 0, 2, 2, 10), get(3, 0, 1, 3, 4)];
    const after = [put(1, 0, 1, 0, 1), put(2, 0, 2, 2, 10), get(3, 0, 2, 3, 4)];
    expect(checkOperations(kvModel, before).result).toBe('ok');
    expect(checkOperations(kvModel, after).result).toBe('ok');
  });

  it('linearizability - operations that touch at an instant count as concurrent', () => {
    // The get returns at 5, exactly when the put is called: either order is allowed.
    const h = [get(1, 0, 7, 0, 5), put(2, 0, 7, 5, 6)];
    expect(checkOperations(kvModel, h).result).toBe('ok');
  });

  it('linearizability - an indeterminate write may have happened', () => {
    const h = [put(1, 0, 1, 0, 1), put(2, 0, 2, 2, Infinity), get(3, 0, 2, 50, 51)];
    expect(checkOperations(kvModel, h).result).toBe('ok');
  });

  it('linearizability - an indeterminate write may never have happened', () => {
    const h = [put(1, 0, 1, 0, 1), put(2, 0, 2, 2, Infinity), get(3, 0, 1, 50, 51), get(3, 0, 1, 60, 61)];
    expect(checkOperations(kvModel, h).result).toBe('ok');
  });

  it('linearizability - an indeterminate write takes effect at most once', () => {
    // Once a later write (3) is seen, the indeterminate write (2) cannot reappear after it unless it took effect
    // after 3, and then it cannot be undone again.
    const h = [put(2, 0, 2, 0, Infinity), put(1, 0, 3, 10, 11), get(3, 0, 2, 20, 21), get(3, 0, 2, 22, 23)];
    expect(checkOperations(kvModel, h).result).toBe('ok');
    const flip = [...h, get(3, 0, 3, 24, 25)];
    expect(checkOperations(kvModel, flip).result).toBe('illegal');
  });

  it('linearizability - independent keys are checked separately (P-compositionality)', () => {
    const h = [put(1, 0, 1, 0, 10), put(2, 1, 5, 0, 10), get(3, 0, 1, 11, 12), get(3, 1, 5, 11, 12)];
    const out = checkOperations(kvModel, h);
    expect(out.result).toBe('ok');
    expect(out.partitions).toHaveLength(2);
  });
});

describe('linearizability - rejects (negative controls)', () => {
  it('linearizability - a stale read is rejected', () => {
    // put(1) completes, put(2) completes, then a read returns the older value 1.
    const h = [put(1, 0, 1, 0, 1), put(2, 0, 2, 2, 3), get(3, 0, 1, 4, 5)];
    const out = checkOperations(kvModel, h);
    expect(out.result).toBe('illegal');
    const part = out.partitions[0]!;
    expect(part.longest.map((i) => part.operations[i]!.input)).toEqual([
      { kind: 'put', key: 0, value: 1 },
      { kind: 'put', key: 0, value: 2 },
    ]);
    expect(explainFailure(kvModel, part)).toContain('get(0) → 1');
  });

  it('linearizability - a read of a value never written is rejected', () => {
    expect(checkOperations(kvModel, [put(1, 0, 1, 0, 1), get(2, 0, 9, 2, 3)]).result).toBe('illegal');
  });

  it('linearizability - a read that goes back in time is rejected', () => {
    // Two sequential reads by different clients: the second sees the older value after the first saw the newer.
    const h = [put(1, 0, 1, 0, 1), put(2, 0, 2, 2, 20), get(3, 0, 2, 5, 6), get(4, 0, 1, 7, 8)];
    expect(checkOperations(kvModel, h).result).toBe('illegal');
  });

  it('linearizability - a lost acknowledged write is rejected', () => {
    const h = [put(1, 0, 1, 0, 1), get(2, 0, null, 5, 6)];
    expect(checkOperations(kvModel, h).result).toBe('illegal');
  });

  it('linearizability - one illegal key makes the history illegal', () => {
    const h = [put(1, 0, 1, 0, 1), get(2, 0, 1, 2, 3), put(1, 1, 1, 0, 1), put(1, 1, 2, 2, 3), get(2, 1, 1, 4, 5)];
    const out = checkOperations(kvModel, h);
    expect(out.result).toBe('illegal');
    expect(out.partitions.at(-1)!.operations[0]!.input.key).toBe(1);
  });

  it('linearizability - a search over its step budget answers unknown', () => {
    // Many mutually concurrent writes and reads: the search needs more than 5 steps.
    const h: Op[] = [];
    for (let i = 0; i < 8; i++) h.push(put(i, 0, i, 0, 100));
    for (let i = 0; i < 8; i++) h.push(get(10 + i, 0, 7 - i, 0, 100));
    expect(checkOperations(kvModel, h, { maxSteps: 5 }).result).toBe('unknown');
    expect(checkOperations(kvModel, h).result).toBe('ok');
  });

  it('linearizability - a history whose operation returns before its call is refused', () => {
    expect(() => checkOperations(kvModel, [put(1, 0, 1, 5, 4)])).toThrow(RangeError);
  });
});

describe('linearizability - generic models', () => {
  // A counter with increment (returns the new value) and read: not a register, to show the checker is generic.
  type CIn = { op: 'inc' } | { op: 'read' };
  const counter: Model<number, CIn, number | undefined> = {
    init: () => 0,
    step: (s, input, out) => (input.op === 'inc' ? [out === undefined || out === s + 1, s + 1] : [out === undefined || out === s, s]),
  };
  const op = (clientId: number, input: CIn, output: number | undefined, call: number, ret: number) => ({ clientId, input, output, call, return: ret });

  it('linearizability - a counter history with concurrent increments is linearizable', () => {
    const h = [op(1, { op: 'inc' }, 2, 0, 10), op(2, { op: 'inc' }, 1, 1, 9), op(3, { op: 'read' }, 2, 11, 12)];
    expect(checkOperations(counter, h).result).toBe('ok');
  });

  it('linearizability - a counter that double-counts is not', () => {
    const h = [op(1, { op: 'inc' }, 1, 0, 1), op(2, { op: 'inc' }, 1, 2, 3)];
    expect(checkOperations(counter, h).result).toBe('illegal');
  });
});

describe('linearizability - properties', () => {
  it('linearizability - histories produced by a real register, with any intervals around the effect, are accepted', () => {
    // Each operation takes effect at a distinct instant 2i+1 and is given an interval containing it; the history is
    // linearizable by construction, whatever the intervals.
    const opArb = fc.record({
      key: fc.integer({ min: 0, max: 2 }),
      isPut: fc.boolean(),
      before: fc.integer({ min: 0, max: 30 }),
      after: fc.integer({ min: 0, max: 30 }),
      unknown: fc.integer({ min: 0, max: 9 }),
    });
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (spec) => {
        const reg = new Map<number, number>();
        const h: Op[] = spec.map((s, i) => {
          const at = 2 * i + 1;
          const call = Math.max(0, at - s.before);
          const ret = at + s.after;
          if (s.isPut) {
            reg.set(s.key, i);
            return put(i % 5, s.key, i, call, s.unknown === 0 ? Infinity : ret);
          }
          return get(i % 5, s.key, reg.get(s.key) ?? null, call, ret);
        });
        expect(checkOperations(kvModel, h).result).toBe('ok');
      }),
      { numRuns: 300 },
    );
  });
});
