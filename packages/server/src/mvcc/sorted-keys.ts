/**
 * An ordered map from keys to values, for range scans over the key index.
 *
 * Keys are "binary strings": the key bytes decoded as latin1, one UTF-16 code unit per byte, so JS string order
 * equals byte order (the order etcd ranges use) and point lookups hash like any string.
 *
 * Layout: a list of sorted chunks of at most `CHUNK` keys each, concatenating to one sorted sequence. Lookup is
 * a hash hit; an ordered seek is two binary searches (chunk by its first key, then inside the chunk); an insert
 * or delete moves at most `CHUNK` entries. Chunks that overflow split in two; empty chunks are removed.
 */
const CHUNK = 512;

export class SortedKeyMap<V> {
  private readonly map = new Map<string, V>();
  private chunks: string[][] = [[]];

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  set(key: string, value: V): void {
    if (!this.map.has(key)) this.insertKey(key);
    this.map.set(key, value);
  }

  delete(key: string): boolean {
    if (!this.map.delete(key)) return false;
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci]!;
    const i = lowerBound(chunk, key);
    chunk.splice(i, 1);
    if (chunk.length === 0 && this.chunks.length > 1) this.chunks.splice(ci, 1);
    return true;
  }

  /**
   * Entries with `start <= key < end` in key order; `end === undefined` means no upper bound. The callback
   * returns false to stop early. The map must not be modified during the scan.
   */
  scan(start: string, end: string | undefined, fn: (key: string, value: V) => boolean | void): void {
    let ci = this.chunkFor(start);
    let i = lowerBound(this.chunks[ci]!, start);
    for (; ci < this.chunks.length; ci++, i = 0) {
      const chunk = this.chunks[ci]!;
      for (; i < chunk.length; i++) {
        const k = chunk[i]!;
        if (end !== undefined && k >= end) return;
        if (fn(k, this.map.get(k)!) === false) return;
      }
    }
  }

  private insertKey(key: string): void {
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci]!;
    chunk.splice(lowerBound(chunk, key), 0, key);
    if (chunk.length > CHUNK) {
      const tail = chunk.splice(CHUNK >> 1);
      this.chunks.splice(ci + 1, 0, tail);
    }
  }

  /** Index of the chunk whose key span would hold `key`: the last chunk whose first key is <= key. */
  private chunkFor(key: string): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      const first = this.chunks[mid]![0];
      if (first !== undefined && first <= key) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function lowerBound(arr: string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
