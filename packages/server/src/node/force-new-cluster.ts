import { internalpb } from '@latchkey/proto';
import { ConfChangeType, EntryType, decodeConfChange, encodeConfChange, type ConfChange } from '../raft/index.js';
import type { WalEntry } from '../wal/record.js';

/**
 * etcd's --force-new-cluster, as a rewrite of the recovered log: the member keeps its data and its id, drops the
 * entries it never saw committed, and appends — already committed — one RemoveNode for every other member its
 * log knows of (and an AddNode for itself should it be missing), so that applying the log leaves it the only
 * voter of the same cluster. This is disaster recovery after a permanent loss of quorum: writes that only the
 * lost members had committed are gone, as in etcd.
 *
 * `members` are the ids the snapshot's configuration holds; the committed entries after it add to or take from
 * that set. Returns the entries to append after `commit` (indexes commit+1…, all in `term`).
 */
export function standaloneEntries(opts: {
  self: { id: bigint; name: string; peerURLs: readonly string[] };
  members: readonly bigint[];
  committed: readonly WalEntry[];
  commit: number;
  term: number;
}): { entries: WalEntry[]; removed: bigint[] } {
  const ids = new Set(opts.members);
  for (const e of opts.committed) {
    if (e.type !== EntryType.ConfChange || e.index > opts.commit) continue;
    const cc = decodeConfChange(e.data);
    if (cc.type === ConfChangeType.RemoveNode) ids.delete(cc.nodeId);
    else if (cc.type === ConfChangeType.AddNode || cc.type === ConfChangeType.AddLearnerNode) ids.add(cc.nodeId);
  }
  const removed = [...ids].filter((id) => id !== opts.self.id).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const changes: ConfChange[] = removed.map((nodeId) => ({ type: ConfChangeType.RemoveNode, nodeId, context: new Uint8Array(0) }));
  if (!ids.has(opts.self.id)) {
    const member = { id: opts.self.id, name: opts.self.name, peerUrls: [...opts.self.peerURLs], clientUrls: [], isLearner: false };
    changes.push({ type: ConfChangeType.AddNode, nodeId: opts.self.id, context: new Uint8Array(internalpb.ConfChangeContext.encode({ requestId: 0n, member })) });
  }
  const entries = changes.map((cc, i) => ({ term: opts.term, index: opts.commit + 1 + i, type: EntryType.ConfChange, data: encodeConfChange(cc) }));
  return { entries, removed };
}
