import { RaftInvariantError } from '../errors.js';

/**
 * The MsgApp messages sent to one follower and not yet acknowledged, as a bounded FIFO of (last index, bytes).
 * The leader stops sending new appends to a follower in replicate state while its window is full, by count
 * (`size`) or by bytes (`maxBytes`).
 *
 * ```
 *   add(5, 100) add(8, 300) add(9, 50)    window: [5:100, 8:300, 9:50]  count 3, bytes 450
 *   freeLE(8)                              window: [9:50]                count 1, bytes 50
 * ```
 *
 * Stored as a ring buffer that grows on demand up to `size` slots.
 * Invariant: 0 <= count <= size; indexes increase from oldest to newest.
 */
export class Inflights {
  private start = 0;
  private count = 0;
  private bytes = 0;
  private idx: number[] = [];
  private sizes: number[] = [];

  /**
   * @param size max number of messages in flight
   * @param maxBytes max total bytes in flight; `Number.MAX_SAFE_INTEGER` for no limit
   */
  constructor(
    readonly size: number,
    readonly maxBytes: number,
  ) {}

  /** Records a message whose last entry is `index`, carrying `bytes` bytes of entries. Must not be full. */
  add(index: number, bytes: number): void {
    if (this.full()) throw new RaftInvariantError('cannot add into a full inflights');
    let next = this.start + this.count;
    if (next >= this.size) next -= this.size;
    if (next >= this.idx.length) {
      // The ring has not reached `size` slots yet and is not wrapped: grow by appending.
      this.idx.push(index);
      this.sizes.push(bytes);
    } else {
      this.idx[next] = index;
      this.sizes[next] = bytes;
    }
    this.count++;
    this.bytes += bytes;
  }

  /** Frees every message whose last index is <= `to` (they were acknowledged). */
  freeLE(to: number): void {
    if (this.count === 0 || to < this.idx[this.start]!) return;
    let i = this.start;
    let n = 0;
    let bytes = 0;
    for (; n < this.count; n++) {
      if (to < this.idx[i]!) break;
      bytes += this.sizes[i]!;
      if (++i >= this.size) i -= this.size;
    }
    this.count -= n;
    this.bytes -= bytes;
    this.start = this.count === 0 ? 0 : i;
    if (this.count === 0) this.compactStorage();
  }

  /** Whether no more messages may be sent. */
  full(): boolean {
    return this.count === this.size || this.bytes >= this.maxBytes;
  }

  /** Number of messages in flight. */
  get length(): number {
    return this.count;
  }

  /** Bytes in flight. */
  get inflightBytes(): number {
    return this.bytes;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
    this.compactStorage();
  }

  private compactStorage(): void {
    // An empty window restarts at slot 0; dropping the slots keeps the "grow by appending" rule valid.
    this.idx.length = 0;
    this.sizes.length = 0;
  }
}
