/**
 * A shared 64-bit counter on one key (Curator's `DistributedAtomicLong` / `SharedCount`):
 * `await client.counter('/stats/jobs').add(1)`.
 *
 * Contract:
 * - The value is the key's decimal text; an absent key (or an empty value) counts as 0. Any client that writes
 *   decimal text, etcdctl included, sees and sets the same counter.
 * - Every change is a compare-and-swap on the key's mod revision (or on its absence), so concurrent changes
 *   from any number of processes never lose an update: a swap that loses the race re-reads (the failed txn
 *   returns the current value) and tries again.
 * - A value that is not a decimal integer within the signed 64-bit range fails the call with
 *   `InvalidArgumentError`; nothing is written.
 * - Every call takes `signal` / `timeoutMs`; a change that raced and retried counts against the same deadline.
 */
import { type KeyValue } from '@latchkey/proto';
import { type Bytes, toText } from '../bytes.js';
import { type Client } from '../client.js';
import { abortErrorFor, deriveSignal, type CallOptions } from '../connection.js';
import { InvalidArgumentError } from '../errors.js';
import { Cmp, Op } from '../ops.js';

const MIN = -(2n ** 63n);
const MAX = 2n ** 63n - 1n;

export class Counter {
  /** @internal (use `client.counter(key)`) */
  constructor(
    private readonly client: Client,
    readonly key: Bytes,
  ) {}

  private get name(): string {
    return typeof this.key === 'string' ? this.key : toText(this.key);
  }

  /** The current value (a linearizable read). */
  async get(options: CallOptions = {}): Promise<bigint> {
    return this.parse(await this.client.get(this.key, options));
  }

  /** Adds `delta` (may be negative); resolves with the new value. */
  async add(delta: bigint | number, options: CallOptions = {}): Promise<bigint> {
    const d = BigInt(delta);
    return (await this.update((v) => v + d, options)).value;
  }

  increment(options: CallOptions = {}): Promise<bigint> {
    return this.add(1n, options);
  }

  decrement(options: CallOptions = {}): Promise<bigint> {
    return this.add(-1n, options);
  }

  /** Sets the value, whatever it was; resolves with the previous one. */
  async set(value: bigint | number, options: CallOptions = {}): Promise<bigint> {
    const v = BigInt(value);
    return (await this.update(() => v, options)).previous;
  }

  /** Sets `value` only if the counter is `expected` right now; true when it did. */
  async compareAndSet(expected: bigint | number, value: bigint | number, options: CallOptions = {}): Promise<boolean> {
    const e = BigInt(expected);
    const v = BigInt(value);
    let swapped = false;
    await this.update((current) => {
      swapped = current === e;
      return swapped ? v : undefined;
    }, options);
    return swapped;
  }

  /**
   * The compare-and-swap loop: `next` maps the current value to the new one (undefined: leave it). Resolves
   * with the value before and after the change that took effect.
   */
  private async update(next: (current: bigint) => bigint | undefined, options: CallOptions): Promise<{ previous: bigint; value: bigint }> {
    const signal = deriveSignal(options.signal, options.timeoutMs);
    const call = signal ? { signal } : {};
    let kv = await this.client.get(this.key, call);
    for (;;) {
      if (signal?.aborted) throw abortErrorFor(signal);
      const previous = this.parse(kv);
      const value = next(previous);
      if (value === undefined) return { previous, value: previous };
      if (value < MIN || value > MAX) throw new InvalidArgumentError(`counter ${this.name}: ${value} is outside the signed 64-bit range`);
      const unchanged = kv === undefined ? Cmp.absent(this.key) : Cmp.modRevision(this.key, '=', kv.modRevision);
      const r = await this.client.rawTxn([unchanged], [Op.put(this.key, value.toString())], [Op.get(this.key)], call);
      if (r.succeeded) return { previous, value };
      const now = r.responses[0];
      kv = now?.type === 'range' ? now.kvs[0] : undefined;
    }
  }

  private parse(kv: KeyValue | undefined): bigint {
    const text = kv === undefined ? '' : toText(kv.value).trim();
    if (text === '') return 0n;
    if (!/^[-+]?\d+$/.test(text)) throw new InvalidArgumentError(`counter ${this.name} holds ${JSON.stringify(text.slice(0, 40))}, not a decimal integer`);
    const v = BigInt(text);
    if (v < MIN || v > MAX) throw new InvalidArgumentError(`counter ${this.name} holds ${text}, outside the signed 64-bit range`);
    return v;
  }
}
