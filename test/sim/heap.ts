/** Anything with a time and a tie-breaking sequence number. */
export interface Timed {
  t: number;
  seq: number;
}

/** `Omit` that distributes over a union (each variant keeps its own fields). */
export type WithoutSeq<E> = E extends unknown ? Omit<E, 'seq'> : never;

/** A binary min-heap ordered by (t, seq): events at the same virtual time run in the order they were scheduled. */
export class EventQueue<E extends Timed> {
  private items: E[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.items.length;
  }

  push(e: WithoutSeq<E>): void {
    const item = e as unknown as E;
    item.seq = this.nextSeq++;
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  peek(): E | undefined {
    return this.items[0];
  }

  pop(): E | undefined {
    const a = this.items;
    const top = a[0];
    if (top === undefined) return undefined;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(x: Timed, y: Timed): boolean {
  return x.t < y.t || (x.t === y.t && x.seq < y.seq);
}
