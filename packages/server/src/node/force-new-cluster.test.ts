import { internalpb } from '@latchkey/proto';
import { describe, expect, it } from 'vitest';
import { ConfChangeType, EntryType, decodeConfChange, encodeConfChange } from '../raft/index.js';
import { standaloneEntries } from './force-new-cluster.js';

const cc = (index: number, type: ConfChangeType, nodeId: bigint) => ({ term: 2, index, type: EntryType.ConfChange, data: encodeConfChange({ type, nodeId, context: new Uint8Array(0) }) });
const normal = (index: number) => ({ term: 2, index, type: EntryType.Normal, data: new Uint8Array([1]) });
const self = { id: 1n, name: 'm1', peerURLs: ['http://127.0.0.1:2380'] };

describe('force new cluster - the log rewrite', () => {
  it('removes every other member the snapshot and the committed log know of, after the commit index, in the current term', () => {
    const committed = [normal(11), cc(12, ConfChangeType.AddNode, 4n), cc(13, ConfChangeType.RemoveNode, 2n), normal(14)];
    const { entries, removed } = standaloneEntries({ self, members: [1n, 2n, 3n], committed, commit: 14, term: 5 });
    expect(removed).toEqual([3n, 4n]);
    expect(entries.map((e) => [e.index, e.term, e.type])).toEqual([
      [15, 5, EntryType.ConfChange],
      [16, 5, EntryType.ConfChange],
    ]);
    expect(entries.map((e) => decodeConfChange(e.data)).map((c) => [c.type, c.nodeId])).toEqual([
      [ConfChangeType.RemoveNode, 3n],
      [ConfChangeType.RemoveNode, 4n],
    ]);
  });

  it('ignores conf changes past the commit index (they are dropped), and learners count as members', () => {
    const { removed } = standaloneEntries({ self, members: [1n, 2n], committed: [cc(8, ConfChangeType.AddLearnerNode, 7n), cc(9, ConfChangeType.AddNode, 9n)], commit: 8, term: 3 });
    expect(removed).toEqual([2n, 7n]);
  });

  it('adds itself back when its own log does not list it, with its name and peer URLs', () => {
    const { entries, removed } = standaloneEntries({ self, members: [2n], committed: [], commit: 3, term: 1 });
    expect(removed).toEqual([2n]);
    const add = decodeConfChange(entries[1]!.data);
    expect([add.type, add.nodeId]).toEqual([ConfChangeType.AddNode, 1n]);
    expect(internalpb.ConfChangeContext.decode(add.context).member).toMatchObject({ id: 1n, name: 'm1', peerUrls: ['http://127.0.0.1:2380'], isLearner: false });
  });

  it('changes nothing for a member that is already alone', () => {
    expect(standaloneEntries({ self, members: [1n], committed: [], commit: 3, term: 1 })).toEqual({ entries: [], removed: [] });
  });
});
