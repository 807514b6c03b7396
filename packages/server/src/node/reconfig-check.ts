import type { EtcdErrorName } from '@latchkey/proto';

/**
 * etcd's --strict-reconfig-check (on by default): a membership change is refused when it could leave the cluster
 * without a quorum. Two facts decide it:
 *  - *started* voters: those that have published their name (a member that was added but never ran has none);
 *  - *connected* voters: those the deciding view has heard from without a break for `HEALTH_INTERVAL_MS`.
 * The rules, as etcd 3.4 applies them (`mayAddMember`, `mayRemoveMember`, `mayPromoteMember`):
 *  - add a voter: after the add, started voters must be a quorum (except a single-member cluster adding its
 *    second), else MemberNotEnoughStarted; and every voter must be connected, else Unhealthy;
 *  - add a learner: always allowed;
 *  - remove a voter: the started voters left must be a quorum of those left, else MemberNotEnoughStarted; removing
 *    a voter that is not connected is then allowed (it is no part of the active quorum); otherwise the connected
 *    voters minus the one removed must be a quorum of the current voters, else Unhealthy;
 *  - remove a learner: always allowed;
 *  - promote a learner: counting it as started, started voters must be a quorum of voters + 1.
 * Pure: the caller gathers the view (see `ReconfigView`).
 */

export const HEALTH_INTERVAL_MS = 5000;

export interface ReconfigView {
  /** The current voters; `started`: the member has published its name. */
  readonly voters: readonly { id: bigint; started: boolean }[];
  /** The member whose connections the view describes (always counted as connected). */
  readonly viewer: bigint;
  /** For how long the viewer has been connected to a peer, ms (0 or absent: not connected). */
  readonly connectedForMs: ReadonlyMap<bigint, number>;
}

function connected(view: ReconfigView, id: bigint): boolean {
  return id === view.viewer || (view.connectedForMs.get(id) ?? 0) >= HEALTH_INTERVAL_MS;
}

const quorum = (n: number): number => Math.floor(n / 2) + 1;

export function checkAddVoter(view: ReconfigView): EtcdErrorName | undefined {
  const members = view.voters.length + 1;
  const started = view.voters.filter((v) => v.started).length;
  if (!(started === 1 && members === 2) && started < quorum(members)) return 'MemberNotEnoughStarted';
  if (!view.voters.every((v) => connected(view, v.id))) return 'Unhealthy';
  return undefined;
}

export function checkRemoveVoter(view: ReconfigView, id: bigint): EtcdErrorName | undefined {
  const rest = view.voters.filter((v) => v.id !== id);
  if (rest.filter((v) => v.started).length < quorum(rest.length)) return 'MemberNotEnoughStarted';
  // A voter the viewer is not connected to at all is down: removing it cannot break the active quorum.
  if (id !== view.viewer && (view.connectedForMs.get(id) ?? 0) === 0) return undefined;
  // As etcd: the removed voter is subtracted even if it has been connected for less than HEALTH_INTERVAL_MS.
  const active = view.voters.filter((v) => connected(view, v.id)).length;
  return active - 1 < quorum(view.voters.length - 1) ? 'Unhealthy' : undefined;
}

export function checkPromote(view: ReconfigView): EtcdErrorName | undefined {
  const members = view.voters.length + 1;
  const started = view.voters.filter((v) => v.started).length + 1;
  return started < quorum(members) ? 'MemberNotEnoughStarted' : undefined;
}
