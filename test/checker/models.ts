import type { Model, Operation } from './linearizability.js';

/** Input of a key-value register operation. Keys may be numbers or strings. */
export type KvInput = { kind: 'put'; key: number | string; value: number | string } | { kind: 'get'; key: number | string };

/** Output: a put's acknowledgement, a get's value (null: absent), or unknown (the operation never answered). */
export type KvOutput = { kind: 'ok' } | { kind: 'value'; value: number | string | null } | { kind: 'unknown' };

type Value = number | string | null;

/**
 * A map of independent registers: `put` sets a key, `get` reads it (null if never set). Partitioned by key, since
 * operations on different keys commute (P-compositionality). An unknown put may or may not have happened (the
 * checker tries both placements); an unknown get constrains nothing.
 */
export const kvModel: Model<Value, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    if (input.kind === 'put') return [true, input.value];
    if (output.kind === 'unknown') return [true, state];
    return [output.kind === 'value' && output.value === state, state];
  },
  partition(history) {
    const byKey = new Map<number | string, Operation<KvInput, KvOutput>[]>();
    for (const op of history) {
      let part = byKey.get(op.input.key);
      if (part === undefined) byKey.set(op.input.key, (part = []));
      part.push(op);
    }
    return [...byKey.keys()].sort((a, b) => String(a).localeCompare(String(b))).map((k) => byKey.get(k)!);
  },
  equal: (a, b) => a === b,
  hash: (s) => (s === null ? 'null' : `${typeof s}:${s}`),
  describeOperation(input, output) {
    if (input.kind === 'put') return `put(${input.key}, ${input.value})${output.kind === 'unknown' ? ' → ?' : ' → ok'}`;
    return `get(${input.key}) → ${output.kind === 'value' ? String(output.value) : '?'}`;
  },
  describeState: (s) => (s === null ? 'null' : String(s)),
};
