/**
 * Request waiters: a proposer registers the id of its request, and the driver completes it when the entry
 * carrying that id is applied. Ids are unique per member (see `RequestIds`); entries proposed by other members,
 * or before a restart, complete nothing.
 */
export class Wait<T = unknown> {
  private readonly waiters = new Map<bigint, { resolve: (v: T) => void; reject: (e: Error) => void; deadline: number }>();

  /** Registers a waiter that `sweep` fails once `deadline` (ms on the caller's clock) has passed. */
  register(id: bigint, deadline = Number.POSITIVE_INFINITY): Promise<T> {
    if (this.waiters.has(id)) throw new Error(`wait: duplicate request id ${id}`);
    return new Promise<T>((resolve, reject) => this.waiters.set(id, { resolve, reject, deadline }));
  }

  /** Fails every waiter whose deadline is at or before `now` (one timer for all requests, not one each). */
  sweep(now: number, err: () => Error): void {
    for (const [id, w] of this.waiters) {
      if (w.deadline <= now) {
        this.waiters.delete(id);
        w.reject(err());
      }
    }
  }

  isRegistered(id: bigint): boolean {
    return this.waiters.has(id);
  }

  trigger(id: bigint, value: T): void {
    const w = this.waiters.get(id);
    if (!w) return;
    this.waiters.delete(id);
    w.resolve(value);
  }

  fail(id: bigint, err: Error): void {
    const w = this.waiters.get(id);
    if (!w) return;
    this.waiters.delete(id);
    w.reject(err);
  }

  failAll(err: Error): void {
    for (const [id, w] of this.waiters) {
      this.waiters.delete(id);
      w.reject(err);
    }
  }

  get size(): number {
    return this.waiters.size;
  }
}

/**
 * Request ids: the member id's low 16 bits on top (so members never collide), then a counter seeded from the
 * wall clock at start (so a restarted member does not reuse ids of entries still in the log).
 */
export class RequestIds {
  private next: bigint;
  private readonly prefix: bigint;

  constructor(memberId: bigint, nowMs: number = Date.now()) {
    this.prefix = (memberId & 0xffffn) << 48n;
    this.next = (BigInt(Math.floor(nowMs)) << 8n) & 0xffffffffffffn;
  }

  id(): bigint {
    this.next = (this.next + 1n) & 0xffffffffffffn;
    return this.prefix | this.next;
  }
}
