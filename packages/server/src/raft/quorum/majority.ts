import type { NodeId } from '../types.js';

/** The outcome of an election so far. */
export enum VoteResult {
  /** Neither won nor lost: more answers are needed. */
  Pending = 1,
  /** A majority has rejected, or cannot reach a majority with the missing answers. */
  Lost = 2,
  /** A majority granted. */
  Won = 3,
}

/** The commit index of an empty configuration: by convention everything is committed (so it never holds anything back). */
export const EMPTY_CONFIG_COMMIT_INDEX = Number.MAX_SAFE_INTEGER;

/**
 * The largest index acknowledged by a majority of `voters`. `acked(id)` returns a voter's acknowledged index, or
 * undefined if unknown (counted as 0).
 *
 * ```
 *   voters 1 2 3 4 5, acked 9 4 7 - 8  →  sorted 0 4 7 8 9, majority q = 3 → the 3rd largest: 7
 * ```
 *
 * Pure: depends only on its arguments.
 */
export function committedIndex(voters: readonly NodeId[], acked: (id: NodeId) => number | undefined): number {
  const n = voters.length;
  if (n === 0) return EMPTY_CONFIG_COMMIT_INDEX;
  const idx = new Array<number>(n);
  for (let i = 0; i < n; i++) idx[i] = acked(voters[i]!) ?? 0;
  // Insertion sort: configurations are small (3-7 voters).
  for (let i = 1; i < n; i++) {
    const v = idx[i]!;
    let j = i - 1;
    while (j >= 0 && idx[j]! > v) {
      idx[j + 1] = idx[j]!;
      j--;
    }
    idx[j + 1] = v;
  }
  const q = (n >> 1) + 1;
  return idx[n - q]!;
}

/**
 * Whether `votes` (granted = true, rejected = false; absent = not yet answered) decide an election among `voters`.
 * Votes from non-voters are ignored. An empty configuration wins by convention.
 */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const n = voters.length;
  if (n === 0) return VoteResult.Won;
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = (n >> 1) + 1;
  if (granted >= q) return VoteResult.Won;
  if (granted + missing >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}
