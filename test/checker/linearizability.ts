/**
 * A linearizability checker for histories of concurrent operations, after Wing & Gong as improved by Lowe ("WGL"),
 * with Horn & Kroening's P-compositionality, as in Porcupine (anishathalye/porcupine). Written for this project;
 * independent of the simulator, so the chaos suite can reuse it with its own models.
 *
 * A history is linearizable if every operation can be given a single instant between its call and its return such
 * that, taken in the order of those instants, the operations are a legal sequential run of the model. The search:
 *
 * 1. Partition the history with the model (e.g. by key): a history is linearizable iff every part is (locality),
 *    and parts are much cheaper to search alone.
 * 2. Lay out call and return events in time order in a doubly linked list (calls before returns at equal times, so
 *    operations that touch at an instant count as concurrent).
 * 3. Walk the list. At a call, try to linearize the operation now: if the model accepts its output from the current
 *    state and (set of linearized operations, new state) was not explored before (the cache), push it on a stack,
 *    unlink its call and return, and restart from the head. At a return, the operation it closes was not
 *    linearized before its response, so the current prefix is wrong: pop the stack, relink, and try the next
 *    candidate after the popped one. An empty stack at a return means no linearization exists.
 * 4. An empty list means every operation was placed: linearizable.
 *
 * Operations that never got an answer (timed out, crashed client) have `return = Infinity`: they may take effect
 * at any point after their call, or (being last) effectively never; the model must accept any output for them.
 *
 * Worst case exponential in the number of concurrent operations; the cache makes real histories fast. A step
 * budget or a time budget turns an overlong search into the answer `unknown`.
 */

/** One completed (or indeterminate) operation of a history. */
export interface Operation<I, O> {
  /** Who issued it (for explanations only). */
  clientId: number;
  input: I;
  /** When it was invoked. */
  call: number;
  /** What it returned; for an indeterminate operation, whatever the model accepts as "unknown". */
  output: O;
  /** When it returned; `Infinity` if it never did (indeterminate). Must be >= call. */
  return: number;
}

/** A sequential specification. */
export interface Model<S, I, O> {
  /** The initial state. */
  init(): S;
  /** Whether `input` in `state` may return `output`, and the state after it. Must not mutate `state`. */
  step(state: S, input: I, output: O): [legal: boolean, next: S];
  /** Splits a history into independent parts (default: one part). */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  /** State equality for the cache (default: `===`). */
  equal?(a: S, b: S): boolean;
  /** A hash consistent with `equal` (default: `String(state)`), used to bucket the cache. */
  hash?(s: S): string | number;
  describeOperation?(input: I, output: O): string;
  describeState?(s: S): string;
}

export type CheckResult = 'ok' | 'illegal' | 'unknown';

/** The outcome for one partition. */
export interface PartitionResult<I, O> {
  result: CheckResult;
  operations: Operation<I, O>[];
  /** Indexes into `operations` of the longest prefix that could be linearized, in linearization order. */
  longest: number[];
}

export interface CheckOutcome<I, O> {
  result: CheckResult;
  partitions: PartitionResult<I, O>[];
}

export interface CheckOptions {
  /** Give up with `unknown` after this many search steps per partition (deterministic). */
  maxSteps?: number;
  /** Give up with `unknown` after this many milliseconds in total. */
  timeoutMs?: number;
}

/** Checks `history` against `model`. Stops at the first illegal partition. */
export function checkOperations<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[], opts: CheckOptions = {}): CheckOutcome<I, O> {
  for (const op of history) {
    if (!(op.return >= op.call)) throw new RangeError(`operation returns (${op.return}) before its call (${op.call})`);
  }
  const parts = model.partition ? model.partition(history) : [history.slice()];
  const deadline = opts.timeoutMs === undefined ? Infinity : performance.now() + opts.timeoutMs;
  const results: PartitionResult<I, O>[] = [];
  let overall: CheckResult = 'ok';
  for (const ops of parts) {
    const r = checkPartition(model, ops, opts.maxSteps ?? Infinity, deadline);
    results.push(r);
    if (r.result === 'illegal') return { result: 'illegal', partitions: results };
    if (r.result === 'unknown') overall = 'unknown';
  }
  return { result: overall, partitions: results };
}

interface Node {
  /** Operation index. */
  id: number;
  isCall: boolean;
  time: number;
  /** For a call: its return node. */
  match: Node | undefined;
  prev: Node | undefined;
  next: Node | undefined;
}

