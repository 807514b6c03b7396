import { compareRevision, type Revision } from './revision.js';

/**
 * One life of a key: from its creation to its deletion (tombstone), or to now if it is alive.
 *
 * Invariant: `revs` is strictly increasing; in a closed generation the last revision is the tombstone.
 * Invariant: `ver` is the number of puts (plus the tombstone, if closed) the generation has seen since creation,
 * including puts that compaction has since removed from `revs`.
 */
interface Generation {
  ver: bigint;
  created: Revision;
  revs: Revision[];
}

/**
 * The history of one key as the store still remembers it: which revisions changed it, grouped in generations.
 *
 * Worked example. Key "foo" is put at revisions 1.0, 2.0, deleted at 3.0, put again at 4.0 and 5.0:
 *
 *     generations (oldest first)
 *       {ver: 3, created: 1.0, revs: [1.0, 2.0, 3.0(tombstone)]}
 *       {ver: 2, created: 4.0, revs: [4.0, 5.0]}            <- open: the key is alive
 *
 * A read at revision 2 finds 2.0 (version 2); at revision 3 the key does not exist; at revision 5 it is 5.0
 * (version 2, create revision 4). After `tombstone(6.0)` the second generation closes and an empty one is opened:
 *
 *       {ver: 3, created: 1.0, revs: [1.0, 2.0, 3.0]}
 *       {ver: 3, created: 4.0, revs: [4.0, 5.0, 6.0]}
 *       {ver: 0, revs: []}
 *
 * `compact(4)` keeps, for reads at revision >= 4, the newest revision <= 4 of the generation that is visible at
 * revision 4, and drops everything older; generations whose tombstone is <= 4 disappear entirely:
 *
 *       {ver: 3, created: 4.0, revs: [4.0, 5.0, 6.0]}
 *       {ver: 0, revs: []}
 *
 * `compact(6)` keeps nothing of the closed generation (its tombstone is <= 6), leaving only the empty generation:
 * the key is then forgotten (`isEmpty()`), and the store drops it from its index.
 */
export class KeyIndex {
  /** Revision of the key's latest change (put or tombstone). */
  modified: Revision = { main: 0n, sub: 0 };
  private generations: Generation[] = [{ ver: 0n, created: { main: 0n, sub: 0 }, revs: [] }];

  constructor(readonly key: string) {}

  /** Records a put at `rev`. Returns the key's create revision and version after the put. */
  put(rev: Revision): { created: Revision; version: bigint } {
    if (compareRevision(rev, this.modified) <= 0 && this.modified.main !== 0n) {
      throw new Error(`mvcc: put revision ${rev.main}.${rev.sub} is not after ${this.modified.main}.${this.modified.sub}`);
    }
    const g = this.generations[this.generations.length - 1]!;
    if (g.revs.length === 0) g.created = rev;
    g.revs.push(rev);
    g.ver += 1n;
    this.modified = rev;
    return { created: g.created, version: g.ver };
  }

  /** Records a deletion at `rev`, closing the current generation. The key must be alive. */
  tombstone(rev: Revision): void {
    const g = this.generations[this.generations.length - 1]!;
    if (g.revs.length === 0) throw new Error('mvcc: tombstone of a key that is not alive');
    this.put(rev);
    this.generations.push({ ver: 0n, created: { main: 0n, sub: 0 }, revs: [] });
  }

  /** Whether the key is alive at the newest revision. */
  isAlive(): boolean {
    return this.generations[this.generations.length - 1]!.revs.length > 0;
  }

  /** The live generation's create revision and version, or undefined if the key is deleted. */
  current(): { created: Revision; version: bigint; modified: Revision } | undefined {
    const g = this.generations[this.generations.length - 1]!;
    if (g.revs.length === 0) return undefined;
    return { created: g.created, version: g.ver, modified: this.modified };
  }

  /**
   * The revision holding the key's value as of store revision `atRev`, with its create revision, or undefined
   * if the key did not exist then.
   */
  get(atRev: bigint): { modified: Revision; created: Revision } | undefined {
    const gens = this.generations;
    const last = gens.length - 1;
    for (let i = last; i >= 0; i--) {
      const g = gens[i]!;
      if (g.revs.length === 0) continue;
      if (i !== last && g.revs[g.revs.length - 1]!.main <= atRev) return undefined; // deleted by then
      if (g.revs[0]!.main > atRev) continue; // created after atRev: look at older generations
      // The newest revision of this generation at or before atRev.
      let lo = 0;
      let hi = g.revs.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (g.revs[mid]!.main <= atRev) lo = mid;
        else hi = mid - 1;
      }
      return { modified: g.revs[lo]!, created: g.created };
    }
    return undefined;
  }

  /**
   * Forgets history that no read at revision >= `atRev` can see. Adds to `keep` the revisions whose stored
   * values must survive compaction (the newest version at or before `atRev` of a key still visible then).
   */
  compact(atRev: bigint, keep: Set<string>, revKey: (r: Revision) => string): void {
    const gens = this.generations;
    let gi = 0;
    // Skip closed generations that ended at or before atRev.
    while (gi < gens.length - 1) {
      const g = gens[gi]!;
      if (g.revs[g.revs.length - 1]!.main > atRev) break;
      gi++;
    }
    const g = gens[gi]!;
    if (g.revs.length > 0) {
      let idx = -1;
      for (let j = g.revs.length - 1; j >= 0; j--) {
        if (g.revs[j]!.main <= atRev) {
          idx = j;
          break;
        }
      }
      if (idx >= 0) {
        keep.add(revKey(g.revs[idx]!));
        g.revs = g.revs.slice(idx);
      }
    }
    this.generations = gens.slice(gi);
  }

  /** True when the index remembers nothing: no live generation and no history. */
  isEmpty(): boolean {
    return this.generations.length === 1 && this.generations[0]!.revs.length === 0;
  }

  /** Every revision this index remembers, oldest first (for tests and consistency checks). */
  revisions(): Revision[] {
    return this.generations.flatMap((g) => g.revs);
  }
}
