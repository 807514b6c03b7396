/**
 * A compare-and-set register per key, for the linearizability checker (`test/checker/linearizability.ts`).
 *
 * State: the value (an integer; null = never written). Operations:
 *   read()          → value                 (linearizable range; a failed read is left out of the history)
 *   write(v)        → ok                    (put)
 *   cas(from, to)   → ok | fail             (txn: if value = from then put to)
 * An operation that timed out or lost its connection is indeterminate (`return = Infinity`, output unknown): a
 * write or cas may have happened at any point after its call, or never (the checker places it last).
 *
 * Example: write(1) ok, then concurrently cas(1→2) ok and read → 1 is linearizable (read first); read → 1 after
 * the cas returned is not.
 */
import type { Model, Operation } from '../checker/linearizability.js';

export type RegisterInput = { f: 'read'; key: string } | { f: 'write'; key: string; value: number } | { f: 'cas'; key: string; from: number; to: number };
export type RegisterOutput = { f: 'read'; value: number | null } | { f: 'write' } | { f: 'cas'; ok: boolean } | { f: 'unknown' };

type State = number | null;

export const registerModel: Model<State, RegisterInput, RegisterOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.f) {
      case 'read':
        return [output.f === 'unknown' || (output.f === 'read' && output.value === state), state];
      case 'write':
        return [true, input.value];
      case 'cas':
        if (output.f === 'unknown') return [true, state === input.from ? input.to : state];
        if (output.f !== 'cas') return [false, state];
        return output.ok ? [state === input.from, input.to] : [state !== input.from, state];
    }
  },
  partition(history) {
    const byKey = new Map<string, Operation<RegisterInput, RegisterOutput>[]>();
    for (const op of history) {
      let part = byKey.get(op.input.key);
      if (part === undefined) byKey.set(op.input.key, (part = []));
      part.push(op);
    }
    return [...byKey.values()];
  },
  equal: (a, b) => a === b,
  hash: (s) => String(s),
  describeOperation(input, output) {
    const out = output.f === 'unknown' ? '?' : output.f === 'read' ? String(output.value) : output.f === 'cas' ? (output.ok ? 'ok' : 'fail') : 'ok';
    if (input.f === 'read') return `read(${input.key}) → ${out}`;
    if (input.f === 'write') return `write(${input.key}, ${input.value}) → ${out}`;
    return `cas(${input.key}, ${input.from} → ${input.to}) → ${out}`;
  },
  describeState: (s) => String(s),
};
