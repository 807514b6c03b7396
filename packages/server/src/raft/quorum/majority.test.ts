import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { committedIndex, EMPTY_CONFIG_COMMIT_INDEX, voteResult, VoteResult } from './majority.js';

/** The obviously correct definition: the largest index that at least a majority of voters has acknowledged. */
function naiveCommittedIndex(voters: bigint[], acked: Map<bigint, number>): number {
  if (voters.length === 0) return EMPTY_CONFIG_COMMIT_INDEX;
  const q = Math.floor(voters.length / 2) + 1;
  let best = 0;
  for (const candidate of voters.map((v) => acked.get(v) ?? 0)) {
    const atLeast = voters.filter((v) => (acked.get(v) ?? 0) >= candidate).length;
    if (atLeast >= q && candidate > best) best = candidate;
  }
  return best;
}

describe('quorum - majority', () => {
  it('quorum - committed index equals a naive reference implementation', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.bigInt({ min: 1n, max: 20n }), { minLength: 0, maxLength: 9 }),
        fc.array(fc.tuple(fc.bigInt({ min: 1n, max: 25n }), fc.integer({ min: 0, max: 12 })), { maxLength: 25 }),
        (voters, acks) => {
          const acked = new Map(acks);
          expect(committedIndex(voters, (id) => acked.get(id))).toBe(naiveCommittedIndex(voters, acked));
        },
      ),
      { numRuns: 10_000 },
    );
  });

  it.each([
    ['3 voters', [1n, 2n, 3n], [[1n, 5], [2n, 3], [3n, 9]], 5],
    ['4 voters, one unknown', [1n, 2n, 3n, 4n], [[1n, 5], [2n, 3], [3n, 9]], 3],
    ['5 voters, one unknown', [1n, 2n, 3n, 4n, 5n], [[1n, 9], [2n, 4], [3n, 7], [5n, 8]], 7],
    ['1 voter', [1n], [[1n, 4]], 4],
    ['no acks', [1n, 2n, 3n], [], 0],
  ] as [string, bigint[], [bigint, number][], number][])('quorum - committed index: %s', (_name, voters, acks, want) => {
    const acked = new Map(acks);
    expect(committedIndex(voters, (id) => acked.get(id))).toBe(want);
  });

  it('quorum - an empty configuration holds nothing back', () => {
    expect(committedIndex([], () => 0)).toBe(EMPTY_CONFIG_COMMIT_INDEX);
    expect(voteResult([], new Map())).toBe(VoteResult.Won);
  });

  it('quorum - vote results: won, lost, pending; non-voters ignored', () => {
    const v = [1n, 2n, 3n];
    expect(voteResult(v, new Map([[1n, true]]))).toBe(VoteResult.Pending);
    expect(voteResult(v, new Map([[1n, true], [2n, true]]))).toBe(VoteResult.Won);
    expect(voteResult(v, new Map([[1n, true], [2n, false], [3n, false]]))).toBe(VoteResult.Lost);
    expect(voteResult(v, new Map([[1n, false], [2n, false]]))).toBe(VoteResult.Lost);
    expect(voteResult(v, new Map([[1n, true], [9n, true]]))).toBe(VoteResult.Pending);
    expect(voteResult([1n, 2n, 3n, 4n], new Map([[1n, true], [2n, true], [3n, false]]))).toBe(VoteResult.Pending);
  });

  it('quorum - vote result agrees with counting', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.bigInt({ min: 1n, max: 9n }), { minLength: 1, maxLength: 7 }),
        fc.array(fc.tuple(fc.bigInt({ min: 1n, max: 12n }), fc.boolean())),
        (voters, vs) => {
          const votes = new Map(vs);
          const yes = voters.filter((v) => votes.get(v) === true).length;
          const no = voters.filter((v) => votes.get(v) === false).length;
          const q = Math.floor(voters.length / 2) + 1;
          const want = yes >= q ? VoteResult.Won : voters.length - no >= q ? VoteResult.Pending : VoteResult.Lost;
          expect(voteResult(voters, votes)).toBe(want);
        },
      ),
      { numRuns: 5_000 },
    );
  });
});