function checkPartition<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], maxSteps: number, deadline: number): PartitionResult<I, O> {
  const n = ops.length;
  // Build and sort the events: by time, calls before returns on ties.
  const events: Node[] = [];
  for (let id = 0; id < n; id++) {
    const op = ops[id]!;
    const ret: Node = { id, isCall: false, time: op.return, match: undefined, prev: undefined, next: undefined };
    events.push({ id, isCall: true, time: op.call, match: ret, prev: undefined, next: undefined }, ret);
  }
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1) || a.id - b.id);
  const head: Node = { id: -1, isCall: false, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const equal = model.equal ?? ((a: S, b: S) => a === b);
  const hashState = model.hash ?? ((s: S) => String(s));
  const cache = new Map<string, { bits: Uint32Array; state: S }[]>();
  const stack: { node: Node; state: S }[] = [];
  let linearized = new Uint32Array((n + 31) >>> 5);
  let state = model.init();
  let longest: number[] = [];
  let steps = 0;

  let entry = head.next;
  while (head.next !== undefined) {
    if (++steps > maxSteps || ((steps & 1023) === 0 && performance.now() > deadline)) {
      return { result: 'unknown', operations: ops, longest };
    }
    if (entry === undefined) throw new Error('linearizability: walked off the event list');
    if (entry.isCall) {
      const op = ops[entry.id]!;
      const [legal, next] = model.step(state, op.input, op.output);
      if (legal) {
        const bits = linearized.slice();
        bits[entry.id >>> 5]! |= 1 << (entry.id & 31);
        const key = `${hashBits(bits)}:${hashState(next)}`;
        let bucket = cache.get(key);
        const seen = bucket !== undefined && bucket.some((c) => bitsEqual(c.bits, bits) && equal(c.state, next));
        if (!seen) {
          if (bucket === undefined) cache.set(key, (bucket = []));
          bucket.push({ bits, state: next });
          stack.push({ node: entry, state });
          state = next;
          linearized = bits;
          lift(entry);
          if (stack.length > longest.length) longest = stack.map((s) => s.node.id);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
    } else {
      // The operation ending here was not linearized before its return: backtrack.
      const top = stack.pop();
      if (top === undefined) return { result: 'illegal', operations: ops, longest };
      state = top.state;
      linearized = linearized.slice();
      linearized[top.node.id >>> 5]! &= ~(1 << (top.node.id & 31));
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { result: 'ok', operations: ops, longest: stack.map((s) => s.node.id) };
}

/** Unlinks a call and its return (they are relinked in reverse order, so the neighbours' links stay valid). */
function lift(call: Node): void {
  call.prev!.next = call.next;
  call.next!.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next !== undefined) ret.next.prev = ret.prev;
}

function unlift(call: Node): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== undefined) ret.next.prev = ret;
  call.prev!.next = call;
  call.next!.prev = call;
}

function hashBits(b: Uint32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193) >>> 0;
  return h;
}

function bitsEqual(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A readable explanation of a failed partition: the longest linearizable prefix, the state it reaches, and the
 * operations that could not follow it.
 */
export function explainFailure<S, I, O>(model: Model<S, I, O>, part: PartitionResult<I, O>, limit = 40): string {
  const describe = (op: Operation<I, O>) =>
    `client ${op.clientId} [${op.call}, ${op.return === Infinity ? '∞' : op.return}] ${model.describeOperation ? model.describeOperation(op.input, op.output) : JSON.stringify({ input: op.input, output: op.output })}`;
  const lines: string[] = [];
  let state = model.init();
  lines.push(`longest linearizable prefix (${part.longest.length} of ${part.operations.length} operations):`);
  const shown = part.longest.slice(Math.max(0, part.longest.length - limit));
  if (shown.length < part.longest.length) lines.push(`  … ${part.longest.length - shown.length} earlier operations`);
  for (const id of part.longest) state = model.step(state, part.operations[id]!.input, part.operations[id]!.output)[1];
  for (const id of shown) lines.push(`  ${describe(part.operations[id]!)}`);
  lines.push(`state after it: ${model.describeState ? model.describeState(state) : String(state)}`);
  const done = new Set(part.longest);
  const rest = part.operations
    .map((op, id) => ({ op, id }))
    .filter((x) => !done.has(x.id))
    .sort((a, b) => a.op.call - b.op.call)
    .slice(0, 10);
  lines.push('operations that could not be placed next (earliest calls first):');
  for (const { op } of rest) lines.push(`  ${describe(op)}`);
  return lines.join('\n');
}
