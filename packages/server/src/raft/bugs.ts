/**
 * The bug zoo: known Raft bugs that can be switched back on, one at a time, through `Config.bugs`.
 *
 * They exist so that the checkers can be shown to fail (STYLE.md rule 10): the deterministic simulator must catch
 * every bug listed here within a bounded number of seeds, and a test proves it. Production configs never set `bugs`;
 * each switch costs one boolean test on its path.
 */
export const BUG_NAMES = [
  'commit-old-term-by-counting',
  'double-vote',
  'truncate-on-stale-append',
  'read-index-before-term-commit',
  'skip-fsync-flag',
  'read-index-without-heartbeat',
  'removed-leader-keeps-leading',
  'vote-ignores-log',
  'accept-stale-term-append',
  'forwarded-read-without-quorum',
  'commit-only-append-unmatched',
] as const;

export type BugName = (typeof BUG_NAMES)[number];

/** What each bug does and what it breaks. */
export const BUG_DESCRIPTIONS: Readonly<Record<BugName, string>> = {
  'commit-old-term-by-counting':
    'the leader commits an entry of an earlier term as soon as a majority stores it (Raft paper §5.4.2, Figure 8): a later leader may overwrite it',
  'double-vote': 'a node grants its vote to a second candidate in the same term: two leaders in one term',
  'truncate-on-stale-append':
    'a follower replaces everything after the append point with the entries of a MsgApp even when they match, so a delayed or duplicated append erases acknowledged entries',
  'read-index-before-term-commit':
    'a new leader answers ReadIndex before it has committed an entry of its own term, with a commit index that may lag the previous leader (etcd#7331)',
  'skip-fsync-flag': 'Ready.mustSync is always false, so entries and votes are acknowledged before they are durable',
  'read-index-without-heartbeat':
    'the leader answers ReadIndex from its own commit index without confirming with a heartbeat round that it is still the leader: a deposed leader serves stale reads',
  'removed-leader-keeps-leading':
    'a leader that applies its own removal keeps leading (StepDownOnRemoval ignored): it heartbeats the cluster but drops every proposal, so nothing commits',
  'vote-ignores-log': "a node grants votes without checking that the candidate's log is at least as up to date as its own",
  'accept-stale-term-append': 'a node appends entries from a MsgApp of an older term, so a deposed leader overwrites the log',
  'forwarded-read-without-quorum':
    "the leader answers a follower's forwarded ReadIndex at once whatever the cluster size, as if leader and requester were a quorum: with 5 members, a deposed leader and one follower in a minority serve stale reads",
  'commit-only-append-unmatched':
    "the leader marks an empty append as commit-only while the follower's answer to earlier entries is still outstanding: when that answer is lost, nothing makes the follower repeat its match, a full flow-control window never reopens, and commits that need the follower stall",
};

/** Whether `name` is a known bug name. */
export function isBugName(name: string): name is BugName {
  return (BUG_NAMES as readonly string[]).includes(name);
}
