import { describe, expect, it } from 'vitest';
import { corruptMember, type HashAt } from './corruption-check.js';

const at = (hash: number, revision = 10n, compactRevision = 4n): HashAt => ({ hash, revision, compactRevision });

describe('corruption check - which member the leader marks CORRUPT', () => {
  it('none when every peer that compacted alike hashes alike', () => {
    expect(corruptMember(1n, at(7), at(7), [{ memberId: 2n, ...at(7, 10n) }, { memberId: 3n, ...at(7, 9n) }])).toBeUndefined();
    // A peer compacted elsewhere proves nothing.
    expect(corruptMember(1n, at(7), at(7), [{ memberId: 2n, ...at(99, 10n, 2n) }])).toBeUndefined();
  });

  it('a peer with another hash at the same compaction, a peer ahead, or the leader whose own data moved', () => {
    expect(corruptMember(1n, at(7), at(7), [{ memberId: 2n, ...at(7) }, { memberId: 3n, ...at(8) }])).toBe(3n);
    expect(corruptMember(1n, at(7), at(7), [{ memberId: 2n, ...at(7, 11n) }])).toBe(2n);
    expect(corruptMember(1n, at(7), at(7), [{ memberId: 2n, ...at(7, 10n, 5n) }])).toBe(2n);
    expect(corruptMember(1n, at(7), at(8), [{ memberId: 2n, ...at(9) }])).toBe(1n);
    // The leader's hash may change with new writes (a new revision): that is no evidence against it.
    expect(corruptMember(1n, at(7), at(8, 11n), [])).toBeUndefined();
  });
});
